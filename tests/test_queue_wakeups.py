"""How an empty ``dequeue()`` of the file backend waits, and the text counts of the append hot path.

An empty ``dequeue()`` on a session opened by id waits on the session's cached inotify descriptor, so an
item appended by another process wakes it at once (not after ``EMPTY_DEQUEUE_WAIT_S``); those descriptors
are bounded and closed with the session, and without inotify the in-process signal still works (idle CPU:
``test_queue.py``). The
appender counts the text of the answer and thinking queues in the queue's order, with many writers.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time

import pytest

from lazystream_widget import limits
from lazystream_widget.runtime import filestore
from lazystream_widget.runtime import queue as queue_module
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import Session, session

pytestmark = pytest.mark.backends("file")


def inotify_fds() -> int:
    """Inotify descriptors this process holds."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == "anon_inode:inotify"
        except OSError:
            pass
    return count


def test_an_attached_dequeue_wakes_at_once_for_an_item_from_another_process(child_env, monkeypatch) -> None:
    # the wait is long here: only a wake-up by the other process's append returns the item before it ends
    monkeypatch.setattr(queue_module, "EMPTY_DEQUEUE_WAIT_S", 20.0)
    owner = Session()
    try:
        with session(owner.id) as attached:
            q = FileSystemQueue(session=attached)
            q.enqueue("creates the file")
            assert q.dequeue() == ["creates the file"]
            time.sleep(0.01)  # past the burst's gathering interval
            code = "import time, lazystream_widget as l; time.sleep(0.3); l.FileSystemQueue().enqueue('from afar')"
            proc = subprocess.Popen([sys.executable, "-c", code], env=child_env(owner.id))
            t0 = time.monotonic()
            got = q.dequeue()
            while not got and time.monotonic() - t0 < 30:
                got = q.dequeue()
            waited = time.monotonic() - t0
            assert proc.wait(30) == 0
        assert got == ["from afar"]
        assert waited < 15, f"the append of another process did not wake the wait ({waited:.1f} s)"
    finally:
        owner.close()


def test_wait_descriptors_are_bounded_and_closed_with_their_sessions(monkeypatch) -> None:
    monkeypatch.setattr(queue_module, "EMPTY_DEQUEUE_WAIT_S", 0.001)
    before = inotify_fds()
    n = limits.DEQUEUE_WATCHES_MAX + 4
    owners = [Session() for _ in range(n)]
    attached = [Session(o.id) for o in owners]
    try:
        for s in attached:
            assert FileSystemQueue(session=s).dequeue() == []
            time.sleep(0.002)
        held = inotify_fds() - before
        assert 1 <= held <= limits.DEQUEUE_WATCHES_MAX
        for s in attached:
            s.close()
        assert inotify_fds() == before, "closing the attached sessions left inotify descriptors open"
    finally:
        for s in attached + owners:
            s.close()


def test_without_inotify_an_attached_dequeue_still_waits_and_wakes(monkeypatch) -> None:
    def unavailable(dir_fd: int) -> int:
        raise OSError(errno.EMFILE, "inotify_init1 failed")

    monkeypatch.setattr(filestore, "inotify_descriptor", unavailable)
    before = inotify_fds()
    owner = Session()
    try:
        with session(owner.id) as attached:
            q = FileSystemQueue(session=attached)
            t0 = time.monotonic()
            assert q.dequeue() == []  # waits, then says empty
            assert time.monotonic() - t0 < 5
            timer = threading.Timer(0.2, q.enqueue, args=("hello",))
            timer.start()
            got: list[str] = []
            while not got and time.monotonic() - t0 < 10:
                got = q.dequeue()
            timer.join()
            assert got == ["hello"]
            assert inotify_fds() == before
    finally:
        owner.close()


def test_counted_offsets_follow_the_queue_order_with_many_writers() -> None:
    n_threads, per_thread = 6, 300
    placed: list[tuple[int, str]] = []
    with session() as s:
        barrier = threading.Barrier(n_threads)

        def produce(t: int) -> None:
            q = FileSystemQueue(session=s)  # its own queue object: the count is still the queue's
            barrier.wait()
            mine = []
            for i in range(per_thread):
                text = f"<{t}.{i}{'é' * (i % 5)}>"
                mine.append((q.enqueue_at(text), text))
            placed.extend(mine)

        threads = [threading.Thread(target=produce, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        full = "".join(FileSystemQueue(session=s).dequeue())
        trace_start = FileSystemQueue("lazy_trace", session=s).enqueue_at("not counted")
    assert len(placed) == n_threads * per_thread
    assert len(full) == sum(len(text) for _, text in placed)
    wrong = [(start, text) for start, text in placed if full[start:start + len(text)] != text]
    assert not wrong, f"{len(wrong)} texts not where their offset says, e.g. {wrong[:3]}"
    assert trace_start == 0
