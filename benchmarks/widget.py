"""Group ``widget``: HOOK, to be filled by the lead (spec section 7's widget and browser figures).

``run(settings)`` returns one pending row per figure below. While ``lazystream_widget.widget``
cannot be imported they say "pending: widget"; once it imports, "pending: hook not filled".
To fill the hook, replace ``measure()`` below so that it returns ``{key: Cell}`` for the keys
of ``WIDGET_FIGURES`` (ours only: no peer), e.g. with ``StreamView(module, display=False)`` and
its comm's ``send`` wrapped to count messages and bytes, and Playwright for the browser rows.
Rows whose key is missing from the result stay pending (they do not fail ``--quick``).
"""

from __future__ import annotations

from .common import Cell, Figure, Settings, Target

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
    """THE HOOK: measure the widget figures and return them by key. Not filled yet."""
    return {}


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
