"""Group ``redis``: the queue through the Redis Streams backend beside the file backend, in the same run.

A private ``redis-server`` on loopback (no persistence, and one with ``appendfsync always`` for the rate),
started here and stopped after. Figures (spec: Redis enqueue-to-seen p95 <= 2 ms; report how rate and
latency grow with 1 to 200 concurrent sessions):

* enqueue rate, one writer, read back by a reader in another process (its count checked): file, Redis,
  Redis with ``appendfsync always``;
* enqueue-to-seen p50/p95 for a consumer waiting in another process (``Session.watcher()``: inotify on files,
  a blocking XREAD on Redis) and for the seed's busy dequeue loop;
* 1, 10, 50 and 200 sessions at once, 1,000 items/s in all, consumed in another process by one waiting thread
  per session, and by one thread for all through the backend's watch set (as the process's pump serves runs and
  watchers): latency p50/p95, and the writer's unpaced rate over that many sessions;
* the floor beside them: raw redis-py (an XADD loop; XADD -> a blocking XREAD in another process);
* the stream layout: one stream per (session, queue), what the backend uses, vs one stream per session with a
  queue field, for a reader of the answer queue while a third of the items are trace lines.

Needs ``redis-server`` (Debian: ``apt-get install redis-server``) and the ``redis`` client (``[redis]`` extra);
without them the cells say so.
"""

from __future__ import annotations

import shutil

from .common import Cell, Figure, Settings, Target, collect, is_number, pick

SESSION_COUNTS = (1, 10, 50, 200)


def _p95_ok(f: Figure) -> bool | None:
    v = f.med("ours")
    return None if not is_number(v) else v <= 2.0


def _verified(runs, key: str = "n", seen: str = "seen_by_reader") -> Cell:
    c = pick(runs, "rate")
    if isinstance(runs, list):
        bad = [r for r in runs if r.get(seen) != r.get(key)]
        if bad:
            return Cell([], f"reader saw {bad[0].get(seen)} of {bad[0].get(key)} items")
    return c


def run(settings: Settings) -> list[Figure]:
    if shutil.which("redis-server") is None:
        missing = Cell([], "redis-server is not installed (apt-get install redis-server)")
        return [Figure("redis", "unavailable", "Redis backend figures", "", {"ours": missing}, Target("report"))]
    from lazystream_widget.testing.redis_server import RedisServer

    q = settings.quick  # quick (CI): fewer and smaller cases, one repeat: checks that the figures come out
    reps = 1 if q else settings.repeats
    figs: list[Figure] = []
    with RedisServer() as plain, RedisServer(appendonly=True) as durable:
        backends = {"file": "file", "Redis": plain.url, "Redis, appendfsync always": durable.url}
        if q:
            del backends["Redis, appendfsync always"]
        n = 1000 if q else 10000
        floor = collect(settings, "ours", "redis_side", {"mode": "floor", "backend": plain.url, "n": n,
                                                         "m": 50 if q else 300, "interval_ms": 10, "repeats": reps},
                        "redis-floor")
        for label, backend in backends.items():
            size = n if "always" not in label else max(500, n // 10)  # every write waits for an fsync
            res = collect(settings, "ours", "redis_side", {"mode": "rate", "backend": backend, "n": size,
                                                           "repeats": reps}, f"redis-rate-{_slug(label)}")
            figs.append(Figure("redis", f"rate_{_slug(label)}", f"enqueue rate, one writer, {label}", "items/s",
                               {"ours": _verified(res)}, Target("report"), lower_is_better=False))
        figs.append(Figure("redis", "floor_rate", "floor: raw redis-py XADD loop, same server", "items/s",
                           {"ours": pick(floor, "rate")}, Target("report"), lower_is_better=False))

        m = 50 if q else 300
        styles = (("watcher", "a waiting consumer (Session.watcher)"), ("seed", "the seed's dequeue loop"))
        for style, who in styles[:1] if q else styles:
            for label, backend in (("file", "file"), ("Redis", plain.url)):
                spec = {"mode": "latency", "backend": backend, "m": m, "interval_ms": 10, "style": style,
                        "repeats": reps}
                res = collect(settings, "ours", "redis_side", spec, f"redis-lat-{style}-{_slug(label)}")
                for stat in ("p50", "p95"):
                    target = Target("<= 2 ms", _p95_ok) if stat == "p95" and label == "Redis" else Target("report")
                    figs.append(Figure("redis", f"lat_{style}_{_slug(label)}_{stat}",
                                       f"enqueue-to-seen {stat}, {who} in another process, {label}", "ms",
                                       {"ours": pick(res, f"{stat}_ms")}, target))

        for stat in ("p50", "p95"):
            figs.append(Figure("redis", f"floor_lat_{stat}", f"floor: raw XADD -> blocking XREAD in another "
                               f"process, {stat}", "ms", {"ours": pick(floor, f"{stat}_ms")}, Target("report")))

        counts = SESSION_COUNTS[:2] if q else SESSION_COUNTS
        consumers = (("threads", "", "a thread per session"), ("watchset", "_pump", "one thread, watch set"))
        for label, backend in (("file", "file"), ("Redis", plain.url)):
            for consumer, suffix, how in consumers:
                for s in counts:
                    spec = {"mode": "sessions", "backend": backend, "s": s, "total_rate": 1000, "consumer": consumer,
                            "seconds": 0.5 if q else 3.0, "repeats": 1 if q else max(1, reps // 2)}
                    res = collect(settings, "ours", "redis_side", spec, f"redis-sessions-{s}-{_slug(label)}{suffix}")
                    stats = (("p50_ms", "ms", "latency p50"), ("p95_ms", "ms", "latency p95"))
                    if consumer == "threads":  # the writer's rate does not depend on how the consumer waits
                        stats += (("rate", "items/s", "unpaced enqueue rate"),)
                    for key, unit, what in stats:
                        cell = pick(res, key)
                        if isinstance(res, list) and any(r["seen"] != r["sent"] for r in res):
                            cell = Cell([], f"consumers saw {res[0]['seen']} of {res[0]['sent']}")
                        figs.append(Figure("redis", f"sessions_{s}_{_slug(label)}{suffix}_{key}",
                                           f"{s} sessions at once (1,000 items/s in all, {how}), {what}, {label}",
                                           unit, {"ours": cell}, Target("report"), lower_is_better=key != "rate"))

        spec = {"mode": "layout", "backend": plain.url, "n": 3000 if q else 60000, "repeats": reps}
        res = collect(settings, "ours", "redis_side", spec, "redis-layout")
        for layout, what in (("per_queue", "one stream per queue (used)"), ("one_stream", "one stream, queue field")):
            figs.append(Figure("redis", f"layout_{layout}", f"answer-queue read rate, {what}", "items/s",
                               {"ours": pick(res, f"{layout}.answer_read_rate")}, Target("report"),
                               lower_is_better=False))
    return figs


def _slug(label: str) -> str:
    return label.lower().replace(", ", "_").replace(" ", "_")
