"""Writing the run markers: the ``run_start`` / ``run_end`` lines a runner adds to its session's trace.

A watcher in another process (``StreamView.attach``) learns from them which run it is watching
(the query) and how it ended (status, the result cut like any trace field, the error), without
sharing any memory with the run. The format is :class:`~lazystream_widget.protocol.RunMarker`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .protocol import RUN_END_EVENT, RUN_START_EVENT, TRACE_QUEUE, TRACE_VERSION, RunMarker, entry_line

if TYPE_CHECKING:
    from .runner import Run


def run_start_marker(run: Run) -> RunMarker:
    from .runtime.trace import truncate_field

    query = run.query if isinstance(run.query, str) else repr(run.query)
    return {"v": TRACE_VERSION, "ts": run.started_at, "event": RUN_START_EVENT, "span": run.id, "name": "run",
            "input": truncate_field(query)}


def run_end_marker(run: Run) -> RunMarker:
    from .runtime.trace import error_info, truncate_field

    ended = run.ended_at if run.ended_at is not None else time.time()
    result = None
    if run.status == "done" and run._result is not None:
        result = truncate_field(str(run._result))
    return {
        "v": TRACE_VERSION, "ts": ended, "event": RUN_END_EVENT, "span": run.id, "name": "run",
        "status": run.status,  # type: ignore[typeddict-item]
        "output": result,
        "error": error_info(run.error) if run.error is not None else None,
        "duration_ms": round((ended - run.started_at) * 1000, 3),
        "attrs": {"tokens": run.tokens, "ttft_ms": run.ttft_ms, "text_chars": len(run.text)},
    }


def write_marker(session, marker: RunMarker) -> bool:
    """Append ``marker`` to the session's trace queue; False if that failed (a marker never breaks a run)."""
    try:
        session.backend.append(session.id, TRACE_QUEUE, entry_line(marker).encode("utf-8", "surrogatepass"))
    except Exception:
        return False
    return True
