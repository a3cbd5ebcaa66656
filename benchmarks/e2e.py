"""Group ``e2e``: agent + queue + consumer against the scripted model over real HTTP.

Systems, each in its own fresh process after one unmeasured warm-up run:

* ours, seed loop: ``OnlineChatModule(stream=True)`` submitted directly through
  ``ThreadPoolExecutor(1)``, the seed's loop (``if dequeue(): ... elif future.done(): break``) on
  the main thread, imports changed only; also (one figure) the seed's ``FunctionCallAgent`` over it;
* ours, widget runner: ``lazystream_widget.runner.Run`` (what ``StreamView.ask`` starts) into a real
  ``StreamView`` whose comm is tapped: a fresh session per run, the process's one pump thread,
  deltas paced to one message per display frame. Timed when the pump takes tokens off the queue,
  and when the widget sends them as a comm message;
* LazyLLM 1.4.0, seed loop: the same code with ``import lazyllm``, ``stream=True`` on the agent;
* the openai client alone (the floor): ``chat.completions.create(stream=True)`` and a for loop.

Times are from just before the query is submitted to when the consumer sees the token;
lag is the consumer's ``time.time_ns()`` minus the stamp the server took when it wrote the token.
"""

from __future__ import annotations

from .common import Cell, Figure, Settings, Target, at_most, collect, collect_rounds, pick, ratio_at_most

SEED_SYSTEMS = (("ours", "seed"), ("lazyllm", "seed"), ("openai", "openai"))


def _spec(settings: Settings, system: str, n: int, delay: float, repeats: int, **kw) -> dict:
    return {"base_url": settings.base_url, "system": system, "n": n, "delay": delay, "repeats": repeats, **kw}


def _side(column: str) -> str:
    return "lazyllm" if column == "lazyllm" else "ours"


def _col(system: str) -> str:
    """The table column of a system: the openai client alone is the floor of these figures."""
    return "floor" if system == "openai" else system




def _all_zero(f: Figure) -> bool | None:
    c = f.cells.get("ours")
    return None if c is None or not c.ok else max(c.values) == 0


def run(settings: Settings) -> list[Figure]:
    q = settings.quick
    reps = 1 if q else settings.repeats  # quick: one process per system and size (each costs its start-up)
    figs: list[Figure] = []
    runners = not settings.extra.get("no_runner")

    # ---- time to first / last token, no delay ----------------------------------------------
    # The workload of spec 7: OnlineChatModule(stream=True) submitted directly through
    # ThreadPoolExecutor(1), the seed's loop on the main thread; our widget runner; the openai
    # client alone (the floor). One process per run, interleaved round by round (load drifts).
    for n in (500, 2000):
        jobs = [(f"e2e-{n}-ours", "ours", "e2e", _spec(settings, "seed", n, 0.0, 1)),
                (f"e2e-{n}-openai", "ours", "e2e", _spec(settings, "openai", n, 0.0, 1))]
        if runners:
            jobs.append((f"e2e-{n}-runner", "ours", "e2e", _spec(settings, "runner", n, 0.0, 1)))
        if n == 2000 and not q:
            jobs.append((f"e2e-{n}-agent", "ours", "e2e", _spec(settings, "seed", n, 0.0, 1, workload="agent")))
        got = collect_rounds(settings, jobs, reps)
        res = {"ours": got[f"e2e-{n}-ours"], "openai": got[f"e2e-{n}-openai"]}
        res_runner = got.get(f"e2e-{n}-runner", "skipped")
        if not q:
            # LazyLLM in one process (its runs take seconds; its ratio is not close to any bound)
            res["lazyllm"] = collect(settings, "lazyllm", "e2e", _spec(settings, "seed", n, 0.0, reps),
                                     f"e2e-{n}-lazyllm", timeout=1800)
        for what, key in (("first", "ttft_ms"), ("last", "ttlt_ms")):
            last = n == 2000 and what == "last"
            target = Target("<= 1.1x the floor", ratio_at_most(1.1)) if last else Target("report")
            cells = {_col(col): pick(r, key) for col, r in res.items()}
            figs.append(Figure("e2e", f"t{what}_{n}_seed", f"{n} tokens, no delay: time to {what} token — "
                               "OnlineChatModule + seed loop; floor: openai client alone", "ms", cells, target))
            figs.append(Figure("e2e", f"t{what}_{n}_runner", f"{n} tokens, no delay: time to {what} token — "
                               "widget runner, at the comm message", "ms",
                               {"ours": pick(res_runner, f"sink_{key}"), "floor": cells.get("floor", Cell())},
                               target))
        if n == 2000 and not q:
            figs.append(Figure("e2e", "tlast_2000_agent", "2000 tokens, no delay: time to last token — the seed's "
                               "FunctionCallAgent + seed loop (one model turn)", "ms",
                               {"ours": pick(got[f"e2e-{n}-agent"], "ttlt_ms"),
                                "floor": pick(res["openai"], "ttlt_ms")}, Target("report")))

    # ---- per-token lag at 50 tokens/s ----------------------------------------------------------
    n_lag = 100 if q else 250
    reps_lag = 1 if q else max(3, settings.repeats - 2)
    jobs = [("lag-ours", "ours", "e2e", _spec(settings, "seed", n_lag, 0.02, 1, keep_lags=True)),
            ("lag-openai", "ours", "e2e", _spec(settings, "openai", n_lag, 0.02, 1, keep_lags=True))]
    if runners:
        jobs.append(("lag-runner", "ours", "e2e", _spec(settings, "runner", n_lag, 0.02, 1, keep_lags=True)))
    got = collect_rounds(settings, jobs, reps_lag)
    lag = {"ours": got["lag-ours"], "openai": got["lag-openai"]}
    lag_runner = got.get("lag-runner", "skipped")
    if not q:
        lag["lazyllm"] = collect(settings, "lazyllm", "e2e",
                                 _spec(settings, "seed", n_lag, 0.02, reps_lag, keep_lags=True), "lag-lazyllm",
                                 timeout=1200)
    settings.extra["lags"] = {
        col: [x for r in runs for x in r.get("lags_ms", [])] for col, runs in lag.items() if not isinstance(runs, str)
    }
    if not isinstance(lag_runner, str):
        settings.extra["lags"]["runner"] = [x for r in lag_runner for x in r.get("lags_ms", [])]
        settings.extra["lags"]["runner_sink"] = [x for r in lag_runner for x in r.get("sink_lags_ms", [])]
    # the "queue to pump" timing overrides Run._drain; if the runner changed shape, say so (not a failure)
    drain_pending = ""
    if isinstance(lag_runner, list) and not all(r.get("drain_instrumented", True) for r in lag_runner):
        drain_pending = "pending: Run._drain changed; update benchmarks/ours_side/e2e.py"
    floor_note = "from the model server's stamp; floor: the openai client alone"
    for stat in ("p95", "p50", "max"):
        key = f"lag_{stat}_ms"
        figs.append(Figure("e2e", f"lag_{stat}_seed", f"per-token lag {stat} at 50 tokens/s — seed loop", "ms",
                           {_col(col): pick(r, key) for col, r in lag.items()},
                           Target("<= 5 ms", at_most(5.0)) if stat == "p95" else Target("report"), note=floor_note))
        figs.append(Figure("e2e", f"lag_{stat}_runner", f"per-token lag {stat} at 50 tokens/s — widget runner, "
                           "until the comm message is sent", "ms",
                           {"ours": pick(lag_runner, f"sink_{key}"), "floor": pick(lag.get("openai", "n/a"), key)},
                           Target("<= 10 ms", at_most(10.0)) if stat == "p95" else Target("report"), note=floor_note))
    figs.append(Figure("e2e", "lag_p95_runner_drain", "per-token lag p95 at 50 tokens/s — widget runner, until its "
                       "pump takes the token off the queue", "ms",
                       {"ours": pick(lag_runner, "lag_p95_ms"), "floor": pick(lag.get("openai", "n/a"), "lag_p95_ms")},
                       Target("report"), pending=drain_pending, note=floor_note))

    # ---- tokens lost at the end of the stream with the seed's exact loop ----------------------
    n_loss, runs_loss = 800, (5 if q else 20)
    for col, system in SEED_SYSTEMS[:2]:
        if col == "lazyllm" and q:
            continue
        runs = collect(settings, _side(col), "e2e", _spec(settings, system, n_loss, 0.0, runs_loss),
                       f"loss-{col}", timeout=1800)
        settings.extra.setdefault("loss", {})[col] = runs
    loss = settings.extra.get("loss", {})

    def loss_cell(col: str, key: str) -> Cell:
        runs = loss.get(col)
        if runs is None:
            return Cell([], "not run")
        c = pick(runs, key)
        if c.ok:
            c.note = f"{sum(1 for v in c.values if v > 0)} of {len(c.values)} runs, {int(sum(c.values))} in all"
        return c

    figs.append(Figure("e2e", "lost_tokens", f"tokens lost at the end, seed's exact loop ({n_loss} tokens per run)",
                       "tokens/run", {c: loss_cell(c, "lost") for c in ("ours", "lazyllm")},
                       Target("0", _all_zero)))
    figs.append(Figure("e2e", "leftover_tokens", "  ... of which left in the queue for the next call", "tokens/run",
                       {c: loss_cell(c, "leftover") for c in ("ours", "lazyllm")},
                       Target("0", _all_zero)))
    return figs
