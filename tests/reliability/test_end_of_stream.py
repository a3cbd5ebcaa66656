"""The end of a stream: the last tokens, the last trace entries, leftovers, files, and sessions of dead processes.

LazyLLM 1.4.0 lost tokens in 11 of 20 runs of the seed's loop (the run ended between two polls) and left them on disk
for the next run. Here the seed's exact loop runs hundreds of times with the end landing at random points.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.limits import STALE_SESSION_AFTER_S
from lazystream_widget.runner import Run
from lazystream_widget.runtime.filestore import FileBackend
from lazystream_widget.runtime.trace import span
from lazystream_widget.testing import weather_responder
from lazystream_widget.tools import FunctionCallAgent

from .helpers import (
    RecordingSink,
    assert_complete_trace,
    child_env,
    run_child,
    seed_loop,
    spawn,
    trace_entries,
)

SEED_QUERY = "What's the weather like today in celsius in Tokyo and Paris."
SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."


def _producer(run: int, n_tokens: int, n_spans: int, rnd: random.Random):
    """A module that streams ``n_tokens`` tokens and ``n_spans`` spans, then ends at a random moment."""
    pauses = [rnd.choice([0.0, 0.0, 0.0, 0.0005, 0.002]) for _ in range(n_tokens)]
    tail = rnd.choice([0.0, 0.0, 0.0001, 0.001, 0.003])

    def module(_query: str) -> str:
        q = lazyllm.FileSystemQueue()
        for i in range(n_tokens):
            if i < n_spans:
                with span(f"step{i}", "module", {"run": run, "i": i}) as sp:
                    sp.end({"i": i})
            q.enqueue(f"<{run}:{i}>")
            if pauses[i]:
                time.sleep(pauses[i])
        if tail:
            time.sleep(tail)
        return "ok"

    return module


@pytest.mark.backends("file", "redis")
@pytest.mark.slow
def test_the_seed_loop_sees_every_token_and_trace_entry_however_the_run_ends(figures) -> None:
    """500 consecutive runs in ONE session (the seed: one thread, one session), each ending at a random moment
    between two polls: every token and trace entry arrives, and nothing of a run shows up in the next."""
    rnd = random.Random(20240501)
    runs, tokens, entries_checked = 500, 0, 0
    with lazyllm.session():
        for run in range(runs):
            n_tokens = rnd.choice([0, 1, 2, 5, 20, 60])
            n_spans = rnd.choice([0, 1, 3])
            with lazyllm.ThreadPoolExecutor(1) as executor:
                future = executor.submit(_producer(run, n_tokens, n_spans, rnd), "q")
                answer, trace = seed_loop(future)
            assert answer == [f"<{run}:{i}>" for i in range(n_tokens)], f"run {run}: tokens lost or leaked"
            entries = trace_entries(trace)
            assert [e["input"]["run"] for e in entries if e["event"] == "start"] == [run] * min(n_spans, n_tokens)
            assert len(entries) == 2 * min(n_spans, n_tokens), f"run {run}: trace entries lost"
            seqs = [e["seq"] for e in entries]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
            tokens += n_tokens
            entries_checked += len(entries)
        # nothing left behind for a next run
        assert lazyllm.FileSystemQueue().dequeue() == []
        assert lazyllm.FileSystemQueue().get_instance("lazy_trace").dequeue() == []
    figures.add("end_of_stream.seed_loop_random_end", runs=runs, tokens_checked=tokens,
                trace_entries_checked=entries_checked, tokens_lost=0, leaked_into_next_run=0)


@pytest.mark.backends("file", "redis")
@pytest.mark.slow
def test_the_seeds_example_end_to_end_many_times(scripted_server_factory, figures) -> None:
    """The seed's traced weather agent (parallel tool calls, two model turns) with the seed's loop, 40 times in one
    session, the model streaming as fast as it can: the full answer every time, every trace entry, nothing left over."""
    import lazystream_widget.demo  # noqa: F401 - registers the seed's two tools

    server = scripted_server_factory(responder=weather_responder)
    llm = lazyllm.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True, return_trace=True)
    agent = FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"], return_trace=True)
    reps = 40
    with lazyllm.session():
        for rep in range(reps):
            with lazyllm.ThreadPoolExecutor(1) as executor:
                future = executor.submit(agent, SEED_QUERY)
                answer, trace = seed_loop(future)
            assert "".join(answer) == SEED_ANSWER, f"repetition {rep}"
            entries = trace_entries(trace)
            seqs = [e["seq"] for e in entries]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a trace entry was lost"
            kinds = sorted(e["kind"] for e in entries if e["event"] == "start")
            assert kinds == ["agent", "llm", "llm", "tool", "tool"], kinds
            spans = [e for e in entries if e["event"] in ("start", "end")]  # (tool-call events come besides)
            assert len(spans) == 10, "every span started and ended"
        assert lazyllm.FileSystemQueue().dequeue() == []
    figures.add("end_of_stream.seed_example_repeated", runs=reps, tokens_checked=reps * len(SEED_ANSWER.split()),
                tokens_lost=0)


def test_a_finished_runs_queue_files_are_gone(queue_home: Path, scripted_server_factory) -> None:
    server = scripted_server_factory(responder=weather_responder)
    import lazystream_widget.demo  # noqa: F401

    agent = FunctionCallAgent(lazyllm.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True),
                              ["get_current_weather"])
    sessions_dir = queue_home / "sessions"
    runs = [Run(agent, "What's the weather in Tokyo?").start(RecordingSink()) for _ in range(5)]
    seen = {r._session.id for r in runs}
    assert all((sessions_dir / sid / "q").is_dir() for sid in seen)
    for run in runs:
        run.wait(30)
        assert run.status == "done"
    with lazyllm.session() as s:
        lazyllm.FileSystemQueue().enqueue("x")
        assert (sessions_dir / s.id).is_dir()
    assert sorted(p.name for p in sessions_dir.iterdir()) == [], "finished sessions must leave no files"


def test_a_process_that_exits_normally_leaves_no_session_files(queue_home: Path) -> None:
    code = """
import lazystream_widget as lazyllm
from lazystream_widget.runtime.trace import span
lazyllm.FileSystemQueue().enqueue("never read")          # the process default session
with span("x", "module"):
    pass
s = lazyllm.new_session()                                # and one it forgets to close
lazyllm.FileSystemQueue(session=s).enqueue("never read either")
with lazyllm.session():
    lazyllm.FileSystemQueue().enqueue("closed by the with block")
print(lazyllm.current_session().id, s.id)
"""
    default_sid, forgotten_sid = run_child(code, child_env(queue_home)).stdout.split()
    left = sorted(p.name for p in (queue_home / "sessions").iterdir())
    assert default_sid not in left, "the process default session must be deleted at exit"
    # a session the program forgot to close stays until its owner is gone and the bound passed, then is swept
    assert left in ([], [forgotten_sid])
    if left:
        _backdate(queue_home / "sessions" / forgotten_sid, STALE_SESSION_AFTER_S + 1)
        with lazyllm.session():
            pass
        assert FileBackend(str(queue_home)).sweep() == [] and not (queue_home / "sessions" / forgotten_sid).exists()


_CRASHER = """
import os, sys, time
import lazystream_widget as lazyllm
from lazystream_widget.runtime.trace import span
mode = sys.argv[1]
if mode == "owned":
    s = lazyllm.new_session()
    lazyllm.FileSystemQueue(session=s).enqueue("orphan")
    sid = s.id
else:                                     # the process default session, as a plain script gets
    lazyllm.FileSystemQueue().enqueue("orphan")
    with span("x", "module"):
        pass
    sid = lazyllm.current_session().id
print(sid, flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("mode", ["owned", "default"])
def test_sessions_of_a_process_killed_with_sigkill_are_swept_after_the_bound(queue_home: Path, mode: str,
                                                                           figures) -> None:
    with lazyllm.session():  # makes the home
        pass
    proc = spawn(_CRASHER, child_env(queue_home), mode)
    try:
        sid = proc.stdout.readline().strip()
        assert len(sid) == 32, proc.stderr.read() if proc.poll() is not None else sid
        sdir = queue_home / "sessions" / sid
        assert sdir.is_dir()
        # while its owner lives, no sweep removes it, however old it looks
        _backdate(sdir, STALE_SESSION_AFTER_S + 600)
        assert FileBackend(str(queue_home)).sweep(older_than=0) == []
        assert sdir.is_dir()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert sdir.is_dir(), "SIGKILL runs no clean-up: the files are orphaned"
    # dead owner, but changed recently: kept until the bound
    os.utime(sdir / "q", None)
    assert FileBackend(str(queue_home)).sweep() == []
    assert sdir.is_dir()
    # older than the bound: the next process that opens the queue home sweeps it
    _backdate(sdir, STALE_SESSION_AFTER_S + 1)
    run_child("import lazystream_widget as l; l.FileSystemQueue().enqueue('x')", child_env(queue_home))
    assert not sdir.exists(), "a dead owner's stale session must be swept by the next process"
    figures.add("end_of_stream.crashed_owner_swept", processes_killed=1, sessions_swept=1,
                bound_s=STALE_SESSION_AFTER_S)


def test_a_sweep_with_a_zero_bound_removes_a_dead_owners_session_at_once(queue_home: Path) -> None:
    with lazyllm.session():
        pass
    proc = spawn(_CRASHER, child_env(queue_home), "owned")
    sid = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    sdir = queue_home / "sessions" / sid
    assert sdir.is_dir()
    with lazyllm.session() as mine:  # a live session of ours in the same home
        assert FileBackend(str(queue_home)).sweep(older_than=0) == [sid]
        assert not sdir.exists()
        assert (queue_home / "sessions" / mine.id).is_dir(), "a live owner's session is never swept"


def _backdate(sdir: Path, age: float) -> None:
    old = time.time() - age
    for path in [*sdir.rglob("*"), sdir]:
        os.utime(path, (old, old))


@pytest.mark.backends("file", "redis")
def test_trace_of_a_run_ending_between_polls_reaches_the_widget_too(scripted_server_factory, figures) -> None:
    """The runner's pump (the widget's consumer): 100 runs of a module whose last act is a trace entry."""

    def module(q: str) -> str:
        with span("last", "module") as sp:
            lazyllm.FileSystemQueue().enqueue(q)
            sp.end(q)
        return q

    runs = [Run(module, f"tok{i}").start(RecordingSink()) for i in range(100)]
    for i, run in enumerate(runs):
        assert run.wait(30) == f"tok{i}"
        assert run.text == f"tok{i}"
        entries = [e for e in run.entries if isinstance(e, dict)]
        assert_complete_trace(entries)
        assert [e["event"] for e in entries] == ["start", "end"]
        assert json.dumps(run.state())  # the final state is plain JSON
    figures.add("end_of_stream.widget_runner_last_entry", runs=100, tokens_checked=100, tokens_lost=0)
