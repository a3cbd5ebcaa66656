"""A ``queue recovery`` span in the session's trace: damaged queue files, said where the user looks.

When a read finds a queue's files damaged (see ``positions.py``), the backend writes a
zero-length span of kind ``module`` named ``queue recovery`` into the same session's
``lazy_trace`` queue, so the widget's trace tree, ``run.trace`` and any trace consumer
see it. Recoveries that may have lost or repeated items end with ``status: "error"``
(``error.type == "QueueCorrupted"``); exact ones (a position recovered from its mirror,
a sequence counter recovered from the log) end ``ok`` with ``attrs.warning``.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from ..protocol import TRACE_QUEUE, TRACE_VERSION, entry_line

if TYPE_CHECKING:
    from .positions import Recovery

SPAN_NAME = "queue recovery"
ERROR_TYPE = "QueueCorrupted"
_LOSSY = ("restart", "skip")


def recovery_entries(queue: str, recovery: Recovery) -> list[dict[str, Any]]:
    """The start and end entries of the span (``seq`` filled in when written)."""
    now = time.time()
    span = secrets.token_hex(8)
    attrs = {"queue": queue, "action": recovery.action, **recovery.attrs}
    base = {"v": TRACE_VERSION, "seq": 0, "ts": now, "span": span, "parent": None, "name": SPAN_NAME,
            "kind": "module"}
    start = {**base, "event": "start", "input": {"queue": queue}, "attrs": attrs}
    end = {**base, "event": "end", "output": None, "duration_ms": 0.0, "usage": None}
    if recovery.action in _LOSSY:
        end.update(status="error", error={"type": ERROR_TYPE, "message": recovery.message}, attrs=attrs)
    else:
        end.update(status="ok", error=None, attrs={**attrs, "warning": recovery.message})
    return [start, end]


def write_recovery_span(backend: Any, session_id: str, queue: str, recovery: Recovery) -> None:
    """Append the span to the session's trace; never raises (the read that found the damage goes on)."""
    for entry in recovery_entries(queue, recovery):

        def build(seq: int, entry: dict[str, Any] = entry) -> bytes:
            entry["seq"] = seq
            return entry_line(entry).encode("utf-8", "surrogatepass")  # type: ignore[arg-type]

        try:
            backend.append_numbered(session_id, TRACE_QUEUE, build)
        except Exception:
            return
