"""A queue's read position on disk, and what to do when it cannot be trusted.

The consumer's position (how far into the log it has read) is a 16-byte record,
``magic | offset | crc32``, kept in the queue's ``.off`` file and mirrored in its
``.lock`` file (which the consumer holds open anyway). Each commit writes both, so
one damaged copy is recovered exactly from the other.

Recovery states (documented in ``docs/reliability.md``; each is reported in the
session's trace and the ``lazystream_widget.queue`` log, never silent):

``mirror``
    The ``.off`` record is damaged (short, bad checksum, erased) and the mirror is
    intact: reading goes on exactly where it was. Nothing lost, nothing repeated.
``restart``
    The position is past the end of the log (the log was truncated, or the position
    rewritten), or both copies are damaged: the position cannot be trusted, so reading
    restarts at the start of the log. Items still in the log are delivered again
    rather than lost; the report says how many may repeat.
``skip``
    The position, or a record after it, does not hold an intact record (flipped bytes,
    a torn write, a position in the middle of a record): the damaged bytes are skipped
    up to the next intact record. The items they held are lost; the report says how
    many bytes.

Double faults that leave no trace are not detectable: both copies erased to empty
files look like a queue never read (reading starts at the beginning).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

_RECORD = struct.Struct("<4sQI")  # magic, value, crc32(magic + value)
POSITION_MAGIC = b"LSP1"
SEQ_MAGIC = b"LSN1"
RECORD_SIZE = _RECORD.size


def encode(value: int, magic: bytes = POSITION_MAGIC) -> bytes:
    body = struct.pack("<4sQ", magic, value)
    return _RECORD.pack(magic, value, zlib.crc32(body))


def decode(raw: bytes, magic: bytes = POSITION_MAGIC) -> int | None:
    """The value of a record; 0 for an empty file (never written); None if damaged."""
    if not raw:
        return 0
    if len(raw) != RECORD_SIZE:
        return None
    got, value, crc = _RECORD.unpack(raw)
    if got != magic or crc != zlib.crc32(raw[:12]):
        return None
    return value


def read_record(fd: int, magic: bytes = POSITION_MAGIC) -> tuple[int | None, bool]:
    """(value or None if damaged, whether the file was empty)."""
    raw = os.pread(fd, RECORD_SIZE + 1, 0)  # one byte more: a longer file is damaged too
    return decode(raw, magic), not raw


def write_record(fd: int, value: int, magic: bytes = POSITION_MAGIC) -> None:
    data = encode(value, magic)
    os.pwrite(fd, data, 0)
    if os.fstat(fd).st_size != RECORD_SIZE:
        os.ftruncate(fd, RECORD_SIZE)  # a longer (damaged) file: drop its tail


@dataclass
class Recovery:
    """What a read found damaged and what it did about it (reported by the backend)."""

    action: str  # "mirror", "restart" or "skip"
    message: str
    attrs: dict[str, Any] = field(default_factory=dict)


def resolve(primary: int | None, primary_empty: bool, mirror: int | None, mirror_empty: bool,
            size: int) -> tuple[int, Recovery | None]:
    """The position to read from, given both copies and the log's size, and the recovery made (if any)."""
    if primary is not None and not (primary_empty and not mirror_empty):
        if primary <= size:
            return primary, None
        return 0, Recovery(
            "restart",
            f"the log ({size} bytes) is shorter than the read position ({primary}): it was truncated or the "
            "position rewritten; reading restarts at the start of the log, so items it still holds may be "
            "delivered again",
            {"position": primary, "log_bytes": size},
        )
    if mirror is not None and not mirror_empty and mirror <= size:
        what = "erased" if primary_empty else "damaged"
        return mirror, Recovery(
            "mirror",
            f"the read position file was {what}; recovered it exactly from its mirror (nothing lost or repeated)",
            {"position": mirror},
        )
    return 0, Recovery(
        "restart",
        "the read position is damaged in both copies; reading restarts at the start of the log, so items "
        "already read may be delivered again",
        {"log_bytes": size},
    )
