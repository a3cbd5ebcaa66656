"""Queue worker, LazyLLM 1.4.0 side: ``lazyllm.FileSystemQueue`` (SQLite + SoftFileLock) alone.

Same modes and spec as ``benchmarks/ours_side/queue_side.py``. LazyLLM names a queue by the
session id of the calling context (``globals._sid``, by default per thread); a reader in another
thread or process reaches the writer's queue by entering the same session with
``lazyllm.common.init_session(sid)``, which is what LazyLLM's own servers do per request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from workerlib import emit, output_of, percentile, pin_env_home, spawn_ready, spec_from_argv

pin_env_home()
import lazyllm  # noqa: E402
from lazyllm.common import init_session  # noqa: E402


def consume(sid: str, count: int, timeout: float, latency: bool) -> dict:
    init_session(sid)
    got, lat = 0, []
    deadline = time.monotonic() + timeout
    # the seed's loop shape: poll as fast as dequeue() returns
    while got < count and time.monotonic() < deadline:
        if value := lazyllm.FileSystemQueue().dequeue():
            now = time.time_ns()
            got += len(value)
            if latency:
                lat.extend((now - int(v)) / 1e6 for v in value)
    return {"seen": got, "lat_ms": lat}


def spawn_reader(sid: str, spec: dict) -> subprocess.Popen:
    args = [sys.executable, os.path.abspath(__file__), json.dumps({**spec, "mode": "reader", "sid": sid})]
    return spawn_ready(args, "reader")


def reader_result(proc: subprocess.Popen) -> dict:
    for line in reversed(output_of(proc, 900).splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError("reader gave no result")


def mode_reader(spec: dict) -> None:
    init_session(spec["sid"])
    lazyllm.FileSystemQueue().size()  # open the database before saying READY
    print("READY", flush=True)
    emit(consume(spec["sid"], spec["count"], spec.get("timeout", 120), spec.get("latency", False)))


def new_sid() -> str:
    sid = init_session(f"bench-{uuid.uuid4().hex}")
    lazyllm.FileSystemQueue().clear()
    return sid


def mode_rate(spec: dict) -> dict:
    n = int(spec["n"])
    items = [f" token{i}" for i in range(n)]
    sid = new_sid()
    q = lazyllm.FileSystemQueue()
    reader = spawn_reader(sid, {"count": n, "timeout": 600}) if spec["concurrent"] else None
    t0 = time.perf_counter()
    for item in items:
        q.enqueue(item)
    elapsed = time.perf_counter() - t0
    if reader is None:
        reader = spawn_reader(sid, {"count": n, "timeout": 120})
    seen = reader_result(reader)["seen"]
    q.clear()
    return {"n": n, "seconds": elapsed, "rate": n / elapsed, "seen_by_reader": seen}


def paced_writer(sid: str, m: int, interval: float) -> None:
    init_session(sid)
    q = lazyllm.FileSystemQueue()
    start = time.perf_counter() + 0.05
    for i in range(m):
        pause = start + i * interval - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        q.enqueue(str(time.time_ns()))


def mode_latency(spec: dict) -> dict:
    m, interval = int(spec["m"]), float(spec["interval_ms"]) / 1000
    sid = new_sid()
    if spec["where"] == "process":
        reader = spawn_reader(sid, {"count": m, "timeout": 300, "latency": True})
        paced_writer(sid, m, interval)
        res = reader_result(reader)
    else:
        box: dict = {}
        th = threading.Thread(target=lambda: box.update(consume(sid, m, 300, True)))
        th.start()
        time.sleep(0.05)
        paced_writer(sid, m, interval)
        th.join()
        res = box
    lazyllm.FileSystemQueue().clear()
    lat = res["lat_ms"]
    return {"m": m, "seen": res["seen"], "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
            "max_ms": max(lat) if lat else None}


def mode_empty(spec: dict) -> dict:
    k = int(spec["k"])
    new_sid()
    q = lazyllm.FileSystemQueue()
    assert q.dequeue() == []
    w0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(k):
        q.dequeue()
    wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
    return {"k": k, "wall_us": wall / k * 1e6, "cpu_us": cpu / k * 1e6}


def main() -> None:
    spec = spec_from_argv()
    mode = spec["mode"]
    if mode == "reader":
        mode_reader(spec)
        return
    fn = {"rate": mode_rate, "latency": mode_latency, "empty": mode_empty}[mode]
    emit({"runs": [fn(spec) for _ in range(int(spec.get("repeats", 1)))]})


if __name__ == "__main__":
    main()
