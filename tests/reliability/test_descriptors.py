"""Descriptors: attached sessions release theirs on close, and the cache is bounded (finding 3 of the second review).

Before: 200 sessions attached by id in another process (``with session(other_id): enqueue(...)``, the documented
cross-process use) left 1,200 descriptors open after every attach closed, and a producer with 3 queues per live
session hit EMFILE after 114 sessions under ``ulimit -n 1024``. Each test runs the producer in a real child process.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import lazystream_widget as lsw
from lazystream_widget.runtime.queue import FileSystemQueue

from .helpers import child_env, run_child

_ATTACHING_CHILD = """
import json, os, sys
import lazystream_widget as lsw
from lazystream_widget.runtime.queue import FileSystemQueue

def open_fds():
    return len(os.listdir("/proc/self/fd"))

ids = sys.argv[1].split(",")
lsw.FileSystemQueue  # imports done before the baseline
with lsw.session(ids[0]):  # warm up: first-use imports and caches
    pass
baseline = open_fds()
for i, sid in enumerate(ids):
    with lsw.session(sid):
        FileSystemQueue().enqueue(f"answer {i}")
        FileSystemQueue("lazy_think").enqueue(f"thought {i}")
        FileSystemQueue("lazy_trace").enqueue(f"trace {i}")
print(json.dumps({"baseline": baseline, "after": open_fds()}))
"""


def test_attached_sessions_release_their_descriptors_on_close_in_another_process(queue_home: Path, figures) -> None:
    owned = [lsw.new_session() for _ in range(200)]
    try:
        code = _ATTACHING_CHILD.replace("sys.argv[1]", repr(",".join(s.id for s in owned)))
        proc = run_child(code, child_env(queue_home), timeout=120)
        counts = json.loads(proc.stdout.strip().splitlines()[-1])
        leaked = counts["after"] - counts["baseline"]
        assert leaked <= 2, f"{leaked} descriptors left open after 200 attached sessions were closed"
        for i, s in enumerate(owned):  # and the owner got everything
            assert FileSystemQueue(session=s).dequeue() == [f"answer {i}"]
            assert FileSystemQueue("lazy_think", session=s).dequeue() == [f"thought {i}"]
            assert FileSystemQueue("lazy_trace", session=s).dequeue() == [f"trace {i}"]
    finally:
        for s in owned:
            s.close()
    figures.add("descriptors.attached_released", sessions=200, processes=1, leaked=leaked)


_MANY_LIVE_SESSIONS_CHILD = """
import json, os, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
import lazystream_widget as lsw
from lazystream_widget.runtime.queue import FileSystemQueue

sessions = [lsw.new_session() for _ in range(N)]  # all live at once
for rnd in range(2):
    for i, s in enumerate(sessions):
        for name in ("lazy_answer", "lazy_think", "lazy_trace"):
            FileSystemQueue(name, session=s).enqueue(f"{name} {i} {rnd}")
bad = 0
most = 0
for i, s in enumerate(sessions):
    for name in ("lazy_answer", "lazy_think", "lazy_trace"):
        got = FileSystemQueue(name, session=s).dequeue()
        bad += got != [f"{name} {i} 0", f"{name} {i} 1"]
        most = max(most, len(os.listdir("/proc/self/fd")))
for s in sessions:
    s.close()
print(json.dumps({"bad": bad, "most_fds": most}))
"""


def test_a_producer_with_many_live_sessions_stays_within_a_low_descriptor_limit(queue_home: Path, figures) -> None:
    limit, n = 256, 300  # 300 live sessions x 3 queues, read and written, under ulimit -n 256
    code = _MANY_LIVE_SESSIONS_CHILD.replace("FD_LIMIT", str(limit)).replace("N)", f"{n})")
    proc = run_child(code, child_env(queue_home), timeout=120)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["bad"] == 0, "items were lost or mixed while descriptors were recycled"
    assert result["most_fds"] < limit
    figures.add("descriptors.bounded_cache", sessions=n, queues=3 * n, rlimit_nofile=limit,
                max_open_fds=result["most_fds"], bad=0)


def test_descriptors_recycled_under_concurrent_writers_never_lose_or_mix_items(monkeypatch) -> None:
    """Eviction races with writers in other threads: an entry in use is never closed under its user."""
    from lazystream_widget.runtime.session import get_backend

    backend = get_backend()
    monkeypatch.setattr(backend._cache, "max_fds", 8)  # far fewer descriptors than the sessions need
    sessions = [lsw.new_session() for _ in range(24)]
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(300):
                s = sessions[(w * 7 + i) % len(sessions)]
                FileSystemQueue(session=s).enqueue(f"{w}:{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        per_session = {s.id: _drain(FileSystemQueue(session=s)) for s in sessions}
        for k, s in enumerate(sessions):  # each session holds exactly its items, each writer's in order
            items = per_session[s.id]
            assert sorted(items) == sorted(f"{w}:{i}" for w in range(6) for i in range(300) if (w * 7 + i) % 24 == k)
            for w in range(6):
                mine = [int(x.split(":")[1]) for x in items if x.startswith(f"{w}:")]
                assert mine == sorted(mine), f"writer {w}'s items out of order in session {k}"
        assert backend._cache.open_descriptors() <= 8 + 3  # the bound (plus one entry's worth while in use)
    finally:
        for s in sessions:
            s.close()


def _drain(q: FileSystemQueue) -> list[str]:
    out: list[str] = []
    while batch := q.dequeue():
        out += batch
    return out
