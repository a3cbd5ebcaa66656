"""The Redis Streams backend: choosing it, what it keeps and for how long, bounds, and a password never shown.

Every test talks to a real redis-server on loopback (the suite's shared one, or a private one from ``redis_factory``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest

import lazystream_widget as lsw
from lazystream_widget import settings
from lazystream_widget.attach import SessionNotFoundError, attach_run
from lazystream_widget.limits import REDIS_SESSION_EXPIRY_S
from lazystream_widget.runtime import session as session_mod
from lazystream_widget.runtime.backend import QueueUnavailableError, SessionClosedError
from lazystream_widget.runtime.filestore import FileBackend
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.redis_backend import RedisBackend
from lazystream_widget.runtime.session import get_backend

pytestmark = pytest.mark.redis


def session_keys(client, sid: str) -> list[bytes]:
    return sorted(client.keys(f"lsw:{{{sid}}}:*"))


# --------------------------------------------------------------------------- choosing the backend


@pytest.mark.backends("redis")
def test_the_environment_variable_chooses_redis_and_the_api_is_unchanged(redis_server) -> None:
    assert isinstance(get_backend(), RedisBackend)
    with lsw.session() as s:
        q = FileSystemQueue()
        q.enqueue("héllo")
        q.get_instance("lazy_trace").enqueue("line\n")
        assert (q.size(), q.peek()) == (1, "héllo")
        assert q.dequeue() == ["héllo"] and q.dequeue() == []
        assert FileSystemQueue("lazy_trace").dequeue() == ["line\n"]
        with redis_server.client() as client:
            assert client.xlen(f"lsw:{{{s.id}}}:q:lazy_answer") == 1, "dequeue moves a position; it deletes nothing"


def test_configure_switches_new_sessions_and_open_ones_keep_their_backend(redis_server) -> None:
    with lsw.session() as on_files:
        assert isinstance(on_files.backend, FileBackend)
        FileSystemQueue().enqueue("file item")
        settings.configure(queue=redis_server.url)
        with lsw.session() as on_redis:
            assert isinstance(on_redis.backend, RedisBackend)
            FileSystemQueue().enqueue("redis item")
            assert FileSystemQueue().dequeue() == ["redis item"]
        assert FileSystemQueue().dequeue() == ["file item"], "an open session never moves to another backend"
    # the process default session follows the setting too
    assert isinstance(lsw.current_session().backend, RedisBackend)
    settings.configure(queue=None)
    assert isinstance(lsw.current_session().backend, FileBackend)


def test_a_bad_queue_setting_is_a_clear_error_that_hides_the_password() -> None:
    with pytest.raises(ValueError, match=r"'file' \(the default\) or a Redis URL.*got 'http://u:\*\*\*@host/'") as info:
        settings.configure(queue="http://u:hunter2@host/")
    assert "hunter2" not in str(info.value)
    assert settings.configure(queue="file")["queue"] is None


def test_redis_unreachable_fails_within_the_retry_bound_with_a_clear_error(monkeypatch) -> None:
    from lazystream_widget import limits
    from lazystream_widget.testing.redis_server import _free_port

    monkeypatch.setattr(limits, "REDIS_PRODUCER_RETRY_S", 1.0)
    settings.configure(queue=f"redis://127.0.0.1:{_free_port()}/0")
    t0 = time.monotonic()
    with pytest.raises(QueueUnavailableError, match=r"Redis at redis://127\.0\.0\.1:\d+/0 unreachable for 1 s "
                                                    r"while trying to create a session.*redis-server running"):
        lsw.new_session()
    assert time.monotonic() - t0 < 8


# --------------------------------------------------------------------------- what is kept, and for how long


@pytest.mark.backends("redis")
def test_every_key_of_a_session_expires_and_closing_keeps_it_readable_for_a_day(redis_server) -> None:
    with redis_server.client() as client:
        with lsw.session() as s:
            FileSystemQueue().enqueue("a")
            FileSystemQueue("lazy_trace").enqueue("t\n")
            assert FileSystemQueue().dequeue() == ["a"]
            keys = session_keys(client, s.id)
            assert len(keys) >= 6
            assert all(client.ttl(k) > 0 for k in keys), "a key without expiry would stay in Redis forever"
        assert get_backend().session_state(s.id) == "ended"
        ttls = [client.ttl(k) for k in session_keys(client, s.id)]
        assert ttls and all(REDIS_SESSION_EXPIRY_S - 60 < t <= REDIS_SESSION_EXPIRY_S for t in ttls)
        with pytest.raises(SessionClosedError, match="was closed by its owner"):
            get_backend().append(s.id, "lazy_answer", b"late")


@pytest.mark.backends("redis")
def test_sessions_expire_after_the_configured_time(redis_server) -> None:
    settings.configure(queue_expiry="1s")
    with lsw.session() as s:
        FileSystemQueue().enqueue("short-lived")
    with redis_server.client() as client:
        assert session_keys(client, s.id)
        deadline = time.monotonic() + 10
        while session_keys(client, s.id) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session_keys(client, s.id) == [], "the session outlived its expiry"
    assert get_backend().session_state(s.id) == "missing"
    with pytest.raises(SessionNotFoundError, match="expired"):
        attach_run(s.id)
    with pytest.raises(SessionClosedError, match="does not exist"):
        lsw.Session(s.id)  # a producer cannot attach to it either


@pytest.mark.backends("redis")
def test_streams_are_bounded_by_maxlen_and_a_late_watcher_is_told(redis_server) -> None:
    backend = RedisBackend(redis_server.url, maxlen=100)
    session_mod.set_backend(backend)
    try:
        with lsw.session() as s:
            q = FileSystemQueue()
            for i in range(2000):
                q.enqueue(f"{i} ")
            with redis_server.client() as client:
                length = client.xlen(f"lsw:{{{s.id}}}:q:lazy_answer")
            assert 100 <= length <= 300, f"the stream holds {length} items, not about MAXLEN=100"
            watcher = attach_run(s.id)
            deadline = time.monotonic() + 10
            while not watcher.text.endswith("1999 ") and time.monotonic() < deadline:
                time.sleep(0.02)
            assert watcher.text.endswith("1999 ") and not watcher.text.startswith("0 ")
            assert any(f"the first {2000 - length} items of lazy_answer were trimmed" in n for n in watcher.notices)
            watcher.cancel()
    finally:
        session_mod.set_backend(None)


@pytest.mark.backends("redis")
def test_numbered_trace_entries_keep_their_order_across_processes(child_env) -> None:
    code = """
from lazystream_widget.runtime.trace import start_span
for i in range(200):
    start_span(f"child {i}", "module").end()
"""
    from lazystream_widget.runtime.trace import start_span

    with lsw.session() as s:
        child = subprocess.Popen([sys.executable, "-c", code], env=child_env(s.id))
        for i in range(200):
            start_span(f"parent {i}", "module").end()
        assert child.wait(60) == 0
        entries = [json.loads(x) for x in FileSystemQueue("lazy_trace").dequeue()]
    assert [e["seq"] for e in entries] == list(range(1, 801)), "numbers out of queue order, repeated or missing"


@pytest.mark.backends("redis")
def test_an_item_the_numbering_cannot_place_is_numbered_in_a_transaction() -> None:
    with lsw.session() as s:
        pos = s.backend.append_numbered(s.id, "lazy_trace", lambda seq: b"no number in here\n")
        pos2 = s.backend.append_numbered(s.id, "lazy_trace", lambda seq: f'{{"seq":{seq}}}\n'.encode())
        assert pos2 > pos
        assert FileSystemQueue("lazy_trace").dequeue() == ["no number in here\n", '{"seq":2}\n']


# --------------------------------------------------------------------------- a password never shown

SECRET = "pw-LSW-redis-DO-NOT-SHOW-7391"


def test_a_password_protected_redis_works_and_its_password_never_appears(redis_factory, monkeypatch, caplog,
                                                                           capfd, child_env, tmp_path) -> None:
    caplog.set_level(logging.DEBUG)
    server = redis_factory(password=SECRET)
    url = server.url
    assert SECRET in url
    shown: list[str] = []
    shown.append(repr(settings.configure(queue=url)))
    backend = get_backend()
    shown += [repr(backend), backend.describe(), str(lsw.configure())]

    def agent(query: str) -> str:
        from lazystream_widget.runtime.trace import span

        with span("secretive", "tool", {"q": query}):
            FileSystemQueue().enqueue("streamed through a password-protected Redis")
        return "ok"

    view = lsw.StreamView(agent, display=False)
    run = view.ask("hello", wait=True)
    assert run.text == "streamed through a password-protected Redis"
    watcher = lsw.StreamView.attach(run.session_id, display=False)
    watcher.last_run.wait(20)
    assert watcher.last_run.text == run.text
    shown += [json.dumps(view.runs), json.dumps(watcher.runs), run.trace_tree(), repr(run), repr(watcher)]

    # a worker in another process, given the URL in its environment
    (tmp_path / "pw_agent.py").write_text("def agent(q):\n    import lazystream_widget as l\n"
                                          "    l.FileSystemQueue().enqueue('from the worker')\n    return 'w'\n")
    proc = subprocess.run([sys.executable, "-m", "lazystream_widget.worker", "pw_agent:agent", "q"], cwd=tmp_path,
                          env=child_env(PYTHONPATH=str(tmp_path), LAZYSTREAM_QUEUE=url), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown += [proc.stdout, proc.stderr]

    # the errors: wrong credentials, Redis away, a malformed URL
    wrong = url.replace(SECRET, SECRET + "-wrong")
    with pytest.raises(PermissionError, match=r"refused the credentials") as bad_auth:
        RedisBackend(wrong).create_session("f" * 32, owned=True)
    shown.append(str(bad_auth.value))
    from lazystream_widget import limits

    monkeypatch.setattr(limits, "REDIS_PRODUCER_RETRY_S", 0.5)
    server.kill()
    with pytest.raises(QueueUnavailableError) as away:
        lsw.new_session()
    shown.append(str(away.value))
    with pytest.raises(ValueError) as malformed:
        settings.configure(queue=f"ftp://user:{SECRET}@host")
    shown.append(str(malformed.value))

    out, err = capfd.readouterr()
    shown += [out, err, caplog.text]
    leaks = [text for text in shown if SECRET in text]
    assert leaks == [], f"the password appeared in: {[t[:200] for t in leaks]}"
    assert ":***@127.0.0.1" in str(away.value) and ":***@127.0.0.1" in backend.describe()  # masked, yet useful
