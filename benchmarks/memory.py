"""Group ``memory``: how much the kernel grows for a big run, against what the run holds.

A fresh Jupyter kernel per size (``kernel_harness.Kernel``; iopub read as the Jupyter server
would, so the comm messages really leave): one ``StreamView``, one warm-up run, then the peak
RSS is reset to the current RSS (``/proc/<pid>/clear_refs``) and one run streams ``n`` tokens as
fast as the model sends them. Growth = the kernel's peak RSS during the run (``VmHWM``) minus its
RSS before; it is compared with the bytes of the answer plus its trace (the JSON of every trace
entry) that the run keeps. The target (spec 7): at most 3x for a 1M-token run.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from .common import Cell, Figure, Settings, Target, at_most, cell_of
from .kernel_harness import Kernel, KernelError

SIZES = (100_000, 1_000_000)
QUICK_SIZES = (20_000,)


def measure_one(settings: Settings, n: int) -> dict[str, Any]:
    with Kernel(keep_content=False) as k:
        k.result(f"from benchmarks.ours_side import kernel_cells\nkernel_cells.warm_up({settings.base_url!r})")
        k.run("import gc; gc.collect()")
        base = k.rss_kib()
        reset = k.reset_peak_rss()
        cell = f"from benchmarks.ours_side import kernel_cells\nkernel_cells.big_run({settings.base_url!r}, {n})"
        res = k.result(cell, timeout=3600)
        peak = k.peak_rss_kib()
        after = k.rss_kib()
    held = res["answer_bytes"] + res["trace_bytes"]
    growth = (peak - base) * 1024
    return {**res, "rss_before_kib": base, "rss_peak_kib": peak, "rss_after_kib": after, "peak_reset": reset,
            "growth_bytes": growth, "ratio": growth / held if held else float("nan"),
            "after_ratio": (after - base) * 1024 / held if held else float("nan")}


def run(settings: Settings) -> list[Figure]:
    sizes = QUICK_SIZES if settings.quick else SIZES
    rows: dict[int, dict[str, Any]] = {}
    for n in sizes:
        try:
            rows[n] = r = measure_one(settings, n)
        except (KernelError, TimeoutError, OSError, RuntimeError) as exc:
            settings.log(f"  memory {n:,} tokens: FAILED: {type(exc).__name__}: {exc}"[:400])
            continue
        settings.log(f"    {n:,} tokens in {r['wall_s']:.1f} s: answer {r['answer_bytes'] / 1e6:.2f} MB + trace "
                     f"{r['trace_bytes'] / 1e3:.1f} kB; kernel RSS {r['rss_before_kib'] / 1024:.0f} MB before, peak "
                     f"+{r['growth_bytes'] / 1e6:.1f} MB ({r['ratio']:.2f}x), after +"
                     f"{(r['rss_after_kib'] - r['rss_before_kib']) / 1024:.1f} MB"
                     + ("" if r["peak_reset"] else " (peak could not be reset: since kernel start)"))
    settings.extra["memory"] = rows
    figs = []
    for n in sizes:
        r = rows.get(n)
        cell = cell_of([r["ratio"]]) if r else Cell([], "error: see the log")
        big = n == max(sizes)
        figs.append(Figure("memory", f"rss_{n}", f"kernel peak RSS growth / (answer + trace bytes), {n:,}-token run",
                           "x", {"ours": cell},
                           Target("<= 3x", at_most(3.0)) if big and not settings.quick else Target("report")))
        if r:
            figs.append(Figure("memory", f"rss_mb_{n}", f"  ... in MB: peak growth ({r['answer_bytes'] / 1e6:.1f} MB "
                               "answer)", "MB", {"ours": cell_of([r["growth_bytes"] / 1e6])}, Target("report")))
    return figs



if __name__ == "__main__":  # python -m benchmarks.memory [N]: one size, with its own model server
    from .model_server import ModelServer

    with ModelServer() as server:
        s = Settings(base_url=server.base_url, log=lambda m: print(m, file=sys.stderr, flush=True))
        print(json.dumps(measure_one(s, int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), indent=1))
