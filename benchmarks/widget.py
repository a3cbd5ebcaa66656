"""Group ``widget``: spec section 7's widget and browser figures (ours only: no peer has a widget).

Comm figures come from a real ``StreamView`` with its outgoing channel tapped, in a child
process (``ours_side/widget_comm.py``); browser figures from headless chromium
(``widget_browser.py``). Rows whose key is missing stay pending (they do not fail ``--quick``).
"""

from __future__ import annotations

from .common import Cell, Figure, Settings, Target, WorkerError, cell_of, ours_worker, run_worker

#: key, label, unit, target text (spec 7)
WIDGET_FIGURES = [
    ("comm_msgs_per_s", "comm messages per view at 1,000 tokens/s", "msg/s", "<= 30 per second"),
    ("comm_payload_ratio", "comm payload bytes / answer bytes, 50,000-token answer", "x", "<= 2.5x"),
    ("render_ratio", "browser render: ms per 1,000 tokens at 50k vs at 5k tokens", "x", "<= 1.5"),
    ("longest_task", "longest main-thread task, 10 MB answer or 100,000-entry trace", "ms", "<= 200 ms"),
    ("markdown_busy", "browser main-thread busy / wall, live markdown at 200 tokens/s", "%", "<= 20 %"),
    ("nothing_lost", "20,000 tokens as fast as possible: complete in the browser", "", "complete"),
]


def measure(settings: Settings) -> dict[str, Cell]:
    """Kernel-side comm figures (a tapped StreamView in a child process) and the browser rows."""
    cells: dict[str, Cell] = {}
    spec = {
        "base_url": settings.base_url,
        "rate_tokens": 1000 if settings.quick else 3000,
        "delay": 0.0005,  # ~1,000 tokens/s from the scripted model (its timer adds ~0.5 ms)
        "big_tokens": 5000 if settings.quick else 50000,
    }
    rates, ratios = [], []
    for i in range(1 if settings.quick else max(1, settings.repeats // 2)):
        try:
            res = run_worker(ours_worker("widget_comm"), spec, name=f"widget-comm-{i}")
        except WorkerError as exc:
            settings.log(f"  widget comm: {exc}")
            break
        rates.append(res["msgs_per_s"])
        ratios.append(res["payload_ratio"])
        settings.log(f"  widget comm: {res['msgs_per_s']:.1f} msg/s at {res['tokens_per_s']:.0f} tokens/s; "
                     f"payload {res['payload_ratio']:.2f}x of {res['answer_bytes']} answer bytes")
    if rates:
        cells["comm_msgs_per_s"] = cell_of(rates)
        note = "5,000 tokens (quick)" if settings.quick else ""
        cells["comm_payload_ratio"] = cell_of(ratios, note)
    try:
        from .widget_browser import measure_browser
    except ImportError as exc:
        settings.log(f"  widget browser figures: not available ({exc})")
    else:
        cells.update(measure_browser(settings))
    return cells


def run(settings: Settings) -> list[Figure]:
    try:
        import lazystream_widget.widget  # noqa: F401
    except Exception as exc:  # anywidget missing, bundle missing, not written yet...
        pending = "pending: widget"
        settings.log(f"  widget figures skipped: pending: widget ({type(exc).__name__}: {exc})"[:200])
        cells: dict[str, Cell] = {}
    else:
        pending = "pending: hook not filled (benchmarks/widget.py)"
        cells = measure(settings)
    figs = []
    for key, label, unit, target in WIDGET_FIGURES:
        cell = cells.get(key)
        figs.append(Figure("widget", key, label, unit, {"ours": cell} if cell else {}, Target(target),
                           pending="" if cell else pending))
    return figs
