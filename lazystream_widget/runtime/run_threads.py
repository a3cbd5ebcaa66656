"""Where a run's work executes: a thread of its own, up to a documented number alive at once.

The runner used to submit every run to one pool of 64 workers. A cancelled run whose
code ignores cancellation (``def stuck(q): event.wait()``) is abandoned by the runner
after ``CANCEL_GRACE_S``, but Python cannot kill its thread, so it kept its worker:
64 of them and every new run sat at "running" forever, silently.

Now each run gets a daemon thread of its own, so an abandoned run never keeps a new
one from starting. Threads are not free, so at most ``RUN_THREADS_MAX`` run threads may
be alive in a process (running, or abandoned and still stuck); past that, starting a
run fails at once with :class:`RunLimitError`, which the runner shows as the run's
error and notice, never as a silent "running".

The thread runs the module exactly as our ``ThreadPoolExecutor`` would (the run's
context, and the executor's "wait until a reader took what the task wrote" end).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from typing import Any, Callable

from .. import limits

_lock = threading.Lock()
_alive = 0
_abandoned: set[concurrent.futures.Future] = set()


class RunLimitError(RuntimeError):
    """Too many run threads are alive (running or abandoned): a new run cannot start now."""


def start_run_thread(fn: Callable[[Any], Any], arg: Any, ctx: contextvars.Context,
                     name: str) -> concurrent.futures.Future:
    """Run ``fn(arg)`` in ``ctx`` on a new daemon thread; its outcome lands in the returned future."""
    from .pool import run_task

    global _alive
    with _lock:
        _forget_finished()
        bound = limits.RUN_THREADS_MAX
        if _alive >= bound:
            raise RunLimitError(_limit_message(_alive, len(_abandoned), bound))
        _alive += 1
    future: concurrent.futures.Future = concurrent.futures.Future()
    future.set_running_or_notify_cancel()

    def body() -> None:
        global _alive
        try:
            result = ctx.run(run_task, fn, (arg,), {})
        except BaseException as exc:  # the run's outcome, whatever it is (as concurrent.futures does)
            future.set_exception(exc)
        else:
            future.set_result(result)
        finally:
            with _lock:
                _alive -= 1
                _abandoned.discard(future)

    thread = threading.Thread(target=body, name=name, daemon=True)
    try:
        thread.start()
    except BaseException:
        with _lock:
            _alive -= 1
        raise
    return future


def mark_abandoned(future: concurrent.futures.Future) -> None:
    """The runner gave up waiting for this run (it ignored a cancel): count its thread as abandoned."""
    with _lock:
        if not future.done():
            _abandoned.add(future)


def alive() -> int:
    """Run threads alive now (running or abandoned)."""
    with _lock:
        return _alive


def abandoned() -> int:
    """Run threads abandoned after a cancel and still stuck."""
    with _lock:
        _forget_finished()
        return len(_abandoned)


def _forget_finished() -> None:
    for future in [f for f in _abandoned if f.done()]:
        _abandoned.discard(future)


def _limit_message(alive: int, stuck: int, bound: int) -> str:
    why = (f"{stuck} of them were cancelled but their code ignores cancellation and never returned"
           if stuck else "none of them has ended yet")
    return (
        f"cannot start the run: {alive} runs still hold their threads ({why}), and at most {bound} may "
        "(RUN_THREADS_MAX). A new run can start as soon as one of them ends; restarting the kernel ends them all. "
        "Code that runs long should check for cancellation (lazystream_widget.runtime.cancel.check_cancelled())."
    )
