"""Queue worker, our side: ``FileSystemQueue`` alone, no model.

``python -m benchmarks.ours_side.queue_side '<json spec>'`` with ``mode``:

* ``rate``: one writer enqueues ``n`` token-sized items into a fresh session; a reader in
  another process (attached to the session by id) either reads after the writer finished
  (``concurrent: false``) or busy-polls with the seed's loop while it writes (``true``); the
  reader's count is checked against ``n``. Just before, in the same process, the floor: a bare
  ``os.write`` loop of the same framed bytes to an ``O_APPEND`` file under the same home.
* ``latency``: a writer enqueues ``m`` items ``interval_ms`` apart, each carrying its
  ``time.time_ns()``; a consumer waiting in another thread or another process (``where``) with
  the seed's dequeue loop (``style: seed``) or a ``Session.watcher()`` wait loop (``watcher``)
  records when it sees each item.
* ``empty``: ``k`` ``dequeue()`` calls on an empty queue: wall and CPU (thread) time of each;
  ``no_wait: true`` sets ``EMPTY_DEQUEUE_WAIT_S = 0`` in this process only, to show the raw check.
* ``reader``: the other process of ``rate`` and ``latency`` (prints ``READY`` then its result).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import lazystream_widget as lsw
from benchmarks.workerlib import emit, output_of, percentile, pin_env_home, spawn_ready, spec_from_argv


def consume(q: lsw.FileSystemQueue, sess: lsw.Session, count: int, style: str, timeout: float,
            latency: bool) -> dict:
    """Read ``count`` items (or until ``timeout``); with ``latency``, items are send stamps (ns)."""
    got, lat = 0, []
    deadline = time.monotonic() + timeout
    watcher = sess.watcher() if style == "watcher" else None
    try:
        while got < count and time.monotonic() < deadline:
            if value := q.dequeue():
                now = time.time_ns()
                got += len(value)
                if latency:
                    lat.extend((now - int(v)) / 1e6 for v in value)
            elif watcher is not None:
                watcher.wait(0.25)
    finally:
        if watcher is not None:
            watcher.close()
    return {"seen": got, "lat_ms": lat}


def spawn_reader(sid: str, spec: dict) -> subprocess.Popen:
    args = [sys.executable, "-m", "benchmarks.ours_side.queue_side", json.dumps({**spec, "mode": "reader", "sid": sid})]
    return spawn_ready(args, "reader")


def reader_result(proc: subprocess.Popen) -> dict:
    for line in reversed(output_of(proc, 600).splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError("reader gave no result")


def mode_reader(spec: dict) -> None:
    with lsw.session(spec["sid"]) as sess:
        q = lsw.FileSystemQueue(session=sess)
        q.size()  # open the queue files before saying READY
        print("READY", flush=True)
        res = consume(q, sess, spec["count"], spec.get("style", "seed"), spec.get("timeout", 120),
                      spec.get("latency", False))
    emit(res)


def raw_floor(items: list[str], directory: str) -> float:
    """Seconds for the physical floor: a bare ``os.write`` loop of the same framed bytes to an O_APPEND file."""
    from lazystream_widget.runtime.filestore import frame

    framed = [frame(i.encode()) for i in items]  # built before the clock starts: only the writes are timed
    path = os.path.join(directory, f"raw-floor-{os.getpid()}.log")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        write = os.write
        t0 = time.perf_counter()
        for b in framed:
            write(fd, b)
        return time.perf_counter() - t0
    finally:
        os.close(fd)
        os.unlink(path)


def mode_rate(spec: dict) -> dict:
    n = int(spec["n"])
    items = [f" token{i}" for i in range(n)]
    floor_s = raw_floor(items, os.environ["LAZYSTREAM_HOME"])  # same file system as our queue files
    with lsw.session() as sess:
        q = lsw.FileSystemQueue(session=sess)
        q.size()
        reader = spawn_reader(sess.id, {"count": n, "style": "seed", "timeout": 300}) if spec["concurrent"] else None
        t0 = time.perf_counter()
        for item in items:
            q.enqueue(item)
        elapsed = time.perf_counter() - t0
        if reader is None:
            reader = spawn_reader(sess.id, {"count": n, "style": "seed", "timeout": 60})
        seen = reader_result(reader)["seen"]
    return {"n": n, "seconds": elapsed, "rate": n / elapsed, "seen_by_reader": seen, "floor_rate": n / floor_s,
            "floor_ratio": floor_s / elapsed}


def paced_writer(q: lsw.FileSystemQueue, m: int, interval: float) -> None:
    start = time.perf_counter() + 0.05
    for i in range(m):
        pause = start + i * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        q.enqueue(str(time.time_ns()))


def mode_latency(spec: dict) -> dict:
    m, interval = int(spec["m"]), float(spec["interval_ms"]) / 1000
    style, where = spec.get("style", "seed"), spec["where"]
    with lsw.session() as sess:
        q = lsw.FileSystemQueue(session=sess)
        q.size()
        if where == "process":
            reader = spawn_reader(sess.id, {"count": m, "style": style, "timeout": 120, "latency": True})
            paced_writer(q, m, interval)
            res = reader_result(reader)
        else:
            box: dict = {}
            th = threading.Thread(target=lambda: box.update(consume(q, sess, m, style, 120, True)))
            th.start()
            time.sleep(0.05)  # the consumer is waiting before the first item
            paced_writer(q, m, interval)
            th.join()
            res = box
    lat = res["lat_ms"]
    return {"m": m, "seen": res["seen"], "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
            "max_ms": max(lat) if lat else None}


def mode_empty(spec: dict) -> dict:
    k = int(spec["k"])
    if spec.get("no_wait"):
        import lazystream_widget.runtime.queue as queue_module

        queue_module.EMPTY_DEQUEUE_WAIT_S = 0.0
    with lsw.session():
        q = lsw.FileSystemQueue()  # unbound, as the seed's loop: the current session is resolved per call
        assert q.dequeue() == []
        w0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(k):
            q.dequeue()
        wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    return {"k": k, "wall_us": wall / k * 1e6, "cpu_us": cpu / k * 1e6}


def main() -> None:
    pin_env_home()
    spec = spec_from_argv()
    mode = spec["mode"]
    if mode == "reader":
        mode_reader(spec)
        return
    fn = {"rate": mode_rate, "latency": mode_latency, "empty": mode_empty}[mode]
    emit({"runs": [fn(spec) for _ in range(int(spec.get("repeats", 1)))]})


if __name__ == "__main__":
    main()
