"""Appending items to one queue log of the file backend: the streaming hot path (once per token).

An item is one framed record (``framing.py``) written with one ``write()`` to the log opened
with ``O_APPEND``: the kernel serializes appends to a regular file, so items from many threads
and processes never interleave, and writers take no file lock.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..limits import DELETED_SESSION_CHECK_S
from .descriptors import QueueHandle, take_write_token
from .framing import _HEADER, CHECK_ADD, CHECK_MUL, HEADER_SIZE, MAGIC, MAX_ITEM_BYTES, frame
from .homedir import write_all
from .session import USER_ERRORS, short
from .task_marks import written as task_marks

if TYPE_CHECKING:
    from .filestore import FileBackend

# What every appender uses, bound once at module level: the hot path reads them as specialized globals, which
# costs a call nothing to set up (a closure copies each of its cells into every call's frame, then drops them).
_crc32, _pack_header, _write, _monotonic = zlib.crc32, _HEADER.pack, os.write, time.monotonic
_marks_get = task_marks.get


def not_a_str(message: object) -> TypeError:
    """What ``FileSystemQueue.enqueue`` raises for an item that is not a str."""
    return TypeError(
        f"FileSystemQueue.enqueue() takes a str, got {type(message).__name__}; serialize it first (e.g. json.dumps)"
    )


def make_appender(backend: FileBackend, session_id: str, queue: str, counted: bool) -> Callable[..., int | None]:
    """Appends text items to one queue with everything bound once: the streaming hot path (once per token).

    ``append(text)`` is an encode, one frame and one ``write``, and returns None: it is what
    ``FileSystemQueue.enqueue`` does, and a queue bound to the session uses it *as* its ``enqueue`` (one
    Python call per token: ``queue.py``), so it also refuses a non-str item with the same TypeError, raises
    the user's errors short, and notes the task's "read up to here" mark (``task_marks.py``), once per task.
    ``append(text, True)`` returns where ``text`` starts in the queue's stream: with ``counted`` (the answer
    and thinking queues, ``runtime/text_offsets.py``) counted in characters by this process (the count and
    the write happen holding the handle's write token, so the counted order is the queue's order), else 0.
    The backend makes one appender per queue and process (so every writer shares its count).
    ``append.end()`` is that mark, for what this process appended so far (our pool waits for it, once per
    task: see ``runtime/pool.py``), so no ``lseek`` per item. A closure, not a class: a call is cheaper,
    and every name it uses is bound once (closure cells, no attribute lookups).

    It is as safe as :meth:`FileBackend.append`. It keeps the queue's cached handle between calls and
    writes holding the handle's ``write_token`` (a lock), which is its "in use" mark (``descriptors.py``):
    the descriptor cache takes the token to close the handle, so a write never runs on a closed descriptor,
    and the appender looks at ``evicted`` while it holds it, so it never writes through a handle it has seen
    evicted (it goes back through the cache for the queue's current one). At least every
    ``DELETED_SESSION_CHECK_S`` it goes through :meth:`FileBackend._queue`, which checks that the session's
    files still exist (raising :class:`SessionClosedError` once they were deleted). Items never land in a
    deleted session's files for longer than that check interval, as with ``append``.
    """
    check_every, get_queue, release, signal_of = (
        DELETED_SESSION_CHECK_S, backend._queue, backend._release_queue, backend._signal)
    key = (session_id, queue)
    # Closure cells, read once per call: the characters appended so far (holding the handle's write token);
    # the handle and its token's bound get / put, one tuple so a call always reads a matching set;
    # the monotonic time after which the next write goes through get_queue again (the "do the files still
    # exist?" check); and the session's wake-up signal (looked up again at each of those checks, so one
    # replaced meanwhile is followed within the interval).
    chars = 0
    state: tuple[QueueHandle, Callable[[], None], Callable[[None], None]] | None = None
    due = 0.0
    signal = signal_of(session_id)

    def check() -> None:
        """Through the checked path: the queue's current handle (reopened if ours was evicted), or
        :class:`SessionClosedError` if the session's files were deleted."""
        nonlocal state, due, signal
        h = get_queue(session_id, queue)  # in use until the release below
        try:
            old = state[0] if state is not None else None
            if old is not None and old is not h:
                # ours was evicted: let writes still running through it finish first, so the count stays
                # in the queue's order (any later writer sees its mark holding the token and comes here too)
                if take_write_token(old.write_token):
                    old.write_token.put(None)
            token = h.write_token
            state = (h, token.get, token.put)
            due = h.checked_at + check_every  # get_queue returns a handle checked at most check_every ago
            signal = signal_of(session_id)
        finally:
            release(h)  # from here on the write token is our mark (closed now if evicted meanwhile: seen below)

    check()

    def append(text: str, at: bool = False) -> int | None:
        nonlocal chars
        try:
            item = text.encode()
        except UnicodeEncodeError:  # lone surrogates travel as they are (decoded the same way)
            item = text.encode("utf-8", "surrogatepass")
        except AttributeError:
            if isinstance(text, str):
                raise
            raise not_a_str(text) from None
        size = len(item)
        if size > MAX_ITEM_BYTES:
            frame(item)  # raises the error that says what to do
        # framing.frame with framing.header_check, inlined
        data = _pack_header(MAGIC, size, _crc32(item), size * CHECK_MUL + CHECK_ADD) + item
        try:
            if _monotonic() > due:
                check()
            while True:
                h, take, give_back = state
                take()
                try:
                    if not h.evicted:  # the evictor marks before it takes the token to close (descriptors.py)
                        written = _write(h.log_fd, data)  # one write() is one atomic append
                        if written != size + HEADER_SIZE:  # cut short (a signal, a full disk): finish it
                            write_all(h.log_fd, data[written:])  # (no longer atomic)
                        start = chars
                        chars = start + len(text)
                        break
                finally:
                    give_back(None)
                check()  # evicted: the queue's current handle, through the checked path
        except USER_ERRORS as exc:
            raise short(exc) from None
        if signal.waiters:  # someone in this process waits in an empty dequeue(): wake it
            signal.bump()
        marks = _marks_get()
        if marks is not None and key not in marks:  # inside a task of our executor: once per task
            marks[key] = end
        if at:
            return start if counted else 0
        return None

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
