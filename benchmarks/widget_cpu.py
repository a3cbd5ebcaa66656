"""Live markdown as main-thread CPU: the busy scenario of ``widget_browser`` (5,000 tokens of markdown at
200 tokens/s on the harness page) under a CDP trace, before / after alternating.

``markdown_busy`` divides CDP ``TaskDuration`` (wall time of the main thread's tasks) by the wall time;
on a loaded machine a task's wall time includes waiting for a core, so runs swing by half. The
renderer main thread's CPU time (each task's ``tdur``) is disturbed far less. Tracing adds its own
overhead: compare the columns of one run, not with the 10 % target.

``python -m benchmarks.widget_cpu --against REV [--repeats N]`` (the work tree's ``js/`` vs REV's).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import widget_browser as wb

CATEGORIES = ["toplevel", "devtools.timeline"]
#: what the CPU is split into (trace event names of the renderer main thread)
PARTS = {"task": "ThreadControllerImpl::RunTask", "script": "FunctionCall", "style": "UpdateLayoutTree",
         "layout": "Layout", "paint": "Paint"}


def main_thread_cpu(trace: bytes) -> dict[str, float]:
    """CPU ms by part on the renderer main thread of a CDP trace."""
    events = json.loads(trace)
    events = events.get("traceEvents", events) if isinstance(events, dict) else events
    mains = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
             and e.get("args", {}).get("name") == "CrRendererMain"}
    names = {v: k for k, v in PARTS.items()}
    out = dict.fromkeys(PARTS, 0.0)
    for e in events:
        if e.get("ph") == "X" and e.get("name") in names and (e.get("pid"), e.get("tid")) in mains:
            out[names[e["name"]]] += e.get("tdur", 0) / 1000
    return out


def busy_cpu(b: wb.Browser) -> dict[str, Any]:
    sz = wb._sizes(False, "mixed")
    per = sz["busy_per_delta"]
    deltas = -(-sz["busy_tokens"] // per)
    with b.page() as p:
        p.call("streamPrepare", {"deltas": deltas, "perDelta": per, "seed": 3, "text": "mixed"})
        p.call("idle", 500)
        b.browser.start_tracing(page=p.page, categories=CATEGORIES)
        own = p.call("streamPaced", {"from": 0, "to": deltas, "intervalMs": sz["busy_interval_ms"]})
        cpu = main_thread_cpu(b.browser.stop_tracing())
    return {"pct": 100 * cpu["task"] / own["wallMs"], "wall_s": own["wallMs"] / 1000, **cpu}


def compare(against: str, repeats: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="lsw-cpu-"))
    try:
        wb._bundle_of(against, tmp / "before")
        wb._bundle_of(None, tmp / "after")
        got: dict[str, list[float]] = {"before": [], "after": []}
        with wb.serve(tmp) as url:
            for r in range(repeats):
                for label in ("before", "after"):
                    b = wb.Browser(url, bundle=f"/alt/{label}/widget.js")
                    try:
                        m = busy_cpu(b)
                    finally:
                        b.close()
                    got[label].append(m["pct"])
                    print(f"  [{label} = {against if label == 'before' else 'work tree'}, repeat {r + 1}] main-thread "
                          f"CPU {m['pct']:.2f} % of {m['wall_s']:.1f} s; " +
                          ", ".join(f"{k} {m[k]:.0f} ms" for k in PARTS), flush=True)
        print(f"markdown busy as CPU: before ({against}) {sorted(got['before'])}; "
              f"after (work tree) {sorted(got['after'])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m benchmarks.widget_cpu", description=__doc__.split("\n")[0])
    ap.add_argument("--against", metavar="REV", required=True)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    compare(args.against, args.repeats)
