"""Redis going away: killed with SIGKILL and restarted mid-stream, or gone for good.

The server runs with its append-only file and ``appendfsync always`` (what users who need durability run): after a
restart it has every write it acknowledged. Producers retry across the outage, consumers and watchers reconnect
and go on from the last id they saw: nothing is lost, nothing is delivered twice. A Redis that does not come back
fails the producer within the retry bound with a clear error; a restart without persistence loses the session, and
everyone is told so.
"""

from __future__ import annotations

import time

import pytest

import lazystream_widget as lsw
from lazystream_widget import limits, settings
from lazystream_widget.attach import attach_run
from lazystream_widget.runner import Run
from lazystream_widget.runtime.backend import QueueUnavailableError, SessionClosedError
from lazystream_widget.runtime.queue import FileSystemQueue

from .helpers import CHILD_HELPERS, child_env, parse_checked, rest_of_output, spawn

pytestmark = pytest.mark.redis

_PRODUCER = CHILD_HELPERS + """
import sys, time
import lazystream_widget as lazyllm
q = lazyllm.FileSystemQueue()
n = int(sys.argv[1])
print("producing", flush=True)
for i in range(n):
    q.enqueue(checked_item("r", i, "x" * (i % 200)))
    time.sleep(0.004)
print("done", flush=True)
"""


def _consume(q: FileSystemQueue, got: list[str], n: int, until: float) -> None:
    while len(got) < n and time.monotonic() < until:
        got += q.dequeue()


@pytest.mark.slow
def test_redis_killed_and_restarted_mid_stream_loses_and_duplicates_nothing(redis_factory, queue_home, figures):
    server = redis_factory(appendonly=True)
    settings.configure(queue=server.url)
    n, kills, outage_s = 900, 2, 1.0
    with lsw.session() as s:
        watcher = attach_run(s.id)  # a second reader, by id, beside the consumer
        proc = spawn(_PRODUCER, child_env(queue_home, s.id, LAZYSTREAM_QUEUE=server.url), str(n))
        assert proc.stdout.readline().strip() == "producing", proc.stderr.read()
        q, got = FileSystemQueue(), []
        for k in range(kills):
            _consume(q, got, (k + 1) * n // (kills + 1), time.monotonic() + 60)
            server.kill()  # SIGKILL: mid-write for someone, most likely
            time.sleep(outage_s)
            server.start()  # same port and data directory: it reloads its append-only file
        _consume(q, got, n, time.monotonic() + 90)
        out, err = rest_of_output(proc, timeout=60)
        assert proc.returncode == 0 and "done" in out, f"the producer did not ride out the restarts:\n{err[-3000:]}"
        indexes = [parse_checked(item)[1] for item in got]
        assert indexes == list(range(n)), (
            f"consumer: {len(indexes)} items, duplicated {len(indexes) - len(set(indexes))}, "
            f"missing {sorted(set(range(n)) - set(indexes))[:10]}"
        )
        deadline = time.monotonic() + 30
        expected = "".join(got)
        while watcher.text != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.text == expected, "the watcher lost or repeated items across the restarts"
        watcher.cancel()
    figures.add("redis.sigkill_restart_aof", restarts=kills, outage_s=outage_s, items_checked=n, lost=0,
                duplicated=0, watchers=1)


def test_a_run_fails_clearly_within_the_bound_when_redis_stays_away(redis_factory, monkeypatch, figures):
    server = redis_factory(appendonly=False)
    settings.configure(queue=server.url)
    monkeypatch.setattr(limits, "REDIS_PRODUCER_RETRY_S", 1.5)

    def stream_forever(query: str) -> str:
        q = FileSystemQueue()
        while True:
            q.enqueue("tick ")
            time.sleep(0.01)

    run = Run(stream_forever, "q").start()
    deadline = time.monotonic() + 20
    while "tick" not in run.text and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()
    killed = time.monotonic()
    with pytest.raises(QueueUnavailableError, match=r"Redis at redis://127\.0\.0\.1:\d+/0 unreachable for 1\.5 s"):
        run.wait(30)
    took = time.monotonic() - killed
    assert run.status == "error" and "tick" in run.text, "the partial answer is kept"
    assert took < 1.5 + 8, f"the run took {took:.1f} s to fail after Redis went away"
    figures.add("redis.producer_gives_up", retry_bound_s=1.5, failed_after_s=took)


def test_a_child_producer_never_hangs_when_redis_stays_away(redis_factory, queue_home):
    server = redis_factory()
    settings.configure(queue=server.url)
    code = "import lazystream_widget as l, time\nq = l.FileSystemQueue()\nprint('up', flush=True)\n" \
           "while True:\n    q.enqueue('x')\n    time.sleep(0.01)\n"
    s = lsw.new_session()  # not closed: Redis is gone for good (its keys would expire)
    proc = spawn(code, child_env(queue_home, s.id, LAZYSTREAM_QUEUE=server.url))
    assert proc.stdout.readline().strip() == "up", proc.stderr.read()
    server.kill()
    killed = time.monotonic()
    _, err = rest_of_output(proc, timeout=limits.REDIS_PRODUCER_RETRY_S + 20)
    assert proc.returncode != 0
    assert time.monotonic() - killed < limits.REDIS_PRODUCER_RETRY_S + 15
    assert "QueueUnavailableError" in err and f"unreachable for {limits.REDIS_PRODUCER_RETRY_S:g} s" in err


def test_a_restart_without_persistence_loses_the_session_and_says_so(redis_factory):
    server = redis_factory(appendonly=False)
    settings.configure(queue=server.url)
    with lsw.session() as s:
        FileSystemQueue().enqueue("before the restart")
        watcher = attach_run(s.id)
        deadline = time.monotonic() + 10
        while watcher.text != "before the restart" and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()
        server.start()
        with pytest.raises(SessionClosedError, match="restarted without persistence"):
            FileSystemQueue().enqueue("after")
        assert watcher.wait(20) is None and watcher.text == "before the restart"
        assert any("without a run-end entry" in n for n in watcher.notices)
