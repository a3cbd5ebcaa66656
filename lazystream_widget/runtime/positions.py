"""A queue's read position on disk, and what to do when it cannot be trusted.

The consumer's position (how far into the log it has read) is a 24-byte record,
``magic | offset | size of the last record | fingerprint | crc32``, kept in the
queue's ``.off`` file and mirrored in its ``.lock`` file (which the consumer holds
open anyway). Each commit writes both, so one damaged copy is recovered exactly from
the other. The fingerprint is the crc32 of the header of the record just before the
position (the header holds that record's length and its payload's checksum) and of that
record's last payload bytes: if it
changes, the log was rewritten under the position (truncated and written again, or
damaged), and the position no longer means what it meant.

Recovery states (each is reported in the session's trace and the
``lazystream_widget.queue`` log, never silent; see ``docs/reliability.md``):

``mirror``
    The ``.off`` record is damaged (short, bad checksum, erased) and the mirror is
    intact: reading goes on exactly where it was. Nothing lost, nothing repeated.
``restart``
    The position cannot be trusted: it is past the end of the log (the log was
    truncated), the log's bytes before it changed, or both copies are damaged.
    Reading restarts at the start of the log: items still in it are delivered again
    rather than lost, and the report says so.
``skip``
    Bytes after the position are not an intact record (flipped bytes, a torn write,
    a cut in the middle of a record): they are skipped up to the next intact record.
    The items they held are lost; the report says how many bytes.
``seq``
    The session's trace sequence counter (same record format) was damaged or erased:
    numbering goes on after the highest number found in the trace log.

Not detectable, by design: both copies erased to empty files (that looks like a queue
never read: reading starts at the beginning); a log cut exactly between two records
above the position (what is left is a valid, shorter log); and a log truncated and
written again with a byte-identical record ending exactly at the position (the same
item again).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .framing import HEADER_SIZE

_RECORD = struct.Struct("<4sQIII")  # magic, value, last record's size, fingerprint, crc32 of the 20 bytes before
POSITION_MAGIC = b"LSP3"
SEQ_MAGIC = b"LSN3"
RECORD_SIZE = _RECORD.size
#: When the position does not follow a record (it follows skipped bytes), the fingerprint covers this many bytes.
TAIL_BYTES = 32


class Record(NamedTuple):
    value: int
    last: int = 0  # size of the record that ends at ``value`` (0: the position follows skipped bytes, or is 0)
    tail: int = 0  # fingerprint of the log before ``value`` (see :func:`fingerprint`)


def encode(record: Record, magic: bytes = POSITION_MAGIC) -> bytes:
    body = struct.pack("<4sQII", magic, *record)
    return body + struct.pack("<I", zlib.crc32(body))


def decode(raw: bytes, magic: bytes = POSITION_MAGIC) -> Record | None:
    """The record; ``Record(0)`` for an empty file (never written); None if damaged."""
    if not raw:
        return Record(0)
    if len(raw) != RECORD_SIZE:
        return None
    got, value, last, tail, crc = _RECORD.unpack(raw)
    if got != magic or crc != zlib.crc32(raw[:20]):
        return None
    return Record(value, last, tail)


def read_record(fd: int, magic: bytes = POSITION_MAGIC) -> tuple[Record | None, bool]:
    """(the record, or None if damaged; whether the file was empty)."""
    raw = os.pread(fd, RECORD_SIZE + 1, 0)  # one byte more: a longer file is damaged too
    return decode(raw, magic), not raw


def write_record(fd: int, record: Record, magic: bytes = POSITION_MAGIC, *, repair: bool = False) -> None:
    """Write the record; ``repair``: also cut a damaged file's extra bytes."""
    os.pwrite(fd, encode(record, magic), 0)
    if repair:
        os.ftruncate(fd, RECORD_SIZE)


def fingerprint(log_fd: int, position: int, last: int) -> int:
    """What the log looked like just before ``position``: changes if the log was rewritten under the position.

    After a record (``last`` > 0): the crc32 of that record's header, which holds its length and its payload's
    checksum, so any other record there (another item, or the same item cut) gives another fingerprint. After
    skipped bytes: the crc32 of the TAIL_BYTES before the position.
    """
    if position <= 0:
        return 0
    if 0 < last <= position:
        # the header's first 12 bytes (magic, length, payload crc; not all 16: a crc over data followed by its
        # own crc32 is the same constant for every record), then the last TAIL_BYTES of the record's payload.
        # The header alone survives a cut just after it: the log truncated inside the record and written
        # again read as unchanged, and the reader waited at the old position in the middle of a new record.
        start = position - last
        tail_from = max(start + HEADER_SIZE, position - TAIL_BYTES)
        if tail_from == start + HEADER_SIZE:  # a small record (a token): one read of all of it
            raw = os.pread(log_fd, last, start)
            return zlib.crc32(raw[HEADER_SIZE:], zlib.crc32(raw[:12]))
        return zlib.crc32(os.pread(log_fd, position - tail_from, tail_from), zlib.crc32(os.pread(log_fd, 12, start)))
    start = max(0, position - TAIL_BYTES)
    return zlib.crc32(os.pread(log_fd, position - start, start))


@dataclass
class Recovery:
    """What a read found damaged and what it did about it (reported by the backend)."""

    action: str  # "mirror", "restart" or "skip"
    message: str
    attrs: dict[str, Any] = field(default_factory=dict)


def resolve(primary: Record | None, primary_empty: bool, mirror: Record | None, mirror_empty: bool,
            size: int) -> tuple[Record, Recovery | None]:
    """Where to read from, given both copies and the log's size, and the recovery made (if any).

    The caller still checks the chosen record's fingerprint against the log (``restart`` if it differs).
    """
    if primary is not None and not primary_empty and primary.value <= size:
        return primary, None
    if primary_empty and mirror_empty:
        return Record(0), None  # never read yet
    if mirror is not None and not mirror_empty and mirror.value <= size:
        what = "erased" if primary_empty else "damaged"
        return mirror, Recovery(
            "mirror",
            f"the read position file was {what}; recovered it exactly from its mirror (nothing lost or repeated)",
            {"position": mirror.value},
        )
    if primary is not None and not primary_empty:
        return Record(0), restart(
            f"the log ({size} bytes) is shorter than the read position ({primary.value}): it was truncated or the "
            "position rewritten", position=primary.value, log_bytes=size)
    return Record(0), restart("the read position is damaged in both copies", log_bytes=size)


def restart(why: str, **attrs: Any) -> Recovery:
    return Recovery("restart", f"{why}; reading restarts at the start of the log, so items it still holds may be "
                               "delivered again", attrs)
