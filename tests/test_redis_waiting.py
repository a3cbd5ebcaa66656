"""Waiting for Redis sessions: one reader thread per process, whatever the number of waiting sessions.

Watchers, the pump and empty ``dequeue()`` calls all wait in the backend's one blocking XREAD
(``runtime/redis_reader.py``), woken by appends from any process. Every test talks to a real redis-server.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time

import pytest

import lazystream_widget as lsw
from lazystream_widget import settings
from lazystream_widget.runtime import queue as queue_mod
from lazystream_widget.runtime import redis_reader
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.redis_backend import RedisBackend
from lazystream_widget.runtime.session import get_backend

pytestmark = [pytest.mark.redis, pytest.mark.backends("redis")]

READER = "lazystream-redis-reader"

# appends one item to each session named on the command line, once told to go (a line on stdin)
_APPENDER = """
import sys, lazystream_widget as lsw
queues = [lsw.FileSystemQueue(session=lsw.Session(sid)) for sid in sys.argv[1:]]
print("ready", flush=True)
sys.stdin.readline()
for i, q in enumerate(queues):
    q.enqueue(f"item {i}")
print("done", flush=True)
"""


def readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == READER and t.is_alive()]


def our_connections(server) -> int:
    with server.client() as client:
        return sum(1 for c in client.client_list() if c.get("name") == "lazystream-widget")


def appender(child_env, session_ids: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _APPENDER, *session_ids], env=child_env(), text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def wait_until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_two_hundred_waiting_sessions_share_one_reader_thread_and_connection(redis_server, child_env) -> None:
    # an earlier test's reader (another backend: Redis is emptied per test) ends within two idle blocks
    assert wait_until(lambda: not readers(), 10), "an earlier test's reader thread never ended"
    sessions = [lsw.new_session() for _ in range(200)]
    watchers = [s.watcher() for s in sessions]
    try:
        assert len(readers()) == 1, "one reader thread serves every waiting session"
        assert our_connections(redis_server) <= 4, "the waiting sessions hold no connection each"
        proc = appender(child_env, [s.id for s in sessions])
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.wait(60) == 0, proc.stderr.read()
        woken = [w.wait(10) for w in watchers]  # returns at once for a watcher already woken
        assert woken.count(True) == 200, f"{woken.count(False)} watchers never saw their session's append"
        assert [FileSystemQueue(session=s).dequeue() for s in sessions] == [[f"item {i}"] for i in range(200)]
        assert [w.wait(0.01) for w in watchers[:5]] == [False] * 5, "a watcher reports each change once"
        assert len(readers()) == 1
    finally:
        for w in watchers:
            w.close()
        for s in sessions:
            s.close()
    assert wait_until(lambda: not readers(), 10), "the reader ends once nobody waits"


def test_an_empty_dequeue_is_woken_by_an_append_from_another_process(child_env, monkeypatch) -> None:
    with lsw.session() as s:
        q = FileSystemQueue()
        assert q.dequeue() == []  # an empty dequeue: from now on the session's appends wake the next ones
        monkeypatch.setattr(queue_mod, "EMPTY_DEQUEUE_WAIT_S", 8.0)  # so long that only a wake-up ends it early
        proc = appender(child_env, [s.id])
        threading.Timer(0.3, lambda: (proc.stdin.write("go\n"), proc.stdin.flush())).start()
        t0 = time.monotonic()
        got = q.dequeue()
        waited = time.monotonic() - t0
        assert proc.wait(30) == 0, proc.stderr.read()
        assert got == ["item 0"]
        assert waited < 5, f"the empty dequeue slept {waited:.1f} s: the append from another process never woke it"


def test_a_session_watched_while_the_reader_blocks_is_followed_at_once(redis_server, monkeypatch) -> None:
    monkeypatch.setattr(redis_reader, "_BLOCK_MS", 4000)  # the reader's XREAD would not return on its own soon
    backend = RedisBackend(redis_server.url)  # its own reader, started with that block
    try:
        with lsw.session() as first, lsw.session() as second:
            w1 = backend.watcher(first.id)
            time.sleep(0.3)  # the reader blocks, on the first session's streams only
            w2 = backend.watcher(second.id)  # the reader must re-issue its XREAD to include these
            FileSystemQueue(session=second).enqueue("x")  # by another backend: no in-process shortcut
            t0 = time.monotonic()
            assert w2.wait(3.5) is True, "a session added while the reader blocked was not followed"
            assert time.monotonic() - t0 < 2.5
            assert w1.wait(0.05) is False
            w1.close()
            w2.close()
    finally:
        backend.shutdown()
    assert wait_until(lambda: not backend.reader.running, 10)


def test_waiters_wake_again_after_redis_is_killed_and_restarted(redis_factory, monkeypatch) -> None:
    server = redis_factory(appendonly=True)
    settings.configure(queue=server.url)
    with lsw.session() as s:
        q = FileSystemQueue()
        assert q.dequeue() == []
        monkeypatch.setattr(queue_mod, "EMPTY_DEQUEUE_WAIT_S", 8.0)
        w = s.watcher()
        server.kill()
        time.sleep(0.5)
        server.start()
        # back: the reader reconnects and wakes everyone once (something may have come meanwhile)
        assert wait_until(lambda: w.wait(0.2), 15), "the watcher never came back after the restart"
        assert w.wait(0.3) is False
        other = RedisBackend(server.url)  # writes like another process would: no in-process shortcut
        try:
            threading.Timer(0.3, other.append, args=(s.id, "lazy_answer", b"after")).start()
            t0 = time.monotonic()
            assert q.dequeue() == ["after"]
            assert time.monotonic() - t0 < 5, "the empty dequeue was not woken after the restart"
            other.append(s.id, "lazy_answer", b"again")
            assert w.wait(10) is True
        finally:
            other.shutdown()
        w.close()


def test_releasing_a_session_lets_go_of_its_waits(redis_server) -> None:
    backend = get_backend()
    with lsw.session() as s:
        FileSystemQueue().dequeue()  # an empty dequeue: the session is followed for its next ones
        assert s.id in backend._waits and readers()
    assert s.id not in backend._waits, "closing the session dropped its dequeue waits"
    assert wait_until(lambda: not readers(), 10), "the reader thread outlived every wait"


def test_the_pumps_watch_set_names_the_queues_that_changed_and_stays_quiet_while_parked(redis_server) -> None:
    watch = get_backend().watch_set()
    with lsw.session() as s:
        watch.add("run", s.id)
        try:
            FileSystemQueue("lazy_trace", session=s).enqueue("a trace line")
            changed, woken = watch.wait(10)
            assert (changed, woken) == ({"run": {"lazy_trace.log"}}, False), "the pump drains only that queue"
            watch.park("run")
            FileSystemQueue(session=s).enqueue("while parked")
            assert watch.wait(0.3) == ({}, False)
            watch.unpark("run")
            FileSystemQueue(session=s).enqueue("after")
            assert watch.wait(10)[0] == {"run": {"lazy_answer.log"}}
        finally:
            watch.remove("run")
            watch.close()


def test_a_reader_that_redis_refuses_says_so_once_and_never_shows_the_password(redis_factory, caplog) -> None:
    secret = "n0-xread-s3cret"
    server = redis_factory()
    with server.client() as client:  # a user that may do everything but block in XREAD
        client.acl_setuser("noxread", enabled=True, passwords=[f"+{secret}"], keys=["*"], commands=["+@all", "-xread"])
    backend = RedisBackend(f"redis://noxread:{secret}@127.0.0.1:{server.port}/0")
    caplog.set_level(logging.WARNING, logger="lazystream_widget.queue")
    try:
        with lsw.session() as s:
            watcher = backend.watcher(s.id)
            time.sleep(1.0)  # the reader tries, is refused, and retries with backoff
            assert watcher.wait(0.1) is False
            watcher.close()
    finally:
        backend.shutdown()
    said = [r.getMessage() for r in caplog.records if "reader" in r.getMessage()]
    assert len(said) == 1, f"said once, whatever the retries: {said}"
    assert "NoPermissionError" in said[0] and "'xread'" in said[0] and "noxread:***@" in said[0]
    assert not [m for m in said if secret in m]
