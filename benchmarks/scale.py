"""Group ``scale``: many runs in one Jupyter kernel, and what its comm channel carries.

A real kernel (``kernel_harness.Kernel``: ipykernel through jupyter_client, iopub read as
the Jupyter server would) runs 1, 10 and 100 ``StreamView`` s at once, one run each, 100
tagged tokens at 20 tokens/s per run, the model server in its own process. Measured:

* kernel CPU (``time.process_time`` of the kernel over the runs, all threads), in cores and
  per 1,000 tokens: it should grow with tokens per second, not with the number of runs;
* wall time of all runs vs one run's alone;
* tokens delivered to the wrong run or missing, twice: in ``run.text`` (kernel side) and in
  what left on iopub (the comm deltas and the final ``runs`` state of each view);
* comm messages on iopub: the busiest 3-second window, per second (Jupyter's
  ``iopub_msg_rate_limit`` is 1,000 messages/s over 3 s), all views together.

And one view at ~1,000 tokens/s: its comm messages per second (one per display frame at most).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from typing import Any

from .common import Cell, Figure, Settings, Target, at_most, cell_of, is_number
from .kernel_harness import Kernel, KernelError, max_rate
from .workerlib import TAG_RE

RUNS = (1, 10, 100)
TOKENS, DELAY = 100, 0.05  # 20 tokens/s for 5 s


def _cells(k: Kernel, call: str, timeout: float = 900) -> Any:
    return k.result(f"from benchmarks.ours_side import kernel_cells\nkernel_cells.{call}", timeout)


def _iopub_text(k: Kernel, since: int, views: dict[str, int]) -> dict[int, str]:
    """Per view: the final ``runs`` state's text if it came, else the concatenated deltas (what a browser has)."""
    deltas: dict[int, list[str]] = defaultdict(list)
    final: dict[int, str] = {}
    for m in k.messages[since:]:
        if m.msg_type != "comm_msg" or m.comm_id not in views:
            continue
        data = m.content.get("data", {})
        view = views[m.comm_id]
        if m.method == "custom" and data.get("content", {}).get("type") == "delta":
            deltas[view].append(data["content"].get("text", ""))
        elif m.method == "update" and "runs" in data.get("state", {}):
            for state in data["state"]["runs"]:
                if state.get("status") != "running":
                    final[view] = state.get("text", "")
    return {v: final.get(v, "".join(deltas[v])) for v in views.values()}


def _check(texts: dict[int, str], n: int) -> tuple[int, int]:
    wrong = missing = 0
    for view, text in texts.items():
        tags = [tag for tag, _ in TAG_RE.findall(text)]
        own = sum(1 for t in tags if t == f"r{view}")
        wrong += len(tags) - own
        missing += n - own
    return wrong, missing


def measure(settings: Settings, log) -> dict[str, Any]:
    out: dict[str, Any] = {"scale": {}, "comm": {}}
    counts = (1, 10) if settings.quick else RUNS
    reps = 1 if settings.quick else max(1, min(3, settings.repeats))
    with Kernel() as k:
        _cells(k, f"warm_up({settings.base_url!r})")
        for n_runs in counts:
            rows = []
            for _ in range(reps):
                since = len(k.messages)
                res = _cells(k, f"many_runs({settings.base_url!r}, {n_runs}, {TOKENS}, {DELAY})")
                comm = [m.at for m in k.messages[since:] if m.msg_type == "comm_msg"]
                every = [m.at for m in k.messages[since:]]
                res["iopub_comm_max_per_s_3s"] = max_rate(comm)
                res["iopub_all_max_per_s_3s"] = max_rate(every)
                per_view = defaultdict(list)
                for m in k.messages[since:]:
                    if m.msg_type == "comm_msg" and m.method == "custom":
                        per_view[m.comm_id].append(m.at)
                res["max_view_per_s_1s"] = max((max_rate(v, 1.0) for v in per_view.values()), default=0.0)
                res["iopub_wrong"], res["iopub_missing"] = _check(_iopub_text(k, since, res["views"]), TOKENS)
                res["cpu_ms_per_1k_tokens"] = 1000 * res["cpu_s"] / (n_runs * TOKENS / 1000)
                rows.append({key: v for key, v in res.items() if key not in ("views", "run_ids")})
                log(f"    {n_runs} run(s): {res['wall_s']:.2f} s, {res['cores']:.3f} cores, "
                    f"{res['cpu_ms_per_1k_tokens']:.0f} ms CPU per 1k tokens, wrong {res['wrong_run']}/"
                    f"{res['iopub_wrong']}, missing {res['missing']}/{res['iopub_missing']}, iopub comm "
                    f"{res['iopub_comm_max_per_s_3s']:.0f}/s (3 s), busiest view {res['max_view_per_s_1s']:.0f}/s")
            out["scale"][n_runs] = rows
            peer = _cells(k, f"many_openai({settings.base_url!r}, {n_runs}, {TOKENS}, {DELAY})")
            out.setdefault("peer", {})[n_runs] = peer
            log(f"    {n_runs} stream(s) read by the openai client alone: {peer['cores']:.3f} cores, "
                f"{peer['cpu_ms_per_1k_tokens']:.0f} ms CPU per 1k tokens")
        # one view at ~1,000 tokens/s
        n_fast = 1000 if settings.quick else 3000
        since = len(k.messages)
        res = _cells(k, f"one_view({settings.base_url!r}, {n_fast}, 0.0005)")
        times = sorted(m.at for m in k.messages[since:] if m.msg_type == "comm_msg" and m.comm_id == res["view"]
                       and m.method == "custom" and m.content.get("data", {}).get("content", {}).get("type") == "delta")
        span = times[-1] - times[0] if len(times) > 1 else math.nan
        out["comm"] = {"msgs_per_s": (len(times) - 1) / span if span > 0 else math.nan,
                       "tokens_per_s": res["tokens"] / res["wall_s"], "messages": len(times)}
        log(f"    one view at {out['comm']['tokens_per_s']:.0f} tokens/s: {out['comm']['msgs_per_s']:.1f} comm "
            f"messages/s ({len(times)} deltas)")
    return out


def run(settings: Settings) -> list[Figure]:
    try:
        data = measure(settings, settings.log)
    except (KernelError, TimeoutError, OSError, RuntimeError) as exc:
        settings.log(f"  scale: FAILED: {type(exc).__name__}: {exc}"[:500])
        bad = Cell([], f"error: {type(exc).__name__}: {str(exc)[:150]}")
        return [Figure("scale", "failed", "many runs in one kernel", "", {"ours": bad})]
    settings.extra["scale"] = data
    figs: list[Figure] = []
    scale = data["scale"]

    def cell(n_runs: int, key: str) -> Cell:
        rows = scale.get(n_runs)
        return cell_of([r[key] for r in rows]) if rows else Cell([], "not run (--quick)")

    def zero(key_kernel: str, key_iopub: str):
        def check(f: Figure) -> bool | None:
            vals = [r[k] for rows in scale.values() for r in rows for k in (key_kernel, key_iopub)]
            return all(v == 0 for v in vals) if vals else None
        return check

    top = max(scale)
    one_wall = statistics.median(r["wall_s"] for r in scale[1])
    counts = sorted(scale)  # --quick: 1 and 10 only
    peer = data.get("peer", {})

    def peer_cell(n_runs: int, key: str) -> Cell:
        return cell_of([peer[n_runs][key]]) if n_runs in peer else Cell([], "not run")

    for n_runs in counts:
        figs.append(Figure("scale", f"cores_{n_runs}", f"{n_runs} run(s) at 20 tokens/s: kernel CPU; peer: the same "
                           "streams read by the openai client alone (no widget)", "cores",
                           {"ours": cell(n_runs, "cores"), "floor": peer_cell(n_runs, "cores")},
                           Target("<= 0.5 core", at_most(0.5)) if n_runs == 100 else Target("report")))
    for n_runs in counts:
        figs.append(Figure("scale", f"cpu_per_token_{n_runs}", f"{n_runs} run(s): kernel CPU per 1,000 tokens; peer: "
                           "the openai client alone", "ms", {"ours": cell(n_runs, "cpu_ms_per_1k_tokens"),
                                                             "floor": peer_cell(n_runs, "cpu_ms_per_1k_tokens")},
                           Target("report")))
    for n_runs in counts:
        c = cell(n_runs, "wall_s")
        figs.append(Figure("scale", f"wall_{n_runs}", f"{n_runs} run(s): wall time until all ended (one run alone: "
                           f"{one_wall:.2f} s)", "s", {"ours": c},
                           Target("<= 1.3x one run's", _wall_at_most(1.3, one_wall)) if n_runs == 100
                           else Target("report")))
    figs.append(Figure("scale", "mixed", f"tokens delivered to the wrong run (run.text / iopub), up to {top} runs",
                       "tokens", {"ours": cell_of([r["wrong_run"] + r["iopub_wrong"] for rows in scale.values()
                                                   for r in rows])}, Target("0", zero("wrong_run", "iopub_wrong"))))
    figs.append(Figure("scale", "lost", f"tokens missing from their run (run.text / iopub), up to {top} runs",
                       "tokens", {"ours": cell_of([r["missing"] + r["iopub_missing"] for rows in scale.values()
                                                   for r in rows])}, Target("0", zero("missing", "iopub_missing"))))
    figs.append(Figure("scale", "iopub_rate", f"{top} views: comm messages on iopub, busiest 3 s", "msg/s",
                       {"ours": cell(top, "iopub_comm_max_per_s_3s")},
                       Target("well under 1,000/s (budget 300)", at_most(600))))
    figs.append(Figure("scale", "iopub_all_rate", f"{top} views: all iopub messages, busiest 3 s", "msg/s",
                       {"ours": cell(top, "iopub_all_max_per_s_3s")}, Target("report (Jupyter drops past 1,000)")))
    comm = data["comm"]
    figs.append(Figure("scale", "view_rate", f"one view at ~{comm['tokens_per_s']:,.0f} tokens/s: comm messages",
                       "msg/s", {"ours": cell_of([comm["msgs_per_s"]])},
                       Target("<= 60 per second", at_most(60 * 1.05))))
    return figs



def _wall_at_most(ratio: float, one: float):
    def check(f: Figure) -> bool | None:
        v = f.med("ours")
        return None if not is_number(v) or not one else v <= ratio * one
    return check


if __name__ == "__main__":  # python -m benchmarks.scale: this group alone, with its own model server
    import sys

    from .model_server import ModelServer

    def _log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with ModelServer() as server:
        s = Settings(quick="--quick" in sys.argv, repeats=1, base_url=server.base_url, log=_log)
        print(json.dumps(measure(s, _log), indent=1, default=str))
