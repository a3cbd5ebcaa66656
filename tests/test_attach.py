"""Watching runs that execute elsewhere: ``StreamView.attach``, ``start_run`` and the worker command, on both backends.

Producers run in their own processes (``python -m lazystream_widget.worker`` or ``python -c``); watchers read the
session non-destructively. Late attach and replay after the run ended need a backend that replays (Redis).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget.attach import AttachedRun, RemoteRunError, SessionNotFoundError, attach_run
from lazystream_widget.protocol import RUN_END_EVENT, RUN_START_EVENT
from lazystream_widget.runtime.cancel import RunCancelled
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import get_backend

pytestmark = pytest.mark.backends("file", "redis")

AGENTS = textwrap.dedent('''
    import os, time
    import lazystream_widget as lsw
    from lazystream_widget.runtime.trace import span

    def slow(query):
        """Streams 30 words, one every 20 ms, inside one span; waits for a go file first if asked to."""
        go = os.environ.get("LSW_TEST_GO")
        while go and not os.path.exists(go):
            time.sleep(0.01)
        q = lsw.FileSystemQueue()
        with span("slow agent", "agent", {"query": query}):
            for i in range(30):
                q.enqueue(f"w{i} ")
                time.sleep(0.02)
        return f"answered {query}"

    def failing(query):
        lsw.FileSystemQueue().enqueue("partial ")
        raise ValueError("boom in the worker")
''')


@pytest.fixture
def agents(tmp_path: Path) -> Path:
    (tmp_path / "remote_agents.py").write_text(AGENTS)
    return tmp_path


def worker(agents: Path, child_env, target: str, query: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lazystream_widget.worker", f"remote_agents:{target}", query, *args],
                            cwd=agents, env=child_env(PYTHONPATH=str(agents), **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def session_of(proc: subprocess.Popen) -> str:
    line = proc.stderr.readline().strip()
    assert line.startswith("session "), f"the worker did not say its session first: {line!r}"
    return line.split()[1]


def words(n: int = 30) -> str:
    return "".join(f"w{i} " for i in range(n))


def test_a_watcher_follows_a_worker_process_live_and_ends_with_its_outcome(agents: Path, child_env, tmp_path) -> None:
    go = tmp_path / "go"
    proc = worker(agents, child_env, "slow", "Tokyo?", LSW_TEST_GO=str(go))
    sid = session_of(proc)
    run = attach_run(sid)  # attached before the work starts: everything arrives live
    assert isinstance(run, AttachedRun) and run.status == "running" and run.session_id == sid
    go.touch()
    deadline = time.monotonic() + 20
    while "w3 " not in run.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.status == "running" and "w3 " in run.text, "the answer did not stream while the run went on"
    assert run.wait(30) == "answered Tokyo?"
    assert run.status == "done" and run.text == words() and run.query == "Tokyo?"
    assert [s.name for s in run.trace] == ["slow agent"] and run.trace[0].status == "ok"
    assert not any(isinstance(e, dict) and e.get("event") in (RUN_START_EVENT, RUN_END_EVENT) for e in run.entries)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.strip() == words().strip(), "the worker prints the answer it streamed"


def test_a_failed_remote_run_raises_its_error_type_and_message(agents: Path, child_env) -> None:
    proc = worker(agents, child_env, "failing", "x")
    run = attach_run(session_of(proc))
    with pytest.raises(RemoteRunError, match=r"ValueError: boom in the worker") as info:
        run.wait(30)
    assert info.value.type == "ValueError" and info.value.message == "boom in the worker"
    assert "Traceback" in info.value.detail
    assert run.status == "error" and run.text == "partial "
    assert proc.wait(30) == 1 and "boom in the worker" in proc.stderr.read()


def test_several_watchers_and_the_consumer_never_take_items_from_each_other(child_env) -> None:
    n = 300
    code = f"""
import lazystream_widget as lsw
q = lsw.FileSystemQueue()
for i in range({n}):
    q.enqueue(f"i{{i}} ")
"""
    with lsw.session() as s:
        watchers = [attach_run(s.id) for _ in range(3)]
        proc = subprocess.run([sys.executable, "-c", code], env=child_env(s.id), capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        expected = "".join(f"i{i} " for i in range(n))
        got: list[str] = []
        deadline = time.monotonic() + 20
        while len(got) < n and time.monotonic() < deadline:
            got += FileSystemQueue().dequeue()
        assert "".join(got) == expected, "the session's own consumer lost items to the watchers"
        deadline = time.monotonic() + 20
        while any(w.text != expected for w in watchers) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [w.text for w in watchers] == [expected] * 3
        # a watcher is not a consumer: it never makes the executor wait for items it read
        assert get_backend().last_read_at(s.id, "lazy_trace") == 0.0
        for w in watchers:
            assert w.cancel() and w.status in ("running", "cancelled")
        for w in watchers:
            with pytest.raises(RunCancelled):
                w.wait(10)
            assert w.status == "cancelled" and any("stopped watching" in n for n in w.notices)


def test_start_run_streams_into_a_session_a_watcher_can_join(child_env) -> None:
    def agent(query: str) -> str:
        q = FileSystemQueue()
        for word in query.split():
            q.enqueue(word + " ")
            time.sleep(0.01)
        return "ok"

    with lsw.session() as s:  # the watcher's side made the session and hands its id to the producer
        run = lsw.start_run(agent, "one two three four", session_id=s.id)
        watcher = attach_run(s.id)
        assert run.wait(20) == "ok" and watcher.wait(20) == "ok"
        assert watcher.text == run.text == "one two three four "
        assert watcher.query == "one two three four" and watcher.remote_id == run.id
        assert s.backend.session_state(s.id) == "open", "a session the run did not make stays open"


def test_a_producer_that_writes_no_run_end_ends_the_watch_when_its_session_ends(child_env) -> None:
    code = "import lazystream_widget as lsw\nwith lsw.session() as s:\n    print(s.id, flush=True)\n" \
           "    lsw.FileSystemQueue().enqueue('bare ')\n    input()\n"
    proc = subprocess.Popen([sys.executable, "-c", code], env=child_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    sid = proc.stdout.readline().strip()
    run = attach_run(sid)
    deadline = time.monotonic() + 20
    while run.text != "bare " and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.status == "running"
    proc.communicate("\n", timeout=30)  # the producer closes its session
    assert run.wait(20) is None and run.status == "done" and run.text == "bare "
    assert any("without a run-end entry" in n for n in run.notices)


def test_attaching_to_a_session_that_does_not_exist_is_a_clear_error() -> None:
    with pytest.raises(SessionNotFoundError, match=r"no session 0123abcd… in .*the queue setting"):
        attach_run("0123abcd" * 4)
    for bad in ("nope", "G" * 32, 42):
        with pytest.raises(ValueError, match="invalid session id"):
            attach_run(bad)  # type: ignore[arg-type]


def test_an_attached_view_shows_the_run_and_refuses_to_ask(agents: Path, child_env, tmp_path) -> None:
    go = tmp_path / "go"  # the worker waits for it: on the file backend a session is gone once its run ended
    proc = worker(agents, child_env, "slow", "Paris?", LSW_TEST_GO=str(go))
    view = lsw.StreamView.attach(session_of(proc), display=False)
    go.touch()
    run = view.last_run
    assert run is view.history[0] and repr(view) == "StreamView.attach(<session>)"
    run.wait(30)
    states = {r["id"]: r for r in view.runs}
    assert states[run.id]["status"] == "done" and states[run.id]["text"] == words()
    assert states[run.id]["query"] == "Paris?"
    with pytest.raises(TypeError, match="cannot ask"):
        view.ask("anything")
    assert proc.wait(30) == 0


# --------------------------------------------------------------------------- replay (Redis)


@pytest.mark.backends("redis")
def test_a_late_watcher_replays_a_finished_run_from_the_start(agents: Path, child_env) -> None:
    proc = worker(agents, child_env, "slow", "Rome?")
    sid = session_of(proc)
    assert proc.wait(30) == 0
    assert get_backend().session_state(sid) == "ended"
    first, second = attach_run(sid), attach_run(sid)
    assert first.wait(20) == second.wait(20) == "answered Rome?"
    assert first.text == second.text == words()
    assert [s.name for s in first.trace] == ["slow agent"] and first.query == "Rome?"
    assert first.stats()["tokens"] == 30


@pytest.mark.backends("file")
def test_on_the_file_backend_a_closed_session_is_gone_and_the_error_says_why(agents: Path, child_env) -> None:
    proc = worker(agents, child_env, "failing", "x")
    sid = session_of(proc)
    proc.wait(30)
    with pytest.raises(SessionNotFoundError, match="deletes a session when its owner closes it.*Redis"):
        attach_run(sid)


def gated_abc(gate: threading.Event):
    """A module that waits for ``gate``, then streams "a b c " and returns "abc"."""

    def slow(q: str) -> str:
        gate.wait(10)
        for w in ("a ", "b ", "c "):
            FileSystemQueue().enqueue(w)
        return "abc"

    return slow


def test_a_run_in_this_process_can_be_watched_by_its_session_id() -> None:
    gate = threading.Event()
    run = lsw.StreamView(gated_abc(gate), display=False).ask("q")
    watcher = attach_run(run.session_id)
    gate.set()
    assert run.wait(20) == "abc" and watcher.wait(20) == "abc" and watcher.text == "a b c "


def test_watchers_are_served_by_the_process_pump_not_threads_of_their_own() -> None:
    from lazystream_widget import pump as pump_mod

    gate = threading.Event()
    run = lsw.StreamView(gated_abc(gate), display=False).ask("q")
    watchers = [attach_run(run.session_id) for _ in range(5)]
    pump = pump_mod.get_pump(get_backend())
    deadline = time.monotonic() + 10
    while pump.live < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pump.live == 6, "the run and its five watchers are all served by the process's one pump"
    assert not [t.name for t in threading.enumerate() if t.name.startswith("lazystream-attach")]
    gate.set()
    assert run.wait(20) == "abc"
    assert all(w.wait(20) == "abc" and w.text == "a b c " for w in watchers)


def test_stopping_a_watcher_ends_it_at_once_and_the_run_goes_on() -> None:
    gate = threading.Event()

    def slow(q: str) -> str:
        FileSystemQueue().enqueue("first ")
        gate.wait(10)
        return "done"

    run = lsw.StreamView(slow, display=False).ask("q")
    watcher = attach_run(run.session_id)
    deadline = time.monotonic() + 10
    while watcher.text != "first " and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watcher.cancel()
    with pytest.raises(RunCancelled):
        watcher.wait(5)
    assert watcher.status == "cancelled" and any("stopped watching" in n for n in watcher.notices)
    assert run.status == "running", "stopping a watcher never stops the run it watches"
    gate.set()
    assert run.wait(20) == "done"


def test_run_markers_frame_the_trace_and_carry_the_outcome() -> None:
    seen: list[dict] = []
    with lsw.session() as s:
        run = lsw.start_run(lambda q: "result " * 3000, "long result", session_id=s.id)
        run.wait(20)
        items, _ = s.backend.read_from(s.id, "lazy_trace", "0")
        seen = [json.loads(i) for i in items]
    start, end = seen[0], seen[-1]
    assert start["event"] == RUN_START_EVENT and start["input"] == "long result" and start["span"] == run.id
    assert "seq" not in start and "seq" not in end, "markers are not numbered: spans keep seq 1..n"
    assert end["event"] == RUN_END_EVENT and end["status"] == "done" and end["attrs"]["tokens"] == 0
    assert end["output"].endswith("bytes in all]") and len(end["output"]) < 9000, "the result is cut like a field"
