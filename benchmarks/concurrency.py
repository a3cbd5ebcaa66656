"""Group ``concurrency``: 20 runs streaming at once in one process.

Each run asks for its own tagged tokens (``r7.0 r7.1 ...``), so a token read by another run's
consumer is counted as delivered to the wrong run.

* ours, seed loop: one consumer thread per run, each in its own ``lazystream_widget.session()``,
  submitting to one shared ``lazystream_widget.ThreadPoolExecutor(20)``, reading with the seed's loop;
* ours, widget runner: 20 × ``Run(agent, q).start()`` from one thread (what 20 ``view.ask`` do);
* LazyLLM 1.4.0: its serving pattern (its ``WebModule``): a thread per request, so a session per
  request, one shared ``lazyllm.ThreadPoolExecutor(20)``, the seed's loop plus its 10 ms sleep;
* openai client alone: a thread per run streaming with one shared client (the ceiling).

Throughput is all tokens delivered / wall time from the start of the 20 runs to the end of the last.
"""

from __future__ import annotations

from .common import Figure, Settings, Target, collect, pick


def _zero(f: Figure) -> bool | None:
    c = f.cells.get("ours")
    return None if c is None or not c.ok else max(c.values) == 0


def run(settings: Settings) -> list[Figure]:
    q = settings.quick
    reps = 1 if q else 3
    n = 100 if q else 200
    base = {"base_url": settings.base_url, "runs": 20, "n": n, "delay": 0.0, "repeats": reps}
    res = {
        "ours": collect(settings, "ours", "concurrency", {**base, "style": "seed"}, "conc-ours-seed"),
        "runner": collect(settings, "ours", "concurrency", {**base, "style": "runner"}, "conc-ours-runner"),
        "openai": collect(settings, "ours", "concurrency", {**base, "style": "openai"}, "conc-openai"),
    }
    if not q:
        res["lazyllm"] = collect(settings, "lazyllm", "concurrency", {**base, "style": "web"}, "conc-lazyllm",
                                 timeout=1800)
    figs = []
    for key, label, unit, tgt in (
        ("wrong_run", "tokens delivered to the wrong run", "tokens", Target("0", _zero)),
        ("missing", "tokens missing from their run", "tokens", Target("0", _zero)),
        ("tokens_per_s", "total throughput", "tokens/s", Target("report")),
        ("wall_s", "wall time for all 20 runs", "s", Target("report")),
    ):
        lower = key != "tokens_per_s"
        cells = {("floor" if c == "openai" else c): pick(res[c], key)
                 for c in ("ours", "lazyllm", "openai") if c in res}
        figs.append(Figure("concurrency", f"{key}_seed", f"20 runs × {n} tokens: {label} — seed loop; peer: openai "
                           "client", unit, cells, tgt, lower_is_better=lower))
        figs.append(Figure("concurrency", f"{key}_runner", f"20 runs × {n} tokens: {label} — widget runner", unit,
                           {"ours": pick(res["runner"], key), "floor": pick(res["openai"], key)}, tgt,
                           lower_is_better=lower))
    errs = [e for r in res.values() if isinstance(r, list) for run in r for e in run.get("errors", [])]
    if errs:
        settings.log(f"    concurrency: {len(errs)} run errors, e.g. {errs[0]}")
        settings.extra["concurrency_errors"] = errs[:20]
    return figs

