"""Group ``widget``: the widget's own costs, apart from Jupyter (ours only: no peer has a widget).

The comm payload comes from a real ``StreamView`` with its outgoing channel tapped, in a child
process (``ours_side/widget_comm.py``); the browser rows from the real bundle in a minimal host page
in headless chromium (``widget_browser.py``), where every task is the widget's own. What JupyterLab
adds (its websocket, its parse of the final state) is measured by the ``notebook`` group; the comm
message rates by the ``scale`` group (a real kernel).
"""

from __future__ import annotations

from .common import Cell, Figure, Settings, Target, WorkerError, at_most, cell_of, ours_worker, run_worker

#: key, label, unit, target text, check (spec 7)
WIDGET_FIGURES = [
    ("comm_payload_ratio", "comm payload bytes / answer bytes, 50,000-token answer (the run's custom messages and "
     "trait updates)", "x", "<= 2.2x", 2.2),
    ("render_ratio", "browser render: ms per 1,000 tokens at 50k vs at 5k tokens (10-token deltas)", "x", "<= 1.3",
     1.3),
    ("longest_task", "longest task of our code (harness page), streaming a 10 MB answer or loading a 100,000-entry "
     "trace", "ms", "<= 50 ms", 50.0),
    ("markdown_busy", "browser main-thread busy / wall, live markdown at 200 tokens/s (harness page)", "%", "<= 10 %",
     10.0),
]


def measure(settings: Settings) -> dict[str, Cell]:
    """Kernel-side comm figures (a tapped StreamView in a child process) and the browser rows."""
    cells: dict[str, Cell] = {}
    spec = {"base_url": settings.base_url, "big_tokens": 5000 if settings.quick else 50000}
    ratios, bundles = [], []
    for i in range(1 if settings.quick else max(1, settings.repeats // 2)):
        try:
            res = run_worker(ours_worker("widget_comm"), spec, name=f"widget-comm-{i}")
        except WorkerError as exc:
            settings.log(f"  widget comm: {exc}")
            break
        ratios.append(res["payload_ratio"])
        bundles.append(res["bundle_bytes"] / 1024)
        settings.log(f"  widget comm: payload {res['payload_ratio']:.2f}x of {res['answer_bytes']} answer bytes "
                     f"({res['messages_big']} messages); the view's bundle, sent once: {res['bundle_bytes']} bytes")
    if ratios:
        note = "5,000 tokens (quick)" if settings.quick else ""
        cells["comm_payload_ratio"] = cell_of(ratios, note)
        cells["comm_bundle_kb"] = cell_of(bundles)
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
    for key, label, unit, target, limit in WIDGET_FIGURES:
        cell = cells.get(key)
        figs.append(Figure("widget", key, label, unit, {"ours": cell} if cell else {}, Target(target, at_most(limit)),
                           pending="" if cell else pending))
    cell = cells.get("comm_bundle_kb")
    figs.insert(1, Figure("widget", "comm_bundle_kb", "the widget's bundle (JS + CSS), sent once when a view is "
                          "created (not part of the answer's payload above)", "KB", {"ours": cell} if cell else {},
                          Target("report"), pending="" if cell else pending))
    return figs

