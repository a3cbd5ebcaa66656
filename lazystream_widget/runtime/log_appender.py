"""Appending items to one queue log of the file backend: the streaming hot path (once per token).

An item is one framed record (``framing.py``) written with one ``write()`` to the log opened
with ``O_APPEND``: the kernel serializes appends to a regular file, so items from many threads
and processes never interleave, and writers never lock.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..limits import DELETED_SESSION_CHECK_S
from .descriptors import QueueHandle
from .framing import _HEAD, _HEAD_CRC, HEADER_SIZE, MAGIC, MAX_ITEM_BYTES, frame
from .homedir import write_all

if TYPE_CHECKING:
    from .filestore import FileBackend


def make_appender(backend: FileBackend, session_id: str, queue: str, counted: bool) -> Callable[[str], int]:
    """Appends text items to one queue with everything bound once: the streaming hot path (once per token).

    ``append(text)`` is an encode, one frame and one ``write``; with ``counted`` (the answer and thinking
    queues, ``runtime/text_offsets.py``) it returns where ``text`` starts in the queue's stream, counted in
    characters by this process (the count and the write happen under one lock, so the counted order is the
    queue's order), else 0. The backend makes one appender per queue and process (so every writer shares
    its count and lock).
    ``append.end()`` is the "read up to here" mark of what this process appended so far (our pool waits
    for it, once per task: see ``runtime/pool.py``), so no ``lseek`` per item. A closure, not a class:
    a call is cheaper, and every name it uses is bound once (closure cells, no attribute lookups).

    It is as safe as :meth:`FileBackend.append`: it keeps the queue's cached handle between calls but
    marks it in use for each write (the descriptor cache never closes a handle in use, and one evicted
    meanwhile is given up, never written to), and at least every ``DELETED_SESSION_CHECK_S`` it goes
    through :meth:`FileBackend._queue`, which checks that the session's files still exist (raising
    :class:`SessionClosedError` once they were deleted). Items never land in a deleted session's files
    for longer than that check interval, as with ``append``.
    """
    crc32, head12, head4, magic, write, monotonic = (
        zlib.crc32, _HEAD.pack, _HEAD_CRC.pack, MAGIC, os.write, time.monotonic)
    check_every, get_queue, release, signal_of = (
        DELETED_SESSION_CHECK_S, backend._queue, backend._release_queue, backend._signal)
    lock = threading.Lock()
    lock_acquire, lock_release = lock.acquire, lock.release
    # Closure cells, read once per call: the characters appended so far (under the lock), the handle the
    # last write used (not in use between calls), the monotonic time after which the next write goes
    # through get_queue again (the "do the files still exist?" check), and the session's wake-up signal
    # (looked up again at each of those checks, so one replaced meanwhile is followed within the interval).
    chars = 0
    held: QueueHandle | None = None
    due = 0.0
    signal = signal_of(session_id)

    def reacquire(used: QueueHandle | None) -> QueueHandle:
        """The queue's handle through the checked path, in use; ``used`` (in use by this call) is given back."""
        nonlocal held, due, signal
        if used is not None:
            release(used)
        h = held = get_queue(session_id, queue)  # reopens, or checks the files still exist
        due = h.checked_at + check_every  # get_queue returns a handle checked at most check_every ago
        signal = signal_of(session_id)
        return h

    def append(text: str) -> int:
        nonlocal chars
        try:
            item = text.encode()
        except UnicodeEncodeError:  # lone surrogates travel as they are (decoded the same way)
            item = text.encode("utf-8", "surrogatepass")
        size = len(item)
        if size > MAX_ITEM_BYTES:
            frame(item)  # raises the error that says what to do
        crc = crc32(item)
        head = head12(magic, size, crc)
        data = head + head4(crc32(head)) + item
        # the held handle, marked in use first, then the look at "evicted" (descriptors.py); through the
        # checked path when it was evicted or is due for its check
        h = held
        if h is None:
            h = reacquire(None)
        else:
            h.users.append(None)
            if h.evicted or monotonic() > due:
                h = reacquire(h)
        try:
            lock_acquire()
            try:
                written = write(h.log_fd, data)  # one write() is one atomic append
                if written != size + HEADER_SIZE:  # cut short (a signal, a full disk): finish it, no longer atomic
                    write_all(h.log_fd, data[written:])
                start = chars
                chars = start + len(text)
            finally:
                lock_release()
        finally:
            # give the handle back, then look at "evicted" (descriptors.py); an evicted one goes through the
            # cache's release (in use again for that call), which closes it if no one else uses it
            h.users.pop()
            if h.evicted:
                h.users.append(None)
                release(h)
        if signal.waiters:  # someone in this process waits in an empty dequeue(): wake it
            signal.bump()
        return start if counted else 0

    def end() -> int:
        # the descriptor's offset is at the end of our last record, or past it when another
        # thread appended since: either way a safe "wait until read up to here" mark. A handle
        # opened since our last write (the cache evicted ours) is still at offset 0: then the
        # file's size is the mark (it is past our records too)
        h = get_queue(session_id, queue)
        try:
            return os.lseek(h.log_fd, 0, os.SEEK_CUR) or os.fstat(h.log_fd).st_size
        finally:
            release(h)

    append.end = end  # type: ignore[attr-defined]
    return append
