"""Crashes: producers and consumers killed with SIGKILL at random points, and runs whose threads fail.

Every item carries its own checksum (``tag|index|len|sha256|payload``), so a torn or mixed item cannot pass for a good
one. A killed process runs no clean-up at all: what the next process sees is exactly what the kernel left.
"""

from __future__ import annotations

import contextvars
import json
import random
import signal
import threading
import time
import warnings
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget.runner import Run, RunDisplayError
from lazystream_widget.runtime import filestore
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import get_backend
from lazystream_widget.runtime.trace import start_span

from .helpers import CHILD_HELPERS, RecordingSink, checked_item, child_env, parse_checked, rest_of_output, spawn

# --------------------------------------------------------------------------- producers killed mid-write

_PRODUCER = CHILD_HELPERS + """
import hashlib, random, sys
import lazystream_widget as lazyllm
seed = int(sys.argv[1])
rnd = random.Random(seed)
sizes = [10, 1000, 300_000, 4_000_000, 16_000_000]
payloads = {n: "".join(chr(65 + (i * 7 + n) % 26) for i in range(64)) * (n // 64) for n in sizes}
digests = {n: hashlib.sha256(p.encode()).hexdigest()[:16] for n, p in payloads.items()}
q = lazyllm.FileSystemQueue()
print("ready", flush=True)
i = 0
while True:
    n = rnd.choice(sizes)
    q.enqueue(f"w|{i}|{len(payloads[n])}|{digests[n]}|{payloads[n]}")
    print(i, flush=True)          # confirmed: enqueue() returned
    i += 1
"""


def _torn_tail(home: Path, sid: str) -> bool:
    """Whether the answer log ends with bytes that are not a complete record (a write cut by the kill)."""
    log = home / "sessions" / sid / "q" / "lazy_answer.log"
    if not log.exists():  # killed before its first item
        return False
    data = log.read_bytes()
    _, used = filestore.unframe(data)
    return used < len(data)


@pytest.mark.slow
def test_a_producer_killed_at_random_points_loses_no_complete_item_and_delivers_no_torn_one(
    queue_home: Path, figures
) -> None:
    reps = 16
    rnd = random.Random(7)
    delivered_total = torn_tails = 0
    max_wait = 0.0
    for rep in range(reps):
        with lsw.session() as s:
            proc = spawn(_PRODUCER, child_env(queue_home, s.id), str(rep))
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            time.sleep(rnd.uniform(0.02, 0.4))
            proc.send_signal(signal.SIGKILL)
            out, _ = rest_of_output(proc)
            assert proc.returncode == -signal.SIGKILL
            confirmed = len(out.split())  # lines printed after each enqueue returned
            torn_tails += _torn_tail(queue_home, s.id)
            q = FileSystemQueue()
            t0 = time.monotonic()
            got = []
            while batch := q.dequeue():  # one call hands over about DEQUEUE_MAX_BYTES; the rest comes next
                got += batch
            max_wait = max(max_wait, time.monotonic() - t0)
            indexes = [parse_checked(item)[1] for item in got]  # every item intact
            assert indexes == list(range(len(indexes))), "items lost or reordered before the kill point"
            assert confirmed <= len(indexes) <= confirmed + 1, (
                f"{confirmed} enqueues returned before the kill, {len(indexes)} items delivered"
            )
            # the session goes on after the crash: a new producer's items arrive, and only they
            after = [checked_item("after", i, "ü" * i) for i in range(20)]
            writer = spawn(
                "import sys, lazystream_widget as l\nfor line in sys.stdin.read().split('\\n'):\n"
                "    l.FileSystemQueue().enqueue(line)", child_env(queue_home, s.id), stdin=-1)
            writer.communicate("\n".join(after), timeout=30)
            assert writer.returncode == 0
            got_after: list[str] = []
            deadline = time.monotonic() + 10
            while len(got_after) < len(after) and time.monotonic() < deadline:
                got_after += q.dequeue()
            assert got_after == after, "items written after a torn tail must all arrive"
            delivered_total += len(indexes)
    figures.add("crashes.producer_sigkill_random", runs=reps, items_checked=delivered_total, torn_tails=torn_tails,
                torn_items_delivered=0, complete_items_lost=0, max_dequeue_after_kill_s=max_wait)


def test_a_torn_record_larger_than_a_read_chunk_does_not_hold_back_later_items(queue_home: Path) -> None:
    """What a kill in the middle of a 12 MB write leaves (deterministic): later items still arrive, in order."""
    from lazystream_widget.limits import DEQUEUE_READ_CHUNK

    with lsw.session() as s:
        q = FileSystemQueue()
        q.enqueue("before")
        torn = filestore.frame(b"x" * (3 * DEQUEUE_READ_CHUNK))
        with open(queue_home / "sessions" / s.id / "q" / "lazy_answer.log", "ab") as f:
            f.write(torn[: DEQUEUE_READ_CHUNK + 1000])  # the writer died here
        after = [checked_item("after", i, "y" * i) for i in range(50)]
        for item in after:
            q.enqueue(item)
        assert q.size() == 51 and q.peek() == "before"
        got: list[str] = []
        deadline = time.monotonic() + 10
        while len(got) < 51 and time.monotonic() < deadline:
            got += q.dequeue(limit=7)
        assert got == ["before", *after]
        assert q.dequeue() == [] and q.size() == 0


# --------------------------------------------------------------------------- the trace seq lock

_SEQ_LOCK_HOLDER = """
import sys, time
import lazystream_widget as lazyllm
from lazystream_widget.runtime.session import get_backend
sid = lazyllm.current_session().id
def build(seq):                       # runs while append_numbered holds the seq lock
    print("holding", seq, flush=True)
    time.sleep(60)
    return b"never"
get_backend().append_numbered(sid, "lazy_trace", build)
"""


def test_a_process_killed_while_holding_the_trace_seq_lock_does_not_block_the_next(queue_home: Path, figures) -> None:
    with lsw.session() as s:
        first = start_span("before", "module")
        first.end()
        proc = spawn(_SEQ_LOCK_HOLDER, child_env(queue_home, s.id))
        try:
            line = proc.stdout.readline().split()
            assert line[:1] == ["holding"], proc.stderr.read()
            held_seq = int(line[1])
            # while it holds the lock, our trace writes wait (they are numbered in order)...
            done = threading.Event()

            def during() -> None:
                start_span("during", "module").end()
                done.set()

            ctx = contextvars.copy_context()  # the thread writes into our session, as pool work would
            waiter = threading.Thread(target=ctx.run, args=(during,), daemon=True)
            waiter.start()
            assert not done.wait(0.3), "the seq lock did not serialize numbering"
            killed = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            assert done.wait(5), "still blocked on a dead process's seq lock"
            waited = time.monotonic() - killed
        finally:
            proc.kill()
            proc.wait(10)
        assert waited < 2.0
        entries = [json.loads(e) for e in FileSystemQueue("lazy_trace").dequeue()]
        seqs = [e["seq"] for e in entries]
        assert seqs == [1, 2, held_seq + 1, held_seq + 2] and held_seq == 3, seqs
        # the dead writer's number is a visible gap (3), never a duplicate or a torn line
    figures.add("crashes.seq_lock_holder_sigkill", runs=1, max_blocked_after_kill_s=waited)


_SPAN_WRITER = """
import sys
import lazystream_widget as lazyllm
from lazystream_widget.runtime.trace import start_span
big = "x" * int(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    sp = start_span(f"s{i}", "module", {"i": i, "pad": big})
    sp.end({"i": i})
    i += 1
"""


@pytest.mark.backends("file", "redis")
@pytest.mark.slow
def test_a_trace_writer_killed_at_random_points_leaves_only_whole_numbered_lines(queue_home: Path, figures) -> None:
    rnd = random.Random(11)
    reps, checked = 10, 0
    for rep in range(reps):
        with lsw.session():
            proc = spawn(_SPAN_WRITER, child_env(queue_home, lsw.current_session().id), str(rnd.choice([10, 7000])))
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            time.sleep(rnd.uniform(0.01, 0.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            t0 = time.monotonic()
            sp = start_span("after the crash", "module")  # must not wait for the dead writer
            sp.end()
            assert time.monotonic() - t0 < 2.0
            items = FileSystemQueue("lazy_trace").dequeue()
            entries = [json.loads(item) for item in items]  # every line whole
            assert all(item.endswith("\n") and item.count("\n") == 1 for item in items)
            seqs = [e["seq"] for e in entries]
            assert seqs == sorted(set(seqs)), f"rep {rep}: seq not strictly increasing"
            assert seqs[:-2] == list(range(1, len(seqs) - 1)), "a gap before the kill point"
            assert entries[-1]["name"] == "after the crash" and seqs[-1] >= seqs[-2] + 1
            checked += len(entries)
    figures.add("crashes.trace_writer_sigkill_random", runs=reps, entries_checked=checked, torn_lines_delivered=0)


# --------------------------------------------------------------------------- the consumer lock

_CONSUMER = """
import sys
import lazystream_widget as lazyllm
q = lazyllm.FileSystemQueue()
print("ready", flush=True)
while True:
    for item in q.dequeue(limit=int(sys.argv[1])):
        print(item.split("|")[1], flush=True)
"""


@pytest.mark.backends("file", "redis")
@pytest.mark.slow
def test_a_consumer_killed_at_random_points_neither_blocks_nor_duplicates(queue_home: Path, figures) -> None:
    rnd = random.Random(5)
    reps, n_items = 10, 400
    max_wait, lost_with_dead = 0.0, 0
    for rep in range(reps):
        with lsw.session() as s:
            q = FileSystemQueue()
            items = [checked_item("c", i, "q" * rnd.choice([10, 20_000])) for i in range(n_items)]
            for item in items:
                q.enqueue(item)
            limit = rnd.choice([1, 3])
            proc = spawn(_CONSUMER, child_env(queue_home, s.id), str(limit))
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
            time.sleep(rnd.uniform(0.0, 0.05))
            proc.send_signal(signal.SIGKILL)
            out, _ = rest_of_output(proc)
            seen_by_child = [int(x) for x in out.split()]
            t0 = time.monotonic()
            rest = q.dequeue()
            max_wait = max(max_wait, time.monotonic() - t0)
            ours = [parse_checked(item)[1] for item in rest]
            state = f"rep {rep}, limit {limit}, child saw {len(seen_by_child)}: {seen_by_child[-5:]}, we got {ours[:5]}"
            assert seen_by_child == list(range(len(seen_by_child))), state
            gap = (ours[0] if ours else n_items) - len(seen_by_child)
            # items the dead consumer had taken (destructive read) but not yet handed on: at most one batch
            assert 0 <= gap <= limit, f"gap of {gap} items between the dead consumer and the next; {state}"
            assert ours == list(range(len(seen_by_child) + gap, n_items)), f"duplicated, lost or reordered; {state}"
            lost_with_dead += gap
    figures.add("crashes.consumer_sigkill_random", runs=reps, items_checked=reps * n_items, duplicated=0,
                max_dequeue_after_kill_s=max_wait, taken_by_the_dead_consumer=lost_with_dead)


def test_a_consumer_killed_while_holding_the_consumer_lock_does_not_block_the_next(queue_home: Path,
                                                                                   figures) -> None:
    code = """
import os, sys, time
from lazystream_widget.runtime import reading
orig = reading.parse_records
def slow_parse(buf, limit=None, budget=None):    # called inside the consumer lock
    print("holding", flush=True)
    time.sleep(60)
    return orig(buf, limit, budget)
reading.parse_records = slow_parse
import lazystream_widget as lazyllm
lazyllm.FileSystemQueue().dequeue()
"""
    with lsw.session() as s:
        q = FileSystemQueue(session=s)
        q.enqueue("one")
        q.enqueue("two")
        proc = spawn(code, child_env(queue_home, s.id))
        try:
            assert proc.stdout.readline().strip() == "holding", proc.stderr.read()
            got: list[list[str]] = []
            reader = threading.Thread(target=lambda: got.append(q.dequeue()), daemon=True)
            reader.start()
            reader.join(0.3)
            assert reader.is_alive(), "the consumer lock did not serialize consumers"
            killed = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            reader.join(5)
            waited = time.monotonic() - killed
        finally:
            proc.kill()
            proc.wait(10)
        assert not reader.is_alive() and waited < 2.0
        assert got == [["one", "two"]], "the dead consumer committed nothing: the next one gets everything"
    figures.add("crashes.consumer_lock_holder_sigkill", runs=1, max_blocked_after_kill_s=waited)


# --------------------------------------------------------------------------- widget-side runs whose threads fail


def _ended(run: Run, timeout: float = 10.0) -> None:
    try:
        run.wait(timeout)
    except TimeoutError:
        raise AssertionError(f"run still {run.status!r} after {timeout} s") from None
    except BaseException:
        pass


def test_a_run_whose_module_raises_ends_in_error() -> None:
    def module(q: str) -> str:
        FileSystemQueue().enqueue("partial ")
        raise ValueError("the module broke")

    sink = RecordingSink()
    run = Run(module, "q").start(sink)
    with pytest.raises(ValueError, match="the module broke"):
        run.wait(10)
    assert run.status == "error" and run.text == "partial "
    state = run.state()
    assert state["status"] == "error" and state["error"]["type"] == "ValueError"
    assert sink.finished.is_set()


@pytest.mark.parametrize("exc", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()], ids=type)
def test_a_run_whose_thread_dies_of_a_base_exception_ends_in_error(exc: BaseException) -> None:
    def module(q: str) -> str:
        FileSystemQueue().enqueue("partial")
        raise exc

    run = Run(module, "q").start(RecordingSink())
    _ended(run)
    assert run.status == "error" and run.text == "partial"
    assert run.state()["error"]["type"] == type(exc).__name__


class _BrokenSink(RecordingSink):
    def __init__(self, fail_in: str) -> None:
        super().__init__()
        self.fail_in = fail_in

    def run_delta(self, run, text, thinking, entries):
        super().run_delta(run, text, thinking, entries)
        if self.fail_in == "delta":
            raise RuntimeError("the display broke")

    def run_finished(self, run):
        super().run_finished(run)
        if self.fail_in == "finished":
            raise RuntimeError("the display broke at the end")


# a display failing in run_finished is reported through threading.excepthook once the run is over
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("fail_in", ["delta", "finished"])
def test_a_run_whose_pump_thread_fails_never_stays_running(fail_in: str) -> None:
    """The pump (the thread that drains every run's queues into its display) hits a failing display."""
    stop = threading.Event()

    def module(q: str) -> str:
        for i in range(200):
            if stop.is_set():
                break
            FileSystemQueue().enqueue(f"t{i} ")
            time.sleep(0.005)
        return "finished"

    run = Run(module, "q").start(_BrokenSink(fail_in))
    _ended(run)
    stop.set()
    assert run.status != "running" and run.done()
    if fail_in == "delta":
        assert run.status == "error" and isinstance(run.error, RunDisplayError)
        assert "display failed" in run.state()["error"]["message"] and run.state()["status"] == "error"
    else:  # the run itself succeeded; only the last notification failed
        assert run.status == "done" and run.result == "finished"
    assert run.text.startswith("t0 t1 ")
    assert not (Path(get_backend().sessions_dir) / run._session.id).exists(), "the run's session must be closed"


class _MinimalSink:
    """A sink with only the three required notifications (no run_resync)."""

    def run_started(self, run):
        pass

    def run_delta(self, run, text, thinking, entries):
        pass

    def run_finished(self, run):
        pass


class _ResyncFails(_MinimalSink):
    def run_resync(self, run):
        raise RuntimeError("the display broke while resending")


@pytest.mark.parametrize("sink", [_MinimalSink(), _ResyncFails()], ids=["no run_resync", "run_resync raises"])
def test_waiting_on_a_run_returns_its_own_outcome_whatever_the_display_does(sink) -> None:
    run = Run(lambda q: f"answer to {q}", "q").start(sink)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert run.wait(10) == "answer to q"
    assert run.status == "done"


# A run that cannot start (its thread cannot be started, or too many stuck runs): tests/reliability/test_run_threads.py
