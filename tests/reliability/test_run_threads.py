"""Runs whose code ignores cancellation never keep new runs from starting (finding 1 of the second review).

Before: every run went to one pool of 64 workers. 64 runs of ``def stuck(q): event.wait()``, cancelled, all
reported ``cancelled`` but kept their workers, and the next trivial run sat at ``running`` until they ended.
Now each run has a thread of its own; past ``RUN_THREADS_MAX`` alive at once, a new run fails at once and says why.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from lazystream_widget import limits
from lazystream_widget.runner import CANCEL_GRACE_S, Run
from lazystream_widget.runtime.cancel import RunCancelled

from .helpers import RecordingSink, wait_until


def _stuck_runs(n: int, release: threading.Event) -> list[Run]:
    def stuck(_query: str) -> str:
        release.wait()  # ignores cancellation: Python cannot stop it
        return "released"

    return [Run(stuck, f"stuck {i}").start(RecordingSink()) for i in range(n)]


def test_sixty_four_cancelled_stuck_runs_do_not_hold_back_a_new_run(figures) -> None:
    from lazystream_widget.runtime.run_threads import alive

    release = threading.Event()
    base = alive()
    try:
        stuck = _stuck_runs(64, release)
        for run in stuck:
            run.cancel()
        for run in stuck:  # the runner abandons each after its cancel grace
            with pytest.raises(RunCancelled):
                run.wait(CANCEL_GRACE_S + 10)
        assert {run.status for run in stuck} == {"cancelled"}
        t0 = time.monotonic()
        fresh = Run(lambda q: f"answer to {q}", "a new question").start(RecordingSink())
        assert fresh.wait(10) == "answer to a new question", f"the new run stayed {fresh.status!r}"
        took = time.monotonic() - t0
        assert fresh.status == "done"
    finally:
        release.set()
    # their threads end soon after the release; the next test counts the threads alive when it starts
    wait_until(lambda: alive() <= base, timeout=30)
    figures.add("runs.stuck_runs_do_not_block", stuck_runs=64, max_new_run_s=took)


def test_past_the_limit_a_new_run_fails_at_once_and_says_why(monkeypatch: pytest.MonkeyPatch, figures) -> None:
    from lazystream_widget.runtime.run_threads import RunLimitError, alive

    release = threading.Event()
    # runs of earlier tests may still be ending: a count taken while it drops would set the limit too high
    with contextlib.suppress(AssertionError):  # (a thread stuck for good elsewhere only keeps the old count)
        wait_until(lambda: alive() == 0, timeout=30)
    base = alive()
    monkeypatch.setattr(limits, "RUN_THREADS_MAX", base + 3)
    try:
        stuck = _stuck_runs(3, release)
        for run in stuck:
            run.cancel()
        for run in stuck:
            with pytest.raises(RunCancelled):
                run.wait(CANCEL_GRACE_S + 10)
        sink = RecordingSink()
        refused = Run(lambda q: q, "one too many")
        t0 = time.monotonic()
        with pytest.raises(RunLimitError) as info:
            refused.start(sink)
        assert time.monotonic() - t0 < 2, "a refused run must fail at once, not wait"
        message = str(info.value)
        assert "3 runs still hold their threads" in message and "3 of them were cancelled" in message
        assert "RUN_THREADS_MAX" in message
        # the run itself says so: status, error, notice, and the display got its final state
        assert refused.status == "error" and isinstance(refused.error, RunLimitError)
        assert any("RUN_THREADS_MAX" in n for n in refused.notices)
        assert sink.finished.is_set() and refused.state()["status"] == "error"
        assert refused.state()["notices"] == refused.notices
    finally:
        release.set()
    # once the stuck threads end, runs start again
    wait_until(lambda: alive() <= base, timeout=10)
    again = Run(lambda q: q.upper(), "back").start(RecordingSink())
    assert again.wait(10) == "BACK"
    figures.add("runs.limit_refuses_clearly", limit=3, refused=1)


def test_a_run_that_cannot_start_its_thread_ends_in_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a thread can fail (the interpreter is shutting down, or the OS refuses): never "running"."""
    from pathlib import Path

    from lazystream_widget.runtime import run_threads
    from lazystream_widget.runtime.session import get_backend

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    before = run_threads.alive()
    monkeypatch.setattr(run_threads.threading.Thread, "start", refuse)
    sink = RecordingSink()
    run = Run(lambda q: q, "q")
    with pytest.raises(RuntimeError, match="can't start new thread"):
        run.start(sink)
    monkeypatch.undo()
    assert run.done() and run.status == "error" and sink.finished.is_set()
    assert run_threads.alive() == before, "the refused thread's slot was given back"
    assert not (Path(get_backend().sessions_dir) / run._session.id).exists()
