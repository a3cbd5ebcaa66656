"""Group ``filter``: one keystroke in the trace's filter box on a 100,000-entry trace (spec section 7: <= 50 ms).

In headless chromium (``widget_browser.py``'s loopback page and fake anywidget host, the real bundle): a
final state with a 100,000-entry trace is loaded, the filter box gets the focus (its search index is built
in the background, in frame-sized slices: reported as ``index build``), then queries are typed one
character at a time. Per keystroke the figure is the widget's own main-thread work: the input handler plus
every widget animation frame until the page is idle again (matching, rows, the visible rows redrawn).
The wall time until the rows are drawn (which adds the wait for the next frame) is reported beside it.

    python -m benchmarks.trace_filter [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys

from .common import Cell, Figure, Settings, Target, cell_of

#: typed one character at a time: plain text (name, input, output), field filters, a phrase
QUERIES = ["search", "kind:tool", "status:error", "question 12", "q5"]


def measure(settings: Settings) -> dict[str, Cell]:
    from .widget_browser import Browser, serve, unavailable_reason

    reason = unavailable_reason()
    if reason:
        settings.log(f"  trace filter: skipped ({reason})")
        return {}
    reps = 1 if settings.quick else max(1, settings.repeats // 2)
    per_rep: list[float] = []
    with serve() as url:
        b = Browser(url)
        try:
            for i in range(reps):
                with b.page() as p:
                    r = p.call("filterKeystrokes", {"entries": 100_000, "queries": QUERIES})
                keys = r["keys"]
                work = [k["workMs"] for k in keys]
                wall = [k["wallMs"] for k in keys]
                worst = max(keys, key=lambda k: k["workMs"])
                settings.log(
                    f"  trace filter {i + 1}/{reps}: {len(keys)} keystrokes on 100,000 entries: widget work per "
                    f"keystroke median {statistics.median(work):.1f} ms, max {max(work):.1f} ms ({worst['query']!r}, "
                    f"{worst['status']}); wall until drawn median {statistics.median(wall):.1f} ms, max "
                    f"{max(wall):.1f} ms; longest task {max(k['longTaskMax'] for k in keys):.0f} ms; index build "
                    f"{r['indexMs']:.0f} ms in the background after the box got the focus")
                per_rep.append(max(work))
        finally:
            b.close()
    return {"filter_keystroke": cell_of(per_rep, "max over keystrokes (quick)" if settings.quick else
                                        "max over keystrokes per repeat")}


def run(settings: Settings) -> list[Figure]:
    cells = measure(settings)
    cell = cells.get("filter_keystroke")
    return [Figure("filter", "filter_keystroke", "trace filter: one keystroke on a 100,000-entry trace", "ms",
                   {"ours": cell} if cell else {}, Target("<= 50 ms"),
                   pending="" if cell else "pending: no browser")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.trace_filter", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    settings = Settings(quick=args.quick, repeats=max(1, args.repeats),
                        log=lambda m: print(m, file=sys.stderr, flush=True))
    cell = measure(settings).get("filter_keystroke")
    if cell is None:
        return 1
    print(f"filter_keystroke {cell.median:.1f} ms  target <= 50 ms  ({cell.note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
