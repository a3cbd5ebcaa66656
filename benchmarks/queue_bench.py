"""Group ``queue``: ``FileSystemQueue`` alone (no model), ours vs LazyLLM 1.4.0's.

* Enqueue rate: one writer, token-sized items (`` token123``), into a fresh session; a reader in
  another process attached to the session then reads them and its count is checked (a rate
  whose items the reader did not all see is not reported). Also with that reader busy-polling
  (the seed's loop) *while* the writer writes. The floor, in the same process just before: a
  bare ``os.write`` loop of the same framed bytes to an ``O_APPEND`` file (no framing, no lookups).
* Enqueue-to-seen latency: the writer enqueues an item every 10 ms carrying ``time.time_ns()``;
  a consumer already waiting, in another thread or another process, records when it sees it.
  Ours with the seed's dequeue loop and with a ``Session.watcher()`` wait loop (inotify);
  LazyLLM's with the seed's loop (it has nothing else), in the same session via ``init_session``.
* Empty poll: ``dequeue()`` on an empty queue, wall and CPU time per call. Ours waits up to
  ``limits.EMPTY_DEQUEUE_WAIT_S`` (2 ms) for an item by design (spec 1: keeps the seed's busy
  loop cheap), so its wall time is ~2 ms while its CPU time is tens of µs; the "no wait" row sets
  the constant to 0 in the benchmark process only, to show the raw cost of the check.
"""

from __future__ import annotations

from .common import Cell, Figure, Settings, Target, collect, is_number, pick


def _rate_ok(f: Figure) -> bool | None:
    floor, lz = f.ratio("floor"), f.ratio("lazyllm")
    if not is_number(floor):
        return None
    return floor >= 0.5 and (lz >= 300 if is_number(lz) else True)


def _le(limit: float):
    def check(f: Figure) -> bool | None:
        v = f.med("ours")
        return None if not is_number(v) else v <= limit
    return check


def _verified(runs, expected_key: str = "n") -> Cell:
    """Rates only for runs whose reader saw every item; otherwise say what it saw."""
    c = pick(runs, "rate")
    if isinstance(runs, list):
        bad = [r for r in runs if r.get("seen_by_reader") != r.get(expected_key)]
        if bad:
            return Cell([], f"reader saw {bad[0].get('seen_by_reader')} of {bad[0].get(expected_key)} items")
        c.note = f"reader saw all {runs[0].get(expected_key)}" if runs else ""
    return c


def run(settings: Settings) -> list[Figure]:
    q = settings.quick
    reps = 1 if q else settings.repeats
    figs: list[Figure] = []
    n_ours, n_lz = (5000 if q else 20000), 1000

    for concurrent in (False, True):
        ours = collect(settings, "ours", "queue_side",
                       {"mode": "rate", "n": n_ours, "concurrent": concurrent, "repeats": reps},
                       f"queue-rate{'-busy' if concurrent else ''}-ours")
        res = {"ours": ours}
        if not q:
            res["lazyllm"] = collect(settings, "lazyllm", "queue_side",
                                     {"mode": "rate", "n": n_lz, "concurrent": concurrent, "repeats": reps},
                                     f"queue-rate{'-busy' if concurrent else ''}-lazyllm", timeout=1800)
        label = ("enqueue rate, single writer, while a reader busy-polls in another process" if concurrent
                 else "enqueue rate, single writer, read back by a reader in another process")
        cells = {k: _verified(v) for k, v in res.items()}
        cells["floor"] = pick(ours, "floor_rate")
        figs.append(Figure("queue", f"rate{'_busy' if concurrent else ''}",
                           label + "; floor: a bare os.write loop of the same framed bytes (O_APPEND)", "items/s",
                           cells, Target(">= 0.5x the floor and >= 300x LazyLLM", _rate_ok) if not concurrent
                           else Target("report"), lower_is_better=False))

    m = 100 if q else 200
    variants = [("thread", "seed"), ("process", "seed"), ("thread", "watcher"), ("process", "watcher")]
    for where, style in variants:
        spec = {"mode": "latency", "m": m, "interval_ms": 10, "where": where, "style": style, "repeats": reps}
        res = {"ours": collect(settings, "ours", "queue_side", spec, f"queue-lat-{where}-{style}-ours")}
        if style == "seed" and not q:
            res["lazyllm"] = collect(settings, "lazyllm", "queue_side", spec, f"queue-lat-{where}-lazyllm",
                                     timeout=1800)
        who = "seed's dequeue loop" if style == "seed" else "waiting consumer: Session.watcher() loop (LazyLLM: none)"
        limit = 2.0 if style == "seed" else 1.0
        for stat in ("p95", "p50", "max"):
            if style == "watcher" and stat == "p50":
                continue
            figs.append(Figure(
                "queue", f"lat_{where}_{style}_{stat}",
                f"enqueue-to-seen {stat}, consumer in another {where}, {who}", "ms",
                {k: pick(v, f"{stat}_ms") for k, v in res.items()},
                Target(f"<= {limit:g} ms", _le(limit)) if stat == "p95" else Target("report"),
            ))

    k_ours = 200 if q else 1000
    res = {"ours": collect(settings, "ours", "queue_side", {"mode": "empty", "k": k_ours, "repeats": reps},
                           "queue-empty-ours")}
    if not q:
        res["lazyllm"] = collect(settings, "lazyllm", "queue_side", {"mode": "empty", "k": 2000, "repeats": reps},
                                 "queue-empty-lazyllm")
    raw = collect(settings, "ours", "queue_side", {"mode": "empty", "k": 20000, "no_wait": True, "repeats": reps},
                  "queue-empty-nowait-ours")
    figs.append(Figure("queue", "empty_wall", "empty poll: wall time per dequeue() (ours waits ≤ 2 ms by design)",
                       "µs", {k: pick(v, "wall_us") for k, v in res.items()}, Target("report")))
    figs.append(Figure("queue", "empty_cpu", "empty poll: CPU time per dequeue()", "µs",
                       {k: pick(v, "cpu_us") for k, v in res.items()}, Target("report")))
    figs.append(Figure("queue", "empty_nowait", "empty poll with EMPTY_DEQUEUE_WAIT_S = 0: wall time per call",
                       "µs", {"ours": pick(raw, "wall_us"), "lazyllm": pick(res.get("lazyllm", "not run"), "wall_us")},
                       Target("report"),
                       note="the raw cost of our empty check vs LazyLLM's empty dequeue"))
    return figs
