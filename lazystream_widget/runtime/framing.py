"""The record format of a queue log: framing, parsing, resynchronising and counting.

A record is a 16-byte header ``magic | length | crc32(payload) | check`` followed by the payload.
The reader checks the header before trusting the length and the payload before
delivering it, and resynchronises on the next magic when a check fails, so a torn
or damaged record is never delivered. Every byte jumped over that way is *counted*
(``skipped``): the backend reports it (a trace entry and a log warning) instead of
losing an item silently.

Two versions are read; writers write the second.

* ``LSQ\x01``: ``check`` is the crc32 of the first 12 header bytes.
* ``LSQ\x02``: ``check`` is :func:`header_check` of the length, a redundant encoding of it computed
  with two small-integer operations instead of a second crc32 (and a second ``struct`` pack and
  concatenation): about a tenth of a token's append (``docs/benchmarks.md``, "The file queue").
  What a header check must protect is the length, which a reader trusts before it has the payload
  (it waits for that many bytes, or skips to a later intact record). The check is an injection of the
  length, so a damaged length or check word is always caught; random bytes after a magic (say, when
  resynchronising inside a payload) pass with odds of 2^-32; and a damaged payload crc word, or a
  header cut short and completed by the next record's bytes, is caught by the payload's crc32, which
  every record must match before it is delivered (as with the first version, the reader then skips
  and counts the bytes).
"""

from __future__ import annotations

import os
import struct
import zlib
from typing import NamedTuple

from ..limits import DEQUEUE_READ_CHUNK

MAGIC = b"LSQ\x02"  # what writers write
MAGIC_V1 = b"LSQ\x01"  # still read: files written before the cheaper header check
MAGIC_PREFIX = b"LSQ"  # common to every version: what resynchronising looks for
_HEAD = struct.Struct("<4sII")  # magic, payload length, payload crc32
_HEAD_CRC = struct.Struct("<I")  # the header check
_HEADER = struct.Struct("<4sIII")  # the whole header, packed or unpacked at once
HEADER_SIZE = _HEADER.size
#: The largest item accepted, a bound on what a corrupt length could make a reader wait for.
MAX_ITEM_BYTES = 64 * 1024 * 1024

#: :func:`header_check`'s constants: an odd multiplier small enough that ``length * CHECK_MUL + CHECK_ADD``
#: stays under 2^32 for every allowed length (an injection of the length, and a flipped length bit changes
#: several check bits, so the same bits flipped in the length and the check do not cancel), kept to the
#: integers Python computes without its big-number path; the addend so that a header of zeros after the
#: magic is not intact
CHECK_MUL = 61
CHECK_ADD = 0x2F1B


def header_check(length: int) -> int:
    """The ``LSQ\x02`` header check of a record whose payload has ``length`` bytes.

    The writer's hot path inlines it (``log_appender.py``): keep both in step (``tests/test_framing.py``).
    """
    return length * CHECK_MUL + CHECK_ADD


def intact_length(buf: bytes | memoryview, pos: int = 0) -> int:
    """The payload length the header at ``buf[pos:]`` declares if it is an intact header of either version,
    else -1 (``buf`` holds at least HEADER_SIZE bytes from ``pos``)."""
    magic, length, crc, check = _HEADER.unpack_from(buf, pos)
    if length > MAX_ITEM_BYTES:
        return -1
    if magic == MAGIC:
        return length if check == length * CHECK_MUL + CHECK_ADD else -1
    if magic == MAGIC_V1:
        return length if check == zlib.crc32(buf[pos : pos + _HEAD.size]) else -1
    return -1


class Parsed(NamedTuple):
    items: list[bytes]
    used: int  # bytes consumed from the buffer (items, plus skipped bytes)
    skipped: int  # bytes jumped over because they were not an intact record
    taken: int  # payload bytes in ``items``
    last: int  # size of the record that ends at ``used`` (0 if skipped bytes end there)


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_ITEM_BYTES:
        raise ValueError(
            f"queue item of {len(payload)} bytes is over the {MAX_ITEM_BYTES}-byte limit; "
            "send large data by reference (a file path) instead"
        )
    size, crc = len(payload), zlib.crc32(payload)
    return _HEADER.pack(MAGIC, size, crc, header_check(size)) + payload


def frame_v1(payload: bytes) -> bytes:
    """A record of the first version (``LSQ\x01``): what files written before the cheaper check hold."""
    head = _HEAD.pack(MAGIC_V1, len(payload), zlib.crc32(payload))
    return head + _HEAD_CRC.pack(zlib.crc32(head)) + payload


def parse_records(buf: bytes, limit: int | None = None, budget: int | None = None) -> Parsed:
    """Parse complete, intact records from ``buf``.

    Stops after ``limit`` items, or once the payload bytes taken reach ``budget`` (the record
    that crosses it is still taken, so a call always makes progress), or at an incomplete
    record at the end (a write still in progress, or the torn tail of a dead writer, which
    stays unread until a later record lets us skip it).
    """
    items: list[bytes] = []
    view = memoryview(buf)
    pos, end, skipped, taken, last = 0, len(buf), 0, 0, 0
    while end - pos >= HEADER_SIZE and (limit is None or len(items) < limit) and (budget is None or taken < budget):
        length = intact_length(view, pos)
        if length < 0:
            nxt = _resync(buf, pos + 1)
            skipped += nxt - pos
            pos, last = nxt, 0
            continue
        if end - pos - HEADER_SIZE < length:
            # Incomplete. Appends are atomic, so nothing can follow a write still in progress:
            # an intact record after it means this one is torn and will never complete.
            nxt = next_intact_record(buf, pos + HEADER_SIZE)
            if nxt < 0:
                break  # in progress, or torn with nothing intact after it yet
            skipped += nxt - pos
            pos, last = nxt, 0
            continue
        payload = bytes(view[pos + HEADER_SIZE : pos + HEADER_SIZE + length])
        if zlib.crc32(payload) != _HEAD.unpack_from(view, pos)[2]:
            nxt = _resync(buf, pos + 1)  # a damaged payload, or a torn record followed by later ones
            skipped += nxt - pos
            pos, last = nxt, 0
            continue
        items.append(payload)
        taken += length
        last = HEADER_SIZE + length
        pos += last
    return Parsed(items, pos, skipped, taken, last)


def unframe(buf: bytes, limit: int | None = None) -> tuple[list[bytes], int]:
    """Intact records of ``buf`` and the bytes consumed (see :func:`parse_records`)."""
    parsed = parse_records(buf, limit)
    return parsed.items, parsed.used


def _resync(buf: bytes, start: int) -> int:
    found = buf.find(MAGIC_PREFIX, start)
    if found < 0:
        # keep the last bytes: a record may be starting there
        return max(start, len(buf) - len(MAGIC_PREFIX) + 1)
    return found


def next_intact_record(buf: bytes, start: int) -> int:
    """Offset of the first complete record with intact checksums at or after ``start``, or -1."""
    view = memoryview(buf)
    found = buf.find(MAGIC_PREFIX, start)
    while found >= 0:
        size = declared_record_size(view[found : found + HEADER_SIZE])
        if size and found + size <= len(buf):
            if zlib.crc32(view[found + HEADER_SIZE : found + size]) == _HEAD.unpack_from(buf, found)[2]:
                return found
        found = buf.find(MAGIC_PREFIX, found + 1)
    return -1


def next_intact_record_in_file(fd: int, start: int, size: int) -> int:
    """Offset of the first intact record after ``start`` in the first ``size`` bytes of the log, or -1.

    Reads a chunk at a time; chunks overlap by a header so a record starting across a boundary is seen.
    """
    pos = start + 1
    while pos < size:
        buf = os.pread(fd, min(size - pos, DEQUEUE_READ_CHUNK), pos)
        found = buf.find(MAGIC_PREFIX)
        while found >= 0:
            need = declared_record_size(buf[found : found + HEADER_SIZE])
            if need and pos + found + need <= size:
                payload = os.pread(fd, need - HEADER_SIZE, pos + found + HEADER_SIZE)
                if zlib.crc32(payload) == _HEAD.unpack_from(buf, found)[2]:
                    return pos + found
            found = buf.find(MAGIC_PREFIX, found + 1)
        if pos + len(buf) >= size:
            break
        pos += max(1, len(buf) - HEADER_SIZE)
    return -1


def declared_record_size(buf: bytes) -> int:
    """Size of the record starting ``buf`` if its header is intact, else 0."""
    if len(buf) < HEADER_SIZE:
        return 0
    length = intact_length(buf)
    return 0 if length < 0 else HEADER_SIZE + length


def payload_crc(header: bytes) -> int:
    """The payload checksum a valid header declares."""
    return _HEAD.unpack_from(header)[2]


def count_records(fd: int, start: int, size: int) -> int:
    """How many records with intact headers lie between ``start`` and ``size``, without reading payloads.

    Walks the headers (memory: one read chunk); bytes that are not an intact header are
    skipped as a read would skip them. A record whose payload is damaged is counted until
    a read finds it (and reports it). An incomplete last record is not counted.
    """
    count, pos = 0, start
    while size - pos >= HEADER_SIZE:
        buf = os.pread(fd, min(size - pos, DEQUEUE_READ_CHUNK), pos)
        i = 0
        while len(buf) - i >= HEADER_SIZE:
            need = declared_record_size(buf[i : i + HEADER_SIZE])
            if not need:
                found = buf.find(MAGIC_PREFIX, i + 1)
                i = found if found >= 0 else max(i + 1, len(buf) - len(MAGIC_PREFIX) + 1)
                continue
            if pos + i + need > size:
                # incomplete: a write in progress, or a torn record a read skips if an intact one follows
                nxt = next_intact_record_in_file(fd, pos + i, size)
                if nxt < 0:
                    return count
                i = nxt - pos
                continue
            count += 1
            i += need
        if i == 0:
            break
        pos += i
        del buf  # one chunk in memory at a time
    return count
