"""Group ``cpu``: CPU of the consumer's process, as process CPU time / wall time, in % of one core.

* Idle: the model is silent (its reply has a long ``first_delay``); the window starts 1 s after
  the query, so only waiting is measured. The seed loop busy-polls by design (reported, not a
  target); the widget runner's pump sleeps on inotify (target < 1 %); the openai client (the
  peer) blocks in recv.
* Streaming: 50 tokens/s; the window covers the stream (the process holds the agent too: HTTP,
  SSE parsing, queue writes; the "consumer thread" figure is the reading thread alone).

The process runs nothing else; the model server is another process.
"""

from __future__ import annotations

from .common import Figure, Settings, Target, collect, collect_rounds, is_number, pick


def _lt1(f: Figure) -> bool | None:
    v = f.med("ours")
    return None if not is_number(v) else v < 1.0


def _measure(settings: Settings, systems, reps: int, what: str, spec: dict) -> dict:
    """Our processes interleaved round by round (load drifts); LazyLLM's in one process."""
    jobs = [(f"cpu-{what}-{col}-{system}", "ours", "e2e", {"base_url": settings.base_url, "system": system, **spec})
            for col, system in systems if col != "lazyllm"]
    got = collect_rounds(settings, jobs, reps)
    res = {(col, system): got[f"cpu-{what}-{col}-{system}"] for col, system in systems if col != "lazyllm"}
    if any(col == "lazyllm" for col, _ in systems):
        res[("lazyllm", "seed")] = collect(settings, "lazyllm", "e2e", {"base_url": settings.base_url,
                                           "system": "seed", "repeats": reps, **spec}, f"cpu-{what}-lazyllm-seed")
    return res


def run(settings: Settings) -> list[Figure]:
    q = settings.quick
    reps = 1 if q else 3
    idle, window = (2.0, [0.5, 1.5]) if q else (8.0, [1.0, 7.0])
    figs: list[Figure] = []
    systems = [("ours", "seed"), ("ours", "runner"), ("openai", "openai")] + ([] if q else [("lazyllm", "seed")])

    res = _measure(settings, systems, reps, "idle",
                   {"n": 5, "delay": 0.0, "first_delay": idle, "cpu_window": window})

    def peer(key: str) -> dict:
        return {("floor" if c == "openai" else c): pick(r, key) for (c, s), r in res.items() if s != "runner"}

    figs.append(Figure("cpu", "idle_seed", "idle consumer (silent model) — seed loop; peer: openai client",
                       "% core", peer("cpu.process_cpu_pct"), Target("report (busy-polls by design)")))
    figs.append(Figure("cpu", "idle_runner", "idle consumer (silent model) — widget runner; peer: openai client",
                       "% core", {"ours": pick(res[("ours", "runner")], "cpu.process_cpu_pct"),
                                  "floor": pick(res[("openai", "openai")], "cpu.process_cpu_pct")},
                       Target("< 1 %", _lt1)))

    n, delay = (100, 0.02) if q else (250, 0.02)
    span = n * delay
    res = _measure(settings, systems, reps, "stream", {"n": n, "delay": delay, "cpu_window": [0.3, span - 0.2]})
    for key, what in (("cpu.process_cpu_pct", "process"), ("cpu.thread_cpu_pct", "consumer thread")):
        figs.append(Figure("cpu", f"stream_seed_{what}", f"streaming at 50 tokens/s, {what} — seed loop",
                           "% core", peer(key), Target("report")))
        figs.append(Figure("cpu", f"stream_runner_{what}", f"streaming at 50 tokens/s, {what} — widget runner",
                           "% core", {"ours": pick(res[("ours", "runner")], key),
                                      "floor": pick(res[("openai", "openai")], key)}, Target("report")))
    return figs
