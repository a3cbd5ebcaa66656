"""Sessions and the package's ThreadPoolExecutor: who writes where, and the seed's consumer loop losing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.limits import ACTIVE_CONSUMER_WINDOW_S, DRAIN_GRACE_S
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import Session, current_session, default_session, session
from lazystream_widget.runtime.trace import current_span, span

pytestmark = pytest.mark.backends("file", "redis")


def seed_loop(future) -> list[str]:
    """The seed's consumer loop, exactly (``if dequeue(): ... elif future.done(): break``), collecting instead of
    printing."""
    out: list[str] = []
    while True:
        if value := lazyllm.FileSystemQueue().dequeue():
            out.extend(value)
        elif future.done():
            break
    return out


def producer(n: int, prefix: str = "t") -> str:
    q = lazyllm.FileSystemQueue()
    for i in range(n):
        q.enqueue(f"{prefix}{i} ")
    return "done"


# --------------------------------------------------------------------------- sessions


def test_session_blocks_are_isolated_and_restore_the_outer_session() -> None:
    base = current_session()
    assert base is default_session()
    with session() as a:
        assert current_session() is a and a.owned and not a.closed
        with session() as b:
            assert current_session() is b and b.id != a.id
        assert current_session() is a and b.closed
    assert current_session() is base and a.closed
    assert len(a.id) == 32 and int(a.id, 16) >= 0


def test_session_ids_are_random() -> None:
    ids = {Session().id for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize("bad", ["", "abc", "G" * 32, "0" * 31, "../" + "0" * 29, "0" * 32 + "\n"])
def test_an_invalid_session_id_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid session id"):
        with session(bad):
            pass


def test_lazystream_session_attaches_another_process_to_our_session(child_env) -> None:
    code = """
import lazystream_widget as lazyllm
from lazystream_widget.runtime.session import current_session
s = current_session()
print(s.id, s.owned)
lazyllm.FileSystemQueue().enqueue("from the child")
lazyllm.FileSystemQueue().get_instance("lazy_trace").enqueue("child trace\\n")
"""
    with session() as s:
        proc = subprocess.run([sys.executable, "-c", code], env=child_env(s.id), capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [s.id, "False"]  # attached, not owned
        # the child's exit did not delete our session: its items are still here
        assert FileSystemQueue().dequeue() == ["from the child"]
        assert FileSystemQueue("lazy_trace").dequeue() == ["child trace\n"]


def test_an_invalid_lazystream_session_is_a_clear_error(child_env) -> None:
    code = "import lazystream_widget as lazyllm; lazyllm.FileSystemQueue().enqueue('x')"
    proc = subprocess.run([sys.executable, "-c", code], env=child_env("not-a-session"), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode != 0
    assert "invalid session id 'not-a-session'" in proc.stderr


def test_a_session_id_can_be_attached_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # across processes, and what closing an attached session releases: tests/reliability/test_descriptors.py
    with session() as owner:
        with session(owner.id) as attached:
            assert not attached.owned
            FileSystemQueue().enqueue("via the id")
        assert attached.closed
        # closing an attached session leaves the owner's files alone
        assert FileSystemQueue().dequeue() == ["via the id"]


# --------------------------------------------------------------------------- the pool carries context


def test_the_pool_carries_the_session_and_span_to_workers_and_nested_submissions() -> None:
    seen: dict[str, object] = {}

    def nested() -> None:
        seen["nested session"] = current_session()
        seen["nested span"] = current_span()

    def task(pool: lazyllm.ThreadPoolExecutor) -> None:
        seen["session"] = current_session()
        seen["span"] = current_span()
        seen["thread"] = threading.current_thread().name
        pool.submit(nested).result()

    with session() as s, span("outer", "module") as sp:
        with lazyllm.ThreadPoolExecutor(2) as pool:
            pool.submit(task, pool).result()
    assert seen["session"] is s and seen["nested session"] is s
    assert seen["span"] is sp and seen["nested span"] is sp
    assert seen["thread"] != threading.current_thread().name


def test_two_tasks_from_one_thread_share_its_session() -> None:
    with session() as s:
        with lazyllm.ThreadPoolExecutor(2) as pool:
            a = pool.submit(lambda: current_session())
            b = pool.submit(lambda: current_session())
            assert a.result() is s and b.result() is s


def test_a_plain_thread_writes_to_the_process_default_session() -> None:
    # documented: a plain threading.Thread starts with an empty context, so it uses the process default session
    t = threading.Thread(target=lambda: FileSystemQueue().enqueue("from a plain thread"))
    t.start()
    t.join()
    assert FileSystemQueue().dequeue() == ["from a plain thread"]  # the main thread reads the default session
    with session() as s:
        t = threading.Thread(target=lambda: FileSystemQueue().enqueue("not in the block's session"))
        t.start()
        t.join()
        assert FileSystemQueue().dequeue() == []
        assert FileSystemQueue(session=default_session()).dequeue() == ["not in the block's session"]
        # ...while our pool carries the block's session
        with lazyllm.ThreadPoolExecutor(1) as pool:
            future = pool.submit(FileSystemQueue().enqueue, "pooled")
            assert seed_loop(future) == ["pooled"]
        assert current_session() is s


# --------------------------------------------------------------------------- nothing lost


def test_the_seed_loop_loses_nothing_over_20_runs() -> None:
    expected = [f"t{i} " for i in range(800)]
    for run in range(20):
        with lazyllm.ThreadPoolExecutor(1) as executor:
            future = executor.submit(producer, 800)
            got = seed_loop(future)
        assert future.result() == "done"
        assert got == expected, f"run {run}: got {len(got)} of 800 tokens"
        assert FileSystemQueue().size() == 0, f"run {run} left items for the next run"


def test_a_future_waits_for_an_active_consumer_to_read_its_items() -> None:
    with session():
        q = FileSystemQueue()
        q.dequeue()  # an active consumer
        with lazyllm.ThreadPoolExecutor(1) as executor:
            future = executor.submit(producer, 5)
            time.sleep(0.4)  # the task itself is long finished...
            assert not future.done()  # ...but its items were not read yet
            got = q.dequeue()
            future.result(timeout=2)
        assert got == [f"t{i} " for i in range(5)]


def test_with_no_active_consumer_the_future_completes_at_once() -> None:
    with session():
        with lazyllm.ThreadPoolExecutor(1) as executor:
            t0 = time.monotonic()
            future = executor.submit(producer, 100)
            assert future.result(timeout=DRAIN_GRACE_S + 2) == "done"
            elapsed = time.monotonic() - t0
        assert elapsed < 0.5, f"took {elapsed:.2f} s with nobody reading (grace is {DRAIN_GRACE_S} s)"
        assert FileSystemQueue().size() == 100  # nothing was lost either: it is all still there


def test_a_consumer_that_stopped_reading_delays_the_future_until_it_no_longer_counts_as_active() -> None:
    with session():
        FileSystemQueue().dequeue()  # was active...
        with lazyllm.ThreadPoolExecutor(1) as executor:
            t0 = time.monotonic()
            future = executor.submit(producer, 10)  # ...and reads no more
            future.result(timeout=DRAIN_GRACE_S + 5)
            elapsed = time.monotonic() - t0
        # it waited (the feature is there) while the consumer still counted as active, and no longer
        assert ACTIVE_CONSUMER_WINDOW_S * 0.8 <= elapsed < min(DRAIN_GRACE_S, ACTIVE_CONSUMER_WINDOW_S) + 1.5, elapsed
        assert FileSystemQueue().size() == 10, "nothing was lost while waiting: the items are all still there"


def test_a_consumer_that_keeps_reading_too_slowly_delays_the_future_by_at_most_the_grace() -> None:
    with session() as s:
        q = FileSystemQueue(session=s)  # bound: the slow reader below is a plain thread
        q.dequeue()
        stop = threading.Event()
        got: list[str] = []

        def slow_reader() -> None:  # active all along, but one item every 0.3 s: never caught up within the grace
            while not stop.wait(0.3):
                got.extend(q.dequeue(limit=1))

        reader = threading.Thread(target=slow_reader)
        reader.start()
        try:
            with lazyllm.ThreadPoolExecutor(1) as executor:
                t0 = time.monotonic()
                future = executor.submit(producer, 30)
                future.result(timeout=DRAIN_GRACE_S + 5)
                elapsed = time.monotonic() - t0
        finally:
            stop.set()
            reader.join(5)
        assert DRAIN_GRACE_S - 0.3 <= elapsed < DRAIN_GRACE_S + 1.5, f"done after {elapsed:.2f} s"
        assert 0 < len(got) < 30 and got == [f"t{i} " for i in range(len(got))]
        assert q.size() == 30 - len(got), "the rest stays for the reader: nothing lost"


def test_twenty_concurrent_runs_in_their_own_sessions_never_mix() -> None:
    n_runs, n_tokens = 20, 150
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(n_runs)

    def run(r: int) -> None:
        try:
            with session():
                start.wait()
                with lazyllm.ThreadPoolExecutor(1) as executor:
                    future = executor.submit(producer, n_tokens, f"r{r}-")
                    results[r] = seed_loop(future)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in range(n_runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    for r in range(n_runs):
        assert results[r] == [f"r{r}-{i} " for i in range(n_tokens)], f"run {r} got foreign or missing tokens"


def test_a_consumer_in_another_process_counts_as_active(child_env) -> None:
    # a slow consumer in another process: it polls every 0.3 s and reports when each successful poll began
    code = """
import json, time
import lazystream_widget as lazyllm
q = lazyllm.FileSystemQueue()
got = []
print("polling", flush=True)
end = time.monotonic() + 20
while len(got) < 3 and time.monotonic() < end:
    began = time.time()
    items = q.dequeue()
    if items:
        got += items
        print(json.dumps([began, items]), flush=True)
    time.sleep(0.3)
"""
    with session() as s:
        child = subprocess.Popen([sys.executable, "-c", code], env=child_env(s.id), stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "polling"
            time.sleep(0.5)  # it has polled: an active consumer of our answer queue
            with lazyllm.ThreadPoolExecutor(1) as executor:
                future = executor.submit(producer, 3)
                while not future.done():
                    time.sleep(0.001)
                done_at = time.time()
            reads = [json.loads(line) for line in child.stdout]
        finally:
            child.kill()
            child.wait(10)
    assert [item for _, items in reads for item in items] == ["t0 ", "t1 ", "t2 "]
    last_read_began = reads[-1][0]
    assert last_read_began <= done_at, "the future was done before the other process had read the items"


def test_a_consumer_of_the_answer_only_is_not_held_up_by_trace_entries() -> None:
    def traced_producer() -> str:
        with span("work", "module"):
            return producer(5)

    with session():
        with lazyllm.ThreadPoolExecutor(1) as executor:
            t0 = time.monotonic()
            future = executor.submit(traced_producer)
            got = seed_loop(future)  # reads the answer queue only, as the seed's quick start does
            elapsed = time.monotonic() - t0
        assert got == [f"t{i} " for i in range(5)]
        assert elapsed < 0.8, f"the seed loop waited {elapsed:.2f} s for trace entries it never reads"
        assert FileSystemQueue("lazy_trace").size() == 2  # still there for whoever wants them
