"""Reading a queue log under the consumer lock: where to start, and one bounded batch of records.

A batch stops after ``limit`` items or once about ``budget`` payload bytes were taken
(always at least one item), so one ``dequeue()`` never materialises more than the
budget plus one item; the rest stays for the next call. A record larger than a read
chunk is read on its own, without a second copy. Bytes that are not an intact record
are skipped and counted; the caller reports them.
"""

from __future__ import annotations

import json
import os
import threading
import zlib

import filelock

from ..limits import DEQUEUE_MAX_BYTES, DEQUEUE_READ_CHUNK, READ_PEEK_BYTES
from . import positions
from .framing import (
    HEADER_SIZE,
    MAGIC_PREFIX,
    declared_record_size,
    next_intact_record_in_file,
    parse_records,
    payload_crc,
    unframe,
)


class ConsumerLock:
    """The in-process mutex, then ``flock`` on the queue's lock file: one consumer of a queue at a time."""

    __slots__ = ("mutex", "fd")

    def __init__(self, mutex: threading.Lock, lock_fd: int) -> None:
        self.mutex = mutex
        self.fd = lock_fd

    def __enter__(self) -> None:
        self.mutex.acquire()  # in-process consumers queue here, not on flock's poll sleep
        try:
            filelock.lock_descriptor(self.fd, poll_interval=0.001)
        except BaseException:
            self.mutex.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            filelock.unlock_descriptor(self.fd)
        finally:
            self.mutex.release()


def read_position(off_fd: int, lock_fd: int, log_fd: int, size: int) -> tuple[int, positions.Recovery | None]:
    """The read position (see ``positions.py``), recovered if damaged. Call under the consumer lock."""
    primary, primary_empty = positions.read_record(off_fd)
    if primary is not None and not primary_empty and primary.value <= size:
        chosen, recovery = primary, None
    else:
        mirror, mirror_empty = positions.read_record(lock_fd)
        chosen, recovery = positions.resolve(primary, primary_empty, mirror, mirror_empty, size)
    if chosen.value and positions.fingerprint(log_fd, chosen.value, chosen.last) != chosen.tail:
        return 0, positions.restart(
            f"the log before the read position ({chosen.value}) is not what was read: it was truncated and written "
            "again, or damaged", position=chosen.value, log_bytes=size)
    return chosen.value, recovery


def commit(off_fd: int, lock_fd: int, log_fd: int, position: int, last: int, *, repair: bool) -> None:
    """Store the position in both copies (the mirror second), with the log's fingerprint before it."""
    record = positions.Record(position, last, positions.fingerprint(log_fd, position, last))
    positions.write_record(off_fd, record, repair=repair)
    positions.write_record(lock_fd, record, repair=repair)


def take(log_fd: int, start: int, limit: int | None, budget: int) -> tuple[list[bytes], int, int, int]:
    """Intact records from ``start``: (items, the position after them, the size of the record ending there
    (0 if skipped bytes do), bytes skipped on the way)."""
    items: list[bytes] = []
    off, taken, skipped, last = start, 0, 0, 0
    while (limit is None or len(items) < limit) and taken < budget:
        # A look at a small window first: most reads (a runner's pump, every frame) find a few small
        # records or none, and a short read says at once where the log ends, with no ``fstat`` before
        # and after (three system calls per read were one; each lets go of the GIL, which a hundred
        # streaming runs fight over). Only a full window asks the log's size and reads up to a chunk.
        buf = os.pread(log_fd, READ_PEEK_BYTES, off)
        if not buf:
            break
        at_end = len(buf) < READ_PEEK_BYTES  # the log ended inside the window when it was read
        if at_end:
            size = off + len(buf)
        else:
            size = os.fstat(log_fd).st_size
            if size - off > len(buf):
                buf = os.pread(log_fd, min(size - off, DEQUEUE_READ_CHUNK), off)
        need = declared_record_size(buf)
        if need > len(buf) and size - off >= need:
            # one record larger than a chunk: read its payload alone (no second copy of it)
            payload = os.pread(log_fd, need - HEADER_SIZE, off + HEADER_SIZE)
            if zlib.crc32(payload) == payload_crc(buf):
                items.append(payload)
                taken += len(payload)
                off += need
                last = need
                continue
            nxt = next_intact_record_in_file(log_fd, off, size)
            nxt = nxt if nxt > 0 else off + need  # damaged: skip it (a complete length cannot be in progress)
            skipped += nxt - off
            off, last = nxt, 0
            continue
        parsed = parse_records(buf, None if limit is None else limit - len(items), budget - taken)
        items.extend(parsed.items)
        taken += parsed.taken
        skipped += parsed.skipped
        off += parsed.used
        if parsed.used:
            last = parsed.last
        if at_end and off >= size:
            break  # all the log held when it was read: asking again would find the end (or a later append)
        if parsed.used == 0:
            # stuck on an incomplete record: if the file holds more than this chunk, the record
            # may be a torn one followed by intact records beyond the chunk (a large item cut by
            # a kill); skip to the next of them. Nothing can follow a write still in progress.
            if size - off > len(buf) and (nxt := next_intact_record_in_file(log_fd, off, size)) > 0:
                skipped += nxt - off
                off, last = nxt, 0
                continue
            break
    return items, off, last, skipped


def skip_recovery(skipped: int) -> positions.Recovery:
    return positions.Recovery(
        "skip",
        f"{skipped} bytes of the queue log were not an intact record (damaged, or torn by a writer that died) "
        "and were skipped; the items they held are lost",
        {"bytes_skipped": skipped},
    )


def highest_seq(log_fd: int) -> int:
    """The highest ``seq`` of the trace entries in the last read chunk of a log (0 if none)."""
    size = os.fstat(log_fd).st_size
    start = max(0, size - DEQUEUE_READ_CHUNK)
    buf = os.pread(log_fd, size - start, start)
    first = 0 if start == 0 else buf.find(MAGIC_PREFIX)
    highest = 0
    for raw in unframe(buf[max(first, 0) :])[0]:
        try:
            seq = json.loads(raw).get("seq")
        except (ValueError, AttributeError, RecursionError):
            continue
        if isinstance(seq, int) and seq > highest:
            highest = seq
    return highest


class LogReader:
    """``read_from`` over descriptors opened once (see :meth:`FileBackend.open_logs`)."""

    def __init__(self, fds: dict[str, int]) -> None:
        self._fds = fds

    def read_from(self, session_id: str, queue: str, cursor: str, limit: int | None = None) -> tuple[list[bytes], str]:
        fd = self._fds.get(queue)
        if fd is None:
            return [], cursor
        items, end, _last, _skipped = take(fd, int(cursor), limit, DEQUEUE_MAX_BYTES)
        return items, str(end)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}
