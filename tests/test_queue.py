"""FileSystemQueue and its file backend, on real files under a per-test queue home.

Covers ordering, limits, names and types, isolation between sessions, concurrency (threads and processes), crash
safety (torn records, a SIGKILLed writer, a SIGKILLed lock holder), file permissions, the cost of polling, the session
watcher and the sweep of dead owners' sessions.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from lazystream_widget.runtime import filestore
from lazystream_widget.runtime.filestore import FileBackend, QueueHomeError
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import get_backend, new_session, session
from lazystream_widget.runtime.trace import start_span

# the queue API on both backends; what is about files (layout, torn records, locks, modes, sweep) on files only
pytestmark = pytest.mark.backends("file", "redis")
file_only = pytest.mark.backends("file")


def run_child(code: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def drain(q: FileSystemQueue, expected: int, timeout: float = 10.0) -> list[str]:
    """Dequeue until ``expected`` items arrived (or the timeout passed)."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got += q.dequeue()
    return got


def log_path(home: Path, sid: str, queue: str = "lazy_answer") -> Path:
    return home / "sessions" / sid / "q" / f"{queue}.log"


# --------------------------------------------------------------------------- basics


def test_items_come_out_in_fifo_order() -> None:
    with session():
        q = FileSystemQueue()
        items = [f"item {i}" for i in range(200)]
        for item in items:
            q.enqueue(item)
        assert q.dequeue() == items
        assert q.dequeue() == []


def test_dequeue_limit_takes_the_oldest_items_first() -> None:
    with session():
        q = FileSystemQueue()
        for i in range(10):
            q.enqueue(str(i))
        assert q.dequeue(3) == ["0", "1", "2"]
        assert q.dequeue(limit=5) == ["3", "4", "5", "6", "7"]
        assert q.dequeue(100) == ["8", "9"]
        assert q.dequeue(1) == []
        for bad in (0, -1, 1.5, "2"):
            with pytest.raises(ValueError, match="positive int"):
                q.dequeue(bad)  # type: ignore[arg-type]


def test_peek_size_and_clear() -> None:
    with session():
        q = FileSystemQueue()
        assert q.peek() is None and q.size() == 0
        q.enqueue("a")
        q.enqueue("b")
        assert q.peek() == "a"
        assert q.peek() == "a"  # peek does not consume
        assert q.size() == 2
        assert q.dequeue(1) == ["a"]
        assert q.size() == 1 and q.peek() == "b"
        q.clear()
        assert q.size() == 0 and q.peek() is None and q.dequeue() == []
        q.enqueue("c")  # the queue still works after clear
        assert q.dequeue() == ["c"]


def test_unicode_and_empty_strings_round_trip() -> None:
    items = ["", "héllo", "日本語のテキスト", "emoji 🎉🚀", "line\nbreak\r\n", "nul\x00inside", " ",
             "\ud800 lone surrogate",
             "x" * 100_000]
    with session():
        q = FileSystemQueue()
        for item in items:
            q.enqueue(item)
        assert q.size() == len(items)
        assert q.dequeue() == items


@pytest.mark.parametrize("value", [b"bytes", 1, None, {"a": 1}, ["x"]])
def test_enqueue_refuses_non_strings_with_a_clear_message(value: object) -> None:
    with session():
        q = FileSystemQueue()
        with pytest.raises(TypeError, match=rf"takes a str, got {type(value).__name__}.*json\.dumps"):
            q.enqueue(value)  # type: ignore[arg-type]
        assert q.size() == 0


@pytest.mark.parametrize("value", [b"bytes", 1, None, {"a": 1}, ["x"]])
def test_a_queue_bound_to_a_session_refuses_non_strings_after_its_first_item_too(value: object) -> None:
    """A bound queue's enqueue becomes its appender after the first item (the hot path): same refusal."""
    with session() as s:
        q = FileSystemQueue(session=s)
        q.enqueue("first")
        with pytest.raises(TypeError, match=rf"takes a str, got {type(value).__name__}.*json\.dumps"):
            q.enqueue(value)  # type: ignore[arg-type]
        assert q.dequeue() == ["first"]


@file_only
def test_a_bound_queue_of_a_closed_session_raises_a_short_session_closed_error() -> None:
    import traceback

    from lazystream_widget.runtime.backend import SessionClosedError

    s = new_session()
    q = FileSystemQueue(session=s)
    assert q.enqueue("before") is None
    s.close()
    with pytest.raises(SessionClosedError) as info:
        q.enqueue("after")
    frames = traceback.extract_tb(info.value.__traceback__)
    assert len(frames) <= 2, [f.name for f in frames]  # the user's call (and the call into the library)
    assert info.value.full_traceback is not None


@pytest.mark.parametrize(
    "name", ["../x", ".hidden", "a" * 65, "", "a/b", "-dash", "x.log", "sp ace", "/abs", "trailing\n"]
)
def test_invalid_queue_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid queue name"):
        FileSystemQueue(name)
    with pytest.raises(ValueError, match="invalid queue name"):
        FileSystemQueue().get_instance(name)


@file_only
def test_valid_queue_names_are_separate_queues(queue_home: Path) -> None:
    with session() as s:
        names = ["a" * 64, "lazy_trace", "my-queue.v2", "_x"]
        for name in names:
            FileSystemQueue().get_instance(name).enqueue(name)
        for name in names:
            assert FileSystemQueue(name).dequeue() == [name]
        assert FileSystemQueue().dequeue() == []
        # every file stays inside the session's directory
        files = {p.name for p in (queue_home / "sessions" / s.id / "q").iterdir()}
        assert files == {f"{n}.log" for n in [*names, "lazy_answer"]}


def test_sessions_never_see_each_others_items() -> None:
    with session() as a, session() as b:
        qa, qb = FileSystemQueue(session=a), FileSystemQueue(session=b)
        qa.enqueue("for a")
        qb.get_instance("lazy_trace").enqueue("trace for b")
        assert qb.dequeue() == [] and qb.size() == 0
        assert qa.get_instance("lazy_trace").dequeue() == []
        assert qa.dequeue() == ["for a"]
        assert qb.get_instance("lazy_trace").dequeue() == ["trace for b"]
    # without an explicit session, the queue resolves the innermost session() of the block
    with session() as outer:
        FileSystemQueue().enqueue("outer")
        with session() as inner:
            FileSystemQueue().enqueue("inner")
            assert FileSystemQueue().dequeue() == ["inner"]
            assert FileSystemQueue(session=outer).size() == 1
        assert inner.closed
        assert FileSystemQueue().dequeue() == ["outer"]


@file_only
def test_closing_an_owned_session_deletes_its_files(queue_home: Path) -> None:
    with session() as s:
        FileSystemQueue().enqueue("left behind")
        sdir = queue_home / "sessions" / s.id
        assert sdir.is_dir()
    assert not sdir.exists()


# --------------------------------------------------------------------------- concurrency


def test_many_threads_enqueue_at_once() -> None:
    n_threads, per_thread = 8, 400
    with session() as s:
        q = FileSystemQueue(session=s)
        start = threading.Barrier(n_threads + 1)

        def produce(t: int) -> None:
            start.wait()
            for i in range(per_thread):
                q.enqueue(f"{t}:{i}")

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        start.wait()
        got = drain(q, n_threads * per_thread)  # read while they write
        for th in threads:
            th.join()
        got += q.dequeue()
    assert len(got) == n_threads * per_thread
    for t in range(n_threads):
        mine = [int(x.split(":")[1]) for x in got if x.startswith(f"{t}:")]
        assert mine == list(range(per_thread)), f"thread {t}'s items out of order or missing"


def test_a_producer_in_another_process_reaches_the_consumer(child_env) -> None:
    n = 2000
    code = f"""
import lazystream_widget as lazyllm
q = lazyllm.FileSystemQueue()
for i in range({n}):
    q.enqueue(f"p{{i}} ünï")
"""
    with session() as s:
        proc = subprocess.Popen([sys.executable, "-c", code], env=child_env(s.id), stderr=subprocess.PIPE, text=True)
        got = drain(FileSystemQueue(), n, timeout=30)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert got == [f"p{i} ünï" for i in range(n)]
        # the producer attached to our session: it must not have deleted it on exit
        FileSystemQueue().enqueue("still here")
        assert FileSystemQueue().dequeue() == ["still here"]


# --------------------------------------------------------------------------- crash safety


@file_only
@pytest.mark.parametrize("cut", ["inside the header", "inside the payload"])
def test_a_torn_record_is_never_delivered(queue_home: Path, cut: str) -> None:
    with session() as s:
        q = FileSystemQueue()
        q.enqueue("before")
        torn = filestore.frame(("torn " * 400).encode())
        keep = 7 if cut == "inside the header" else filestore.HEADER_SIZE + 100
        with open(log_path(queue_home, s.id), "ab") as f:
            f.write(torn[:keep])  # a writer died here
        # later writers go on; together they are much shorter than what the torn header declares
        q.enqueue("after 1")
        q.enqueue("after 2 — ünicode")
        assert q.size() == 3
        assert q.peek() == "before"
        assert drain(q, 3, timeout=2) == ["before", "after 1", "after 2 — ünicode"]
        assert q.dequeue() == []


@file_only
def test_a_torn_tail_waits_and_is_skipped_once_a_record_follows(queue_home: Path) -> None:
    with session() as s:
        q = FileSystemQueue()
        q.enqueue("first")
        record = filestore.frame(b"never complete")
        with open(log_path(queue_home, s.id), "ab") as f:
            f.write(record[:-3])
        assert q.dequeue() == ["first"]
        assert q.dequeue() == []  # the torn tail is not an item
        assert q.size() == 0 and q.peek() is None
        q.enqueue("next")
        assert q.dequeue() == ["next"]


@file_only
def test_a_writer_killed_mid_stream_leaves_only_intact_items(queue_home: Path, child_env) -> None:
    # Large items, so that SIGKILL can land in the middle of a write() and tear a record (it does in about one kill
    # of five): repeat until the log shows a torn tail; the contract is checked after every kill.
    filler = "abcdefghij" * 200_000
    code = """
import lazystream_widget as lazyllm
q = lazyllm.FileSystemQueue()
filler = "abcdefghij" * 200_000
i = 0
while True:
    q.enqueue(f"{i}|{filler}|{i}")
    i += 1
    if i == 3:
        print("writing", flush=True)
"""
    torn_seen = False
    for _attempt in range(15):
        with session() as s:
            proc = subprocess.Popen([sys.executable, "-c", code], env=child_env(s.id), stdout=subprocess.PIPE,
                                    text=True)
            assert proc.stdout.readline().strip() == "writing"
            time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            assert proc.returncode == -signal.SIGKILL
            raw = log_path(queue_home, s.id).read_bytes()
            torn_seen |= filestore.unframe(raw)[1] != len(raw)
            q = FileSystemQueue()
            got = []
            while batch := q.dequeue():  # one dequeue hands over about DEQUEUE_MAX_BYTES; the rest comes next
                got += batch
            assert len(got) >= 3
            for i, item in enumerate(got):
                assert item == f"{i}|{filler}|{i}", f"item {i} is not intact"
            # the session goes on: a new item after the (possibly torn) tail arrives, and only it
            q.enqueue("after the crash")
            assert drain(q, 1, timeout=2) == ["after the crash"]
        if torn_seen:
            break
    print("a torn tail was produced and skipped" if torn_seen else "no kill tore a record this time")


@file_only
def test_a_lock_holder_killed_with_sigkill_does_not_block_the_next_dequeue(queue_home: Path, child_env) -> None:
    with session() as s:
        q = FileSystemQueue(session=s)  # bound: the reader below is a plain thread
        q.enqueue("x")  # so that dequeue takes the lock (an empty poll does not)
        assert q.size() == 1  # a consumer's first call makes the lock file (writers never open it)
        lock_file = queue_home / "sessions" / s.id / "lazy_answer.lock"
        assert lock_file.exists()
        code = f"""
import os, time, filelock
fd = os.open({str(lock_file)!r}, os.O_RDWR)
filelock.lock_descriptor(fd)
print("locked", flush=True)
time.sleep(60)
"""
        holder = subprocess.Popen([sys.executable, "-c", code], env=child_env(), stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            result: list[list[str]] = []
            reader = threading.Thread(target=lambda: result.append(q.dequeue()), daemon=True)
            reader.start()
            reader.join(0.5)
            assert reader.is_alive(), "dequeue did not wait for the lock held by another process"
            killed_at = time.monotonic()
            holder.send_signal(signal.SIGKILL)
            reader.join(5)
            assert not reader.is_alive(), "dequeue still blocked after the lock holder died"
            assert time.monotonic() - killed_at < 3
            assert result == [["x"]]
        finally:
            holder.kill()
            holder.wait(5)


# --------------------------------------------------------------------------- permissions


def _modes(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    dirs, files = {str(root): stat.S_IMODE(root.stat().st_mode)}, {}
    for path in root.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        (dirs if path.is_dir() else files)[str(path.relative_to(root))] = mode
    return dirs, files


@file_only
def test_home_directories_are_0700_and_files_0600(queue_home: Path) -> None:
    old = os.umask(0)  # the strictest check: nothing may rely on the umask
    try:
        with session():
            q = FileSystemQueue()
            q.enqueue("a")
            q.get_instance("lazy_trace").enqueue("t\n")
            start_span("x", "module").end()  # makes the session's seq file
            assert q.dequeue() == ["a"]
            dirs, files = _modes(queue_home)
    finally:
        os.umask(old)
    assert {"sessions"} <= set(dirs) and len(dirs) >= 4 and len(files) >= 6
    assert {k: oct(v) for k, v in dirs.items() if v != 0o700} == {}
    assert {k: oct(v) for k, v in files.items() if v != 0o600} == {}


@file_only
def test_an_existing_home_with_loose_permissions_is_tightened(queue_home: Path) -> None:
    queue_home.mkdir(mode=0o755)
    os.chmod(queue_home, 0o755)
    with session():
        FileSystemQueue().enqueue("x")
    assert stat.S_IMODE(queue_home.stat().st_mode) == 0o700


@file_only
def test_a_home_that_is_a_symlink_is_refused(queue_home: Path, tmp_path: Path) -> None:
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    queue_home.symlink_to(real)
    with pytest.raises(QueueHomeError, match="not a directory"):
        FileBackend(str(queue_home)).create_session("0" * 32, owned=True)
    with pytest.raises(QueueHomeError):
        with session():
            pass
    assert list(real.iterdir()) == []


@file_only
@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory owned by another user needs root")
def test_a_home_owned_by_another_user_is_refused(queue_home: Path) -> None:
    queue_home.mkdir(mode=0o700)
    os.chown(queue_home, 65534, 65534)  # nobody
    with pytest.raises(QueueHomeError, match="belongs to uid 65534"):
        with session():
            pass
    assert not (queue_home / "sessions").exists()


@file_only
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root and runuser")
def test_another_local_user_cannot_read_the_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    # the test's tmp_path is private to root already; use a world-traversable parent so only our modes protect us
    parent = Path(tempfile.mkdtemp(prefix="lazystream-perm-"))
    try:
        os.chmod(parent, 0o755)
        home = parent / "home"
        monkeypatch.setenv("LAZYSTREAM_HOME", str(home))
        from lazystream_widget.runtime import session as session_mod

        session_mod.set_backend(None)
        control = parent / "control.txt"
        control.write_text("readable")
        os.chmod(control, 0o644)

        def as_nobody(*argv: str) -> subprocess.CompletedProcess:
            return subprocess.run(["runuser", "-u", "nobody", "--", *argv], capture_output=True, text=True, timeout=30)

        assert as_nobody("cat", str(control)).stdout == "readable"  # the other user can read what we allow
        with session() as s:
            FileSystemQueue().enqueue("secret answer")
            log = log_path(home, s.id)
            for target in (str(log), str(home / "sessions")):
                denied = as_nobody("cat" if target.endswith(".log") else "ls", target)
                assert denied.returncode != 0 and "secret" not in denied.stdout
                assert "Permission denied" in denied.stderr
            assert FileSystemQueue().dequeue() == ["secret answer"]
        session_mod.set_backend(None)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


# --------------------------------------------------------------------------- cost of polling


def test_an_empty_dequeue_returns_after_a_short_wait() -> None:
    with session():
        q = FileSystemQueue()
        q.dequeue()
        times = []
        for _ in range(40):
            t0 = time.perf_counter()
            assert q.dequeue() == []
            times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.05
    assert max(times) < 1.0


def test_an_empty_dequeue_wakes_early_for_an_item_from_another_thread() -> None:
    with session() as s:
        q = FileSystemQueue(session=s)
        got: list[str] = []
        stop = time.monotonic() + 5
        timer = threading.Timer(0.2, q.enqueue, args=("hello",))
        timer.start()
        while not got and time.monotonic() < stop:
            got = q.dequeue()
        timer.join()
        assert got == ["hello"]


@pytest.mark.parametrize("opened", ["created here", "by id"])
def test_an_idle_consumer_loop_costs_little_cpu(opened: str) -> None:
    # a session opened by id waits on inotify in an empty dequeue() (file backend), one created here on a signal
    with session() as s, session(s.id if opened == "by id" else None):
        q = FileSystemQueue()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        polls = 0
        while time.perf_counter() - wall0 < 1.0:
            assert q.dequeue() == []
            polls += 1
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
    assert polls > 10  # it did poll
    assert cpu / wall < 0.5, f"idle polling used {cpu / wall:.0%} of a core"


# --------------------------------------------------------------------------- watcher


def test_the_session_watcher_wakes_on_an_append_from_another_thread() -> None:
    with session() as s:
        w = s.watcher()
        try:
            assert w.wait(0.2) is False  # nothing happened
            threading.Timer(0.2, FileSystemQueue(session=s).enqueue, args=("x",)).start()
            t0 = time.monotonic()
            assert w.wait(10) is True
            assert time.monotonic() - t0 < 5
            assert FileSystemQueue(session=s).dequeue() == ["x"]
            time.sleep(0.2)
            w.wait(0)  # one append may wake it twice (file created, then written): take what is pending
            # a consumer reading an empty queue does not wake the watcher (it would spin)
            for _ in range(3):
                FileSystemQueue(session=s).dequeue()
                time.sleep(0.3)
            assert w.wait(0.2) is False
        finally:
            w.close()


def test_the_session_watcher_wakes_on_an_append_from_another_process(child_env) -> None:
    with session() as s:
        FileSystemQueue().enqueue("creates the file")
        assert FileSystemQueue().dequeue() == ["creates the file"]
        w = s.watcher()
        try:
            code = "import time, lazystream_widget as l; time.sleep(0.3); l.FileSystemQueue().enqueue('from afar')"
            proc = subprocess.Popen([sys.executable, "-c", code], env=child_env(s.id))
            assert w.wait(20) is True
            assert drain(FileSystemQueue(), 1, timeout=5) == ["from afar"]
            assert proc.wait(20) == 0
        finally:
            w.close()


# --------------------------------------------------------------------------- sweep


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def _fake_session(home: Path, sid: str, owner: dict, age: float) -> Path:
    sdir = home / "sessions" / sid
    (sdir / "q").mkdir(parents=True, mode=0o700)
    (sdir / "owner").write_text(json.dumps(owner))
    (sdir / "q" / "lazy_answer.log").write_bytes(filestore.frame(b"orphan"))
    old = time.time() - age
    for p in [sdir / "q" / "lazy_answer.log", sdir / "owner", sdir / "q", sdir]:
        os.utime(p, (old, old))
    return sdir


@file_only
def test_sweep_removes_a_dead_owners_stale_session_and_keeps_live_ones(queue_home: Path) -> None:
    from lazystream_widget.limits import STALE_SESSION_AFTER_S
    from lazystream_widget.runtime.filestore import _process_start_time

    with session():  # makes the home
        pass
    me = {"pid": os.getpid(), "start": _process_start_time(os.getpid())}
    dead = {"pid": _dead_pid(), "start": None}
    old = STALE_SESSION_AFTER_S + 600
    dead_stale = _fake_session(queue_home, "a" * 32, dead, old)
    dead_recent = _fake_session(queue_home, "b" * 32, dead, 1.0)
    live_old = _fake_session(queue_home, "c" * 32, me, old)
    reused_pid = _fake_session(queue_home, "d" * 32, {"pid": os.getpid(), "start": "1"}, old)  # our pid, other process
    attached = queue_home / "sessions" / ("e" * 32) / "q"  # no owner file: someone else's attach; left alone
    attached.mkdir(parents=True)
    os.utime(attached, (time.time() - old,) * 2)

    # a new process (here: a fresh backend) sweeps when it first opens the home
    from lazystream_widget.runtime import session as session_mod

    session_mod.set_backend(None)
    with session():
        pass
    assert not dead_stale.exists()
    assert not reused_pid.exists()
    assert dead_recent.exists() and live_old.exists() and attached.exists()
    assert get_backend().sweep() == []


@file_only
def test_the_read_up_to_here_mark_survives_a_reopened_descriptor() -> None:
    """The pool waits for a consumer up to a task's mark; a queue descriptor closed and opened again since the
    task's last write (the cache evicts idle ones) sits at offset 0 until it writes, and the mark was then 0:
    the task ended without waiting, and a seed loop could miss its last items."""
    with session() as s:
        q = FileSystemQueue(session=s)
        q.enqueue("hello")
        backend = get_backend()
        append = backend.appender(s.id, "lazy_answer")
        before = append.end()
        backend.release_session(s.id)  # every cached descriptor of the session closed, as eviction does
        assert before > 0 and append.end() >= before


@file_only
def test_an_appender_never_writes_through_a_handle_it_saw_evicted() -> None:
    """The appender keeps its queue's handle between items; once the cache evicts it (closed at once: no write
    holds it), the next item goes through the cache for a new one, lands in the queue and counts in order."""
    with session() as s:
        backend = get_backend()
        append = backend.appender(s.id, "lazy_answer", True)
        assert append("one", True) == 0
        old = backend._queue(s.id, "lazy_answer")
        backend._cache.release(old)
        backend._cache.drop(lambda key: key[0] == s.id)  # as eviction does
        assert old.evicted and old.closed
        assert append("two", True) == 3
        new = backend._queue(s.id, "lazy_answer")
        backend._cache.release(new)
        assert new is not old and not new.evicted
        assert FileSystemQueue(session=s).dequeue() == ["one", "two"]


@file_only
def test_a_bound_queue_notes_the_tasks_read_up_to_here_mark_through_its_appender() -> None:
    """Our executor waits at a task's end for what the task wrote: the appender, as a bound queue's enqueue,
    notes the mark (once per task), so a task's items are never left unwaited for."""
    from lazystream_widget.runtime.task_marks import written as _written

    with session() as s:
        q = FileSystemQueue(session=s)
        q.enqueue("outside any task")  # the appender is now q's enqueue
        assert _written.get() is None
        marks: dict = {}
        token = _written.set(marks)
        try:
            q.enqueue("in a task")
            q.enqueue("again")
        finally:
            _written.reset(token)
        mark = marks[(s.id, "lazy_answer")]
        assert callable(mark) and mark() == os.path.getsize(
            os.path.join(get_backend().sessions_dir, s.id, "q", "lazy_answer.log"))
