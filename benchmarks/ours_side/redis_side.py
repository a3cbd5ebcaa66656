"""Redis worker, our side: the queue through the Redis backend beside the file backend, same code, same run.

``python -m benchmarks.ours_side.redis_side '<json spec>'``; every spec has ``backend`` (``file`` or a Redis URL)
and ``mode``:

* ``rate``: one writer enqueues ``n`` token-sized items into a fresh session; a reader in another process then
  reads them all (its count is checked).
* ``latency``: a writer enqueues ``m`` items ``interval_ms`` apart, each carrying ``time.time_ns()``; a consumer
  already waiting in another process (``style``: ``watcher`` = a ``Session.watcher()`` wait loop, a blocking XREAD
  on Redis; ``seed`` = the seed's busy dequeue loop) records when it sees each.
* ``sessions``: ``s`` sessions at once: a consumer process, and a writer that sends ``total_rate`` items/s in all,
  round-robin over the sessions, for ``seconds``; then the same writer unpaced (its rate). Latency p50/p95 over
  every item of every session. ``consumer``: ``threads`` (default) = one waiting thread per session (a
  ``Session.watcher()`` loop each); ``watchset`` = one thread for all, as the process's pump serves them (the
  backend's watch set: its one shared reader on Redis, one inotify descriptor on files), reading each session
  that changed.
* ``floor``: raw redis-py, no backend: an XADD loop, and XADD -> a blocking XREAD in another process (the floor).
* ``layout``: raw redis-py, no backend: one stream per queue vs one stream per session with a queue field, for a
  reader that wants the answer queue only while a third of the items are trace lines.
* ``reader`` / ``consumers``: the other process of the modes above (prints ``READY``, then its result).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import lazystream_widget as lsw
from benchmarks.ours_side.queue_side import consume as _consume
from benchmarks.workerlib import emit, output_of, percentile, pin_env_home, spawn_ready, spec_from_argv


def consume(sess: lsw.Session, count: int, style: str, timeout: float, stamps: list[float] | None) -> int:
    """queue_side's consumer (the seed's loop or a watcher loop), its latencies appended to ``stamps``."""
    res = _consume(lsw.FileSystemQueue(session=sess), sess, count, style, timeout, stamps is not None)
    if stamps is not None:
        stamps.extend(res["lat_ms"])
    return res["seen"]


def use_backend(spec: dict) -> None:
    lsw.configure(queue=None if spec["backend"] == "file" else spec["backend"])


def spawn(spec: dict) -> subprocess.Popen:
    return spawn_ready([sys.executable, "-m", "benchmarks.ours_side.redis_side", json.dumps(spec)])


def result_of(proc: subprocess.Popen, timeout: float = 300) -> dict:
    out = output_of(proc, timeout).strip()
    if not out:
        raise RuntimeError(f"helper process printed no result (exit code {proc.returncode})")
    return json.loads(out.splitlines()[-1])


# ---- the helper processes ------------------------------------------------------------------


def reader(spec: dict) -> None:
    sess = lsw.Session(spec["sid"])
    print("READY", flush=True)
    stamps: list[float] | None = [] if spec.get("latency") else None
    got = consume(sess, spec["count"], spec.get("style", "watcher"), spec.get("timeout", 120), stamps)
    print(json.dumps({"seen": got, "lat_ms": stamps or []}), flush=True)


def consumers_one_thread(spec: dict) -> None:
    """``consumers`` as the pump does it: one thread, the backend's watch set, a read of each session that changed."""
    from lazystream_widget.protocol import ANSWER_QUEUE
    from lazystream_widget.runtime.watchset import watch_set_for

    sessions = [lsw.Session(sid) for sid in spec["sids"]]
    backend = sessions[0].backend
    watch = watch_set_for(backend)
    for i, sess in enumerate(sessions):
        watch.add(i, sess.id)
    want, seen, lat = sum(spec["counts"]), 0, []
    print("READY", flush=True)
    deadline = time.monotonic() + spec.get("timeout", 120)
    try:
        while seen < want and time.monotonic() < deadline:
            changed, _ = watch.wait(0.25)
            for i in changed:
                items = backend.read(sessions[i].id, ANSWER_QUEUE)
                now = time.time_ns()
                seen += len(items)
                lat.extend((now - int(b)) / 1e6 for b in items)
    finally:
        watch.close()
    print(json.dumps({"seen": seen, "lat_ms": lat}), flush=True)


def consumers(spec: dict) -> None:
    if spec.get("consumer") == "watchset":
        return consumers_one_thread(spec)
    sessions = [lsw.Session(sid) for sid in spec["sids"]]
    lat: list[list[float]] = [[] for _ in sessions]
    seen = [0] * len(sessions)

    def one(i: int) -> None:
        seen[i] = consume(sessions[i], spec["counts"][i], "watcher", spec.get("timeout", 120), lat[i])

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(sessions))]
    for t in threads:
        t.start()
    print("READY", flush=True)
    for t in threads:
        t.join()
    print(json.dumps({"seen": sum(seen), "lat_ms": [x for xs in lat for x in xs]}), flush=True)


# ---- the measured modes -----------------------------------------------------------------------


def rate(spec: dict) -> dict:
    n = spec["n"]
    items = [f" token{i}" for i in range(n)]
    with lsw.session() as sess:
        q = lsw.FileSystemQueue(session=sess)
        q.enqueue("warm-up")
        q.dequeue()
        t0 = time.perf_counter()
        for item in items:
            q.enqueue(item)
        elapsed = time.perf_counter() - t0
        proc = spawn({**spec, "mode": "reader", "sid": sess.id, "count": n, "style": "seed"})
        seen = result_of(proc)["seen"]
    return {"rate": n / elapsed, "n": n, "seen_by_reader": seen}


def latency(spec: dict) -> dict:
    m, gap = spec["m"], spec["interval_ms"] / 1000
    with lsw.session() as sess:
        proc = spawn({**spec, "mode": "reader", "sid": sess.id, "count": m, "latency": True})
        time.sleep(0.3)  # the consumer is waiting
        q = lsw.FileSystemQueue(session=sess)
        for _ in range(m):
            q.enqueue(str(time.time_ns()))
            time.sleep(gap)
        res = result_of(proc)
    lat = res["lat_ms"]
    return {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95), "max_ms": max(lat, default=None),
            "seen": res["seen"], "m": m}


def sessions(spec: dict) -> dict:
    s, total_rate, seconds = spec["s"], spec["total_rate"], spec["seconds"]
    per = max(1, int(total_rate * seconds / s))
    opened = [lsw.new_session() for _ in range(s)]
    try:
        queues = [lsw.FileSystemQueue(session=x) for x in opened]
        proc = spawn({**spec, "mode": "consumers", "sids": [x.id for x in opened], "counts": [per] * s})
        time.sleep(0.5 + s * 0.005)  # every consumer is waiting
        gap = 1.0 / total_rate
        t0 = time.perf_counter()
        k = 0
        for _round in range(per):
            for q in queues:
                q.enqueue(str(time.time_ns()))
                k += 1
                due = t0 + k * gap
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
        res = result_of(proc)
        # the same writer, unpaced: how the rate holds with this many sessions
        n = max(spec.get("unpaced_min", 2000), 20 * s)
        t1 = time.perf_counter()
        for i in range(n):
            queues[i % s].enqueue(f" token{i}")
        unpaced = n / (time.perf_counter() - t1)
    finally:
        for x in opened:
            x.close()
    lat = res["lat_ms"]
    return {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95), "seen": res["seen"], "sent": per * s,
            "rate": unpaced, "paced_rate": total_rate}


def layout(spec: dict) -> dict:
    """items/s a reader of the answer queue gets, per-queue streams vs one stream with a queue field."""
    import redis

    client = redis.Redis.from_url(spec["backend"])
    n = spec["n"]
    out = {}
    for name in ("per_queue", "one_stream"):
        client.flushall()
        t0 = time.perf_counter()
        pipe = client.pipeline(transaction=False)
        for i in range(n):
            queue = "trace" if i % 3 == 2 else "answer"
            if name == "per_queue":
                pipe.xadd(f"b:{queue}", {"d": f" token{i}"})
            else:
                pipe.xadd("b:all", {"q": queue, "d": f" token{i}"})
            if i % 500 == 499:
                pipe.execute()
        pipe.execute()
        write = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        got, last = 0, "0-0"
        key = "b:answer" if name == "per_queue" else "b:all"
        while True:
            rows = client.xrange(key, min=f"({last}", count=1000)
            if not rows:
                break
            last = rows[-1][0].decode()
            got += sum(1 for _, f in rows if name == "per_queue" or f[b"q"] == b"answer")
        out[name] = {"write_rate": write, "answer_read_rate": got / (time.perf_counter() - t0), "answer_items": got}
    client.flushall()
    return out


def floor(spec: dict) -> dict:
    """The physical floor beside us: raw redis-py, an XADD loop (rate), and XADD -> a blocking XREAD in another
    process (latency), same server, same sizes: what any client pays on this machine at this moment."""
    import redis

    client = redis.Redis.from_url(spec["backend"])
    n = spec["n"]
    t0 = time.perf_counter()
    for i in range(n):
        client.xadd("floor:rate", {"d": f" token{i}"})
    rate_ = n / (time.perf_counter() - t0)
    client.delete("floor:rate", "floor:lat")
    proc = spawn({**spec, "mode": "floor_reader", "count": spec["m"]})
    time.sleep(0.3)
    for _ in range(spec["m"]):
        client.xadd("floor:lat", {"d": str(time.time_ns())})
        time.sleep(spec["interval_ms"] / 1000)
    lat = result_of(proc)["lat_ms"]
    client.delete("floor:lat")
    return {"rate": rate_, "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95)}


def floor_reader(spec: dict) -> None:
    import redis

    client = redis.Redis.from_url(spec["backend"])
    last, lat = "0-0", []
    print("READY", flush=True)
    while len(lat) < spec["count"]:
        for _key, rows in client.xread({"floor:lat": last}, block=1000) or []:
            now = time.time_ns()
            for stream_id, fields in rows:
                lat.append((now - int(fields[b"d"])) / 1e6)
                last = stream_id
    print(json.dumps({"lat_ms": lat}), flush=True)


MODES = {"rate": rate, "latency": latency, "sessions": sessions, "layout": layout, "floor": floor}


def main() -> None:
    spec = spec_from_argv()
    pin_env_home()
    if spec["backend"] != "file":
        import os

        os.environ["LAZYSTREAM_QUEUE"] = spec["backend"]  # helper processes use the same backend
    use_backend(spec)
    if spec["mode"] == "reader":
        return reader(spec)
    if spec["mode"] == "consumers":
        return consumers(spec)
    if spec["mode"] == "floor_reader":
        return floor_reader(spec)
    runs = [MODES[spec["mode"]](spec) for _ in range(spec.get("repeats", 1))]
    emit({"runs": runs})


if __name__ == "__main__":
    main()
