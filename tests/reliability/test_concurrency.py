"""Nothing lost, nothing mixed: many runs streaming at once, in threads and in processes.

Every run streams tokens that name the run (``<run:i>``), so each consumer can check that it got exactly its own
tokens, in order, none lost, none duplicated. The property-based test drives random interleavings of the queue
operations and session life cycles against a plain in-memory model.
"""

from __future__ import annotations

import json
import random
import string
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor as PlainExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

import lazystream_widget as lsw
from lazystream_widget.runner import Run
from lazystream_widget.runtime.filestore import FileBackend, SessionClosedError
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.redis_backend import RedisBackend
from lazystream_widget.runtime.session import get_backend
from lazystream_widget.testing import Reply, ToolCall
from lazystream_widget.tools import FunctionCallAgent, fc_register

from .helpers import (
    CHILD_HELPERS,
    FIGURES,
    RecordingSink,
    assert_complete_trace,
    checked_item,
    child_env,
    parse_checked,
    seed_loop,
    spawn,
    tagged_chunks,
    tagged_responder,
    trace_entries,
)

pytestmark = pytest.mark.backends("file", "redis")  # the runtime suite on both queue backends

N_RUNS = 20


# --------------------------------------------------------------------------- threads, one process


@pytest.mark.slow
def test_twenty_runs_streaming_at_once_each_get_exactly_their_own_tokens(scripted_server_factory, figures) -> None:
    """20 threads, each in its own session(), each submitting to our executor and reading with the seed's loop."""
    n_tokens = 300
    server = scripted_server_factory(responder=tagged_responder, token_delay=0.0005)
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="test", stream=True, return_trace=True)
    barrier = threading.Barrier(N_RUNS)

    def one(k: int) -> tuple[str, list[str], list[str], str]:
        with lsw.session() as sess, lsw.ThreadPoolExecutor(1) as pool:
            barrier.wait(10)
            future = pool.submit(llm, f"run={k} n={n_tokens}")
            answer, trace = seed_loop(future)
            return sess.id, answer, trace, future.result()

    with PlainExecutor(N_RUNS) as threads:
        results = list(threads.map(one, range(N_RUNS)))

    assert len({sid for sid, *_ in results}) == N_RUNS, "every run had its own session"
    for k, (_, answer, trace, result) in enumerate(results):
        expected = tagged_chunks(k, n_tokens)
        assert answer == expected, f"run {k}: tokens lost, duplicated, reordered or mixed"
        assert result == "".join(expected)
        entries = trace_entries(trace)
        assert_complete_trace(entries)
        extra = [e for e in entries if e["event"] == "event"]  # e.g. a retry: shown if the check fails
        assert [e["event"] for e in entries] == ["start", "end"] and entries[1]["status"] == "ok", extra
    assert len(server.requests) == N_RUNS
    figures.add("concurrency.threads_seed_loop", runs=N_RUNS, tokens_checked=N_RUNS * n_tokens, tokens_lost=0)


@fc_register("tool", name="rel_echo_tag")
def rel_echo_tag(tag: str) -> str:
    """Returns a run's tag, so the second model turn can prove the tool result reached the right run.

    Args:
        tag (str): the run's tag.
    """
    time.sleep(random.random() * 0.01)
    return f"tag={tag}"


def _agent_responder(request: dict) -> Reply:
    """Turn 1: call rel_echo_tag with the run's tag; turn 2: stream tokens named after the tool's result."""
    messages = request["messages"]
    tool_results = [m["content"] for m in messages if m.get("role") == "tool"]
    user = next(m["content"] for m in messages if m.get("role") == "user")
    run, n = user.split()
    if not tool_results:
        return Reply(text=f"[{run}] ", tool_calls=[ToolCall("rel_echo_tag", {"tag": run})])
    tag = tool_results[0].removeprefix("tag=")
    return Reply(chunks=tagged_chunks(tag, int(n)))


@pytest.mark.slow
def test_twenty_widget_runs_at_once_never_mix_text_tools_or_traces(scripted_server_factory, figures) -> None:
    """20 runner runs (what StreamView.ask starts) of one shared agent at once: own text, tool results, trace."""
    n_tokens = 200
    server = scripted_server_factory(responder=_agent_responder, token_delay=0.0005)
    agent = FunctionCallAgent(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True),
                              ["rel_echo_tag"])
    sinks = [RecordingSink() for _ in range(N_RUNS)]
    runs = [Run(agent, f"r{k} {n_tokens}").start(sinks[k]) for k in range(N_RUNS)]
    for run in runs:
        run.wait(60)
    for k, (run, sink) in enumerate(zip(runs, sinks, strict=True)):
        expected = f"[r{k}] " + "".join(tagged_chunks(f"r{k}", n_tokens))
        assert run.status == "done"
        assert run.text == expected, f"run {k} text mixed or lost"
        assert "".join(sink.text) == expected, f"run {k}: what the display got differs"
        assert run.result == "".join(tagged_chunks(f"r{k}", n_tokens))
        entries = [e for e in run.entries if isinstance(e, dict)]
        assert_complete_trace(entries)
        [tool] = [s for s in run.trace if s.kind == "tool"]
        assert tool.input == {"tag": f"r{k}"} and tool.output == f"tag=r{k}"
    figures.add("concurrency.threads_widget_runs", runs=N_RUNS, tokens_checked=N_RUNS * (n_tokens + 1),
                tokens_lost=0)


# --------------------------------------------------------------------------- several processes, one queue home

_PROCESS_WORKER = CHILD_HELPERS + '''
import json, random, sys, threading, time
import lazystream_widget as lazyllm

proc_tag, n_sessions, n_items = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def produce(tag):
    q = lazyllm.FileSystemQueue()
    rnd = random.Random(tag)
    for i in range(n_items):
        q.enqueue(checked_item(tag, i, "x" * rnd.randrange(0, 3000)))
        if rnd.random() < 0.05:
            time.sleep(0.001)

def one(k, out):
    tag = f"{proc_tag}.{k}"
    with lazyllm.session() as s, lazyllm.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(produce, tag)
        got = []
        while True:  # the seed's loop
            if value := lazyllm.FileSystemQueue().dequeue(limit=random.choice([None, 1, 7])):
                got.extend(value)
            elif fut.done():
                break
        fut.result()
        out[k] = {"tag": tag, "session": s.id, "items": got}

out = {}
threads = [threading.Thread(target=one, args=(k, out)) for k in range(n_sessions)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
'''

_ATTACHED_PRODUCER = CHILD_HELPERS + '''
import random, sys, time
import lazystream_widget as lazyllm
tag, n_items = sys.argv[1], int(sys.argv[2])
q = lazyllm.FileSystemQueue()   # LAZYSTREAM_SESSION: the consumer's session, in the parent process
rnd = random.Random(tag)
for i in range(n_items):
    q.enqueue(checked_item(tag, i, "y" * rnd.randrange(0, 5000)))
    if rnd.random() < 0.05:
        time.sleep(0.001)
'''


def _check_own_items(items: list[str], tag: str, n_items: int) -> None:
    parsed = [parse_checked(item) for item in items]
    assert {t for t, _, _ in parsed} <= {tag}, f"{tag} got another session's items: {({t for t, _, _ in parsed})}"
    assert [i for _, i, _ in parsed] == list(range(n_items)), f"{tag}: items lost, duplicated or out of order"


@pytest.mark.slow
def test_processes_sharing_one_queue_home_never_mix(queue_home: Path, figures) -> None:
    """4 processes x 5 sessions each (producer and seed loop inside each process), plus 4 producer processes writing
    into 4 sessions owned by this process, all in one queue home at once."""
    n_procs, n_sessions, n_items = 4, 5, 1000
    with lsw.session():  # make the home, so the children find it ready
        pass
    attached_sessions = [lsw.new_session() for _ in range(n_procs)]
    try:
        workers = [
            spawn(_PROCESS_WORKER, child_env(queue_home), f"p{p}", str(n_sessions), str(n_items))
            for p in range(n_procs)
        ]
        producers = [
            spawn(_ATTACHED_PRODUCER, child_env(queue_home, s.id), f"a{p}", str(n_items))
            for p, s in enumerate(attached_sessions)
        ]
        # consume the attached sessions here while everything runs
        got: dict[int, list[str]] = {p: [] for p in range(n_procs)}
        deadline = time.monotonic() + 90
        while any(len(got[p]) < n_items for p in got) and time.monotonic() < deadline:
            for p, s in enumerate(attached_sessions):
                got[p] += FileSystemQueue(session=s).dequeue(limit=random.choice([None, 3]))
        for proc in producers:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        for p in range(n_procs):
            _check_own_items(got[p], f"a{p}", n_items)
            assert FileSystemQueue(session=attached_sessions[p]).dequeue() == []
        reports = []
        for proc in workers:
            out, err = proc.communicate(timeout=90)
            assert proc.returncode == 0, err
            reports.append(json.loads(out))
    finally:
        for s in attached_sessions:
            s.close()
    seen_sessions = set()
    for p, report in enumerate(reports):
        assert len(report) == n_sessions
        for k in range(n_sessions):
            entry = report[str(k)]
            _check_own_items(entry["items"], f"p{p}.{k}", n_items)
            seen_sessions.add(entry["session"])
    assert len(seen_sessions) == n_procs * n_sessions
    # every session was closed by its owner: nothing is left in the shared home (Redis: every one is marked ended)
    backend = get_backend()
    if isinstance(backend, FileBackend):
        assert sorted(p.name for p in (queue_home / "sessions").iterdir()) == []
    else:
        assert {backend.session_state(sid) for sid in seen_sessions} == {"ended"}
    total = (n_procs * n_sessions + n_procs) * n_items
    figures.add("concurrency.processes_one_home", runs=n_procs * n_sessions + n_procs, processes=2 * n_procs,
                tokens_checked=total, tokens_lost=0)


# --------------------------------------------------------------------------- property-based: the queue vs a model

_ITEM = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=string.printable + "é€😀\x00\x01LSQ", max_size=200),
    st.sampled_from(["", "LSQ\x01", "\n", "a|b"]),
    st.integers(1_000, 300_000).map(lambda n: "z" * n),
)
_QUEUES = st.sampled_from(["lazy_answer", "lazy_trace", "lazy_think", "other.q"])


class QueueModel(RuleBasedStateMachine):
    """Random interleavings of enqueue / dequeue(limit) / peek / size / clear / session create and close, through two
    backends on one home (two "processes": separate descriptors and caches), checked against deques."""

    sessions = Bundle("sessions")

    @initialize()
    def setup(self) -> None:
        self.a = get_backend()  # the process's backend, what FileSystemQueue uses
        # "another process": its own descriptors and caches (files), its own connections and tokens (Redis)
        self.b = FileBackend(self.a.home) if isinstance(self.a, FileBackend) else RedisBackend(self.a.url)
        self.model: dict[tuple[str, str], deque[str]] = {}
        self.live: dict[str, lsw.Session] = {}
        self.closed: list[str] = []
        self.ops = 0

    def _backend(self, other: bool):
        return self.b if other else self.a

    @rule(target=sessions)
    def create(self):
        s = lsw.new_session()
        assert s.id not in self.live and s.id not in self.closed
        self.live[s.id] = s
        return s.id

    @rule(sid=consumes(sessions))
    def close(self, sid: str) -> None:
        self.live.pop(sid).close()
        self.closed.append(sid)
        for key in [k for k in self.model if k[0] == sid]:
            del self.model[key]
        if isinstance(self.a, FileBackend):
            assert not Path(self.a.sessions_dir, sid).exists(), "a closed session's files must be gone"
        else:
            assert self.a.session_state(sid) == "ended", "a closed Redis session stays readable, marked ended"
        with pytest.raises(SessionClosedError):  # nothing can be written into a closed session by mistake
            self.a.append(sid, "fresh", b"x")

    @rule(sid=sessions, q=_QUEUES, items=st.lists(_ITEM, min_size=1, max_size=5), other=st.booleans())
    def enqueue(self, sid: str, q: str, items: list[str], other: bool) -> None:
        for item in items:
            if other:
                self.b.append(sid, q, item.encode("utf-8", "surrogatepass"))
            else:
                FileSystemQueue(q, session=self.live[sid]).enqueue(item)
            self.model.setdefault((sid, q), deque()).append(item)
        self.ops += len(items)

    @rule(sid=sessions, q=_QUEUES, limit=st.one_of(st.none(), st.integers(1, 6)), other=st.booleans())
    def dequeue(self, sid: str, q: str, limit: int | None, other: bool) -> None:
        expected_q = self.model.setdefault((sid, q), deque())
        n = len(expected_q) if limit is None else min(limit, len(expected_q))
        expected = [expected_q.popleft() for _ in range(n)]
        if other:
            got = [b.decode("utf-8", "surrogatepass") for b in self.b.read(sid, q, limit)]
        else:
            got = FileSystemQueue(q, session=self.live[sid]).dequeue(limit)
        assert got == expected
        self.ops += 1

    @rule(sid=sessions, q=_QUEUES)
    def peek_and_size(self, sid: str, q: str) -> None:
        expected_q = self.model.get((sid, q), deque())
        queue = FileSystemQueue(q, session=self.live[sid])
        assert queue.peek() == (expected_q[0] if expected_q else None)
        assert queue.size() == len(expected_q)
        assert self.b.size(sid, q) == len(expected_q)

    @rule(sid=sessions, q=_QUEUES)
    def clear(self, sid: str, q: str) -> None:
        FileSystemQueue(q, session=self.live[sid]).clear()
        self.model[(sid, q)] = deque()

    @invariant()
    def sessions_on_disk(self) -> None:
        if not hasattr(self, "a"):
            return
        if not isinstance(self.a, FileBackend):
            assert all(self.b.session_state(sid) == "open" for sid in self.live)
            assert all(self.b.session_state(sid) == "ended" for sid in self.closed[-3:])
            return
        on_disk = {p.name for p in Path(self.a.sessions_dir).iterdir()} if Path(self.a.sessions_dir).exists() else set()
        assert set(self.live) <= on_disk
        assert not (on_disk & set(self.closed))

    def teardown(self) -> None:
        if not hasattr(self, "a"):
            return
        for s in self.live.values():
            s.close()
        self.b.close()  # releases b's descriptors (the files are gone already)
        QueueModel.total_ops += self.ops

    total_ops = 0


@pytest.mark.slow
def test_queue_operations_in_random_interleavings_match_a_model(figures) -> None:
    QueueModel.total_ops = 0
    runner = QueueModel.TestCase
    runner.settings = settings(max_examples=100, stateful_step_count=40, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    runner().runTest()
    figures.add("property.queue_vs_model", examples=100, operations_checked=QueueModel.total_ops, mismatches=0)


_PLAN = st.lists(
    st.tuples(st.sampled_from(["enqueue", "dequeue", "new_session"]), st.integers(1, 8), st.integers(0, 2),
              st.one_of(st.none(), st.integers(1, 5))),
    min_size=5, max_size=40,
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=st.lists(_PLAN, min_size=3, max_size=3))
def test_concurrent_random_interleavings_lose_and_mix_nothing(plans: list[list[tuple]]) -> None:
    """Three threads run random plans at once (enqueue bursts, dequeues with random limits, new sessions); each
    session's consumer gets exactly its own items, in order."""
    results: list[tuple[str, list[str], int]] = []
    lock = threading.Lock()

    def worker(t: int, plan: list[tuple]) -> None:
        sessions = [lsw.new_session()]
        counters = [0]
        got: list[list[str]] = [[]]
        try:
            for op, count, which, limit in plan:
                k = which % len(sessions)
                if op == "new_session":
                    sessions.append(lsw.new_session())
                    counters.append(0)
                    got.append([])
                elif op == "enqueue":
                    q = FileSystemQueue(session=sessions[k])
                    for _ in range(count):
                        q.enqueue(checked_item(f"t{t}s{k}", counters[k], "p" * (counters[k] % 50)))
                        counters[k] += 1
                else:
                    got[k] += FileSystemQueue(session=sessions[k]).dequeue(limit)
            for k, s in enumerate(sessions):
                got[k] += FileSystemQueue(session=s).dequeue()
                with lock:
                    results.append((f"t{t}s{k}", got[k], counters[k]))
        finally:
            for s in sessions:
                s.close()

    threads = [threading.Thread(target=worker, args=(t, plan)) for t, plan in enumerate(plans)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert all(not th.is_alive() for th in threads)
    assert len(results) == sum(1 + sum(op == "new_session" for op, *_ in plan) for plan in plans)
    for tag, items, count in results:
        _check_own_items(items, tag, count)
    FIGURES.add("property.concurrent_interleavings", examples=1, tokens_checked=sum(n for _, _, n in results),
                tokens_lost=0)
