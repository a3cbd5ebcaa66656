"""The package's ``ThreadPoolExecutor``: carries the submitter's context into workers.

Two things the seed relies on:

* **Identity.** ``submit`` runs the task in a copy of the submitter's context, so the
  task (and what it submits in turn) writes to the submitter's session and nests its
  trace spans under the submitter's current span.
* **Nothing lost at the end.** The seed's loop is ``if dequeue(): ... elif
  future.done(): break``: with a plain executor, tokens enqueued between the empty
  dequeue and the ``done()`` check are lost (LazyLLM lost up to 295 of 800). Here,
  when the session has an active consumer (one that read within
  ``ACTIVE_CONSUMER_WINDOW_S``), a top-level task's future reports done only once
  everything the task enqueued has been read, bounded by ``DRAIN_GRACE_S``. With no
  active consumer it completes at once. Activity is per queue: a consumer that reads
  only the answer queue does not hold the future for trace or thinking items it
  never reads.

As in LazyLLM, each task also carries the submitter's session id for ``globals`` and runs in a fresh
``locals`` scope (``local_scope="inherit"`` shares the submitter's; see ``session_vars``).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import time
from typing import Any, Callable, TypeVar

from ..limits import ACTIVE_CONSUMER_WINDOW_S, DRAIN_GRACE_S
from . import session_vars
from .backend import QueueUnavailableError, SessionClosedError
from .session import backend_of
from .task_marks import written as _written

T = TypeVar("T")


class ThreadPoolExecutor(concurrent.futures.ThreadPoolExecutor):
    """``concurrent.futures.ThreadPoolExecutor`` that propagates sessions, spans and cancellation."""

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "lazystream", *,
                 local_scope: str = "isolated", **kwargs: Any):
        self._local_scope = session_vars.check_local_scope(local_scope)
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix, **kwargs)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        session_vars.before_handoff(self._local_scope)
        ctx = contextvars.copy_context()
        nested = ctx.get(_written) is not None
        task = session_vars.in_task(fn, self._local_scope)
        return super().submit(ctx.run, _nested_task if nested else _top_level_task, task, args, kwargs)


def _nested_task(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    # the enclosing top-level task's record of writes is already in our context
    return fn(*args, **kwargs)


def _top_level_task(fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
    """Run ``fn`` as a top-level task: what it enqueues is tracked, and we wait (bounded) for a reader."""
    written: dict[tuple[str, str], int] = {}
    _written.set(written)
    try:
        return fn(*args, **kwargs)
    finally:
        wait_until_read(written)


#: What a worker of our executor runs for a top-level task; runners that start their own thread call it too.
run_task = _top_level_task


def forget_reads_to_wait_for(session_id: str) -> None:
    """The current task need not wait, at its end, for a reader of ``session_id`` to consume what it wrote.

    For a reader that does not consume (one reading by position, as the widget runner's pump reads a run's
    own session): it ends the run only after a last read of everything, once the work returned, and waiting
    for a read position that never moves would only ask the backend for it (creating its files).
    """
    marks = _written.get()
    if marks:
        for key in [k for k in marks if k[0] == session_id]:
            del marks[key]


def wait_until_read(written: dict[tuple[str, str], int], grace: float = DRAIN_GRACE_S) -> bool:
    """Block until a consumer has read every position in ``written``, if a consumer is active.

    Returns True when everything was read (or nothing needed waiting for).
    """
    if not written:
        return True
    written = _resolve_marks(written)
    deadline = time.monotonic() + grace
    pause = 0.0002
    while True:
        pending = [(sid, q, end) for (sid, q), end in written.items() if _unread(backend_of(sid), sid, q, end)]
        if not pending:
            return True
        now = time.time()
        active = any(now - backend_of(sid).last_read_at(sid, q) <= ACTIVE_CONSUMER_WINDOW_S for sid, q, _ in pending)
        if not active or time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.005)


def _resolve_marks(written: dict[tuple[str, str], Any]) -> dict[tuple[str, str], int]:
    """Marks recorded as callables (an appender's ``end``, see ``runtime/queue.py``) become positions, once."""
    out = {}
    for key, mark in written.items():
        if callable(mark):
            try:
                mark = mark()
            except (SessionClosedError, QueueUnavailableError):
                continue  # the session is closed, or its queue (Redis) is gone: nothing to wait for
        out[key] = mark
    return out


def _unread(backend, session_id: str, queue: str, end: int) -> bool:
    try:
        return backend.consumed(session_id, queue) < end
    except SessionClosedError:
        return False  # the task closed its own session: nothing is left to read there
    except QueueUnavailableError:
        return False  # the queue (Redis) is gone: no one can read it, so do not wait for that
