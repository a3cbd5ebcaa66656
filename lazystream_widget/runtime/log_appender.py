"""Appending items to one queue log of the file backend: the streaming hot path (once per token).

An item is one framed record (``framing.py``) written with one ``write()`` to the log opened
with ``O_APPEND``: the kernel serializes appends to a regular file, so items from many threads
and processes never interleave, and writers never lock.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..limits import DELETED_SESSION_CHECK_S
from .descriptors import QueueHandle
from .framing import _HEAD, _HEAD_CRC, MAGIC, MAX_ITEM_BYTES, frame
from .homedir import write_all

if TYPE_CHECKING:
    from .filestore import FileBackend


def make_appender(backend: FileBackend, session_id: str, queue: str) -> Callable[[bytes], None]:
    """Appends items to one queue with everything bound once: the streaming hot path.

    ``append(item)`` is one frame and one ``write``; ``append.end()`` is the "read up to here" mark
    of what this process appended so far (our pool waits for it, once per task: see ``runtime/pool.py``),
    so no ``lseek`` per item. A closure, not a class: a call is cheaper, and it runs once per token.

    It is as safe as :meth:`FileBackend.append`: it keeps the queue's cached handle between calls but
    marks it in use for each write (the descriptor cache never closes a handle in use, and one evicted
    meanwhile is given up, never written to), and at least every ``DELETED_SESSION_CHECK_S`` it goes
    through :meth:`FileBackend._queue`, which checks that the session's files still exist (raising
    :class:`SessionClosedError` once they were deleted). Items never land in a deleted session's files
    for longer than that check interval, as with ``append``.
    """
    crc32, head12, head4, magic, write, monotonic = (
        zlib.crc32, _HEAD.pack, _HEAD_CRC.pack, MAGIC, os.write, time.monotonic)
    signals, check_every, get_queue, release = (
        backend._signals, DELETED_SESSION_CHECK_S, backend._queue, backend._release_queue)
    held: list[QueueHandle | None] = [None]  # the handle the last write used (not in use between calls)

    def acquire() -> QueueHandle:
        h = held[0]
        if h is not None:
            h.users.append(None)  # in use first, then the look at "evicted" (descriptors.py)
            if not h.evicted and monotonic() - h.checked_at <= check_every:
                return h
            release(h)
        h = held[0] = get_queue(session_id, queue)  # reopens, or checks the files still exist
        return h

    def append(item: bytes) -> None:
        size = len(item)
        if size > MAX_ITEM_BYTES:
            frame(item)  # raises the error that says what to do
        crc = crc32(item)
        head = head12(magic, size, crc)
        data = head + head4(crc32(head)) + item
        # acquire() inlined (this runs once per token): the held handle, marked in use, unless it was
        # evicted or is due for its "do the files still exist?" check
        h = held[0]
        if h is None:
            h = acquire()
        else:
            users = h.users
            users.append(None)
            if h.evicted or monotonic() - h.checked_at > check_every:
                release(h)
                h = held[0] = get_queue(session_id, queue)
        try:
            written = write(h.log_fd, data)  # one write() is one atomic append
            if written != len(data):  # cut short (a signal, a full disk): finish it, no longer atomic
                write_all(h.log_fd, data[written:])
        finally:
            # release() inlined: first give the handle back, then look at "evicted" (descriptors.py); an
            # evicted one goes through the cache's release (in use again for that call), which closes it
            # if no one else uses it
            h.users.pop()
            if h.evicted:
                h.users.append(None)
                release(h)
        sig = signals.get(session_id)  # made by the first waiter: none, no one to wake
        if sig is not None and sig.waiters:
            sig.bump()

    def end() -> int:
        # the descriptor's offset is at the end of our last record, or past it when another
        # thread appended since: either way a safe "wait until read up to here" mark
        h = acquire()
        try:
            return os.lseek(h.log_fd, 0, os.SEEK_CUR)
        finally:
            release(h)

    append.end = end  # type: ignore[attr-defined]
    return append

