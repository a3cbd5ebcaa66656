"""Spans out: a run as OpenTelemetry spans, as OTLP/JSON (``run.to_otlp()``) and live over OTLP/HTTP.

Each run is one trace. Its root span stands for the run (name ``run``, input the query,
output the result); every span of the run hangs below it with its own id and parent, its
times, status and events, and attributes in both vocabularies (see :mod:`.semconv`).

Live export (:mod:`.otlp_export`): with ``configure(otlp_endpoint="http://127.0.0.1:4318")``
(or ``OTEL_EXPORTER_OTLP_ENDPOINT``) every run's spans go, as they end, through the official
OTLP/HTTP exporter, so Phoenix, Langfuse, Jaeger or any collector shows them while the run goes
on. Nothing is sent unless an endpoint is configured.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..spans import SpanRecord
from .semconv import export_attributes

if TYPE_CHECKING:
    from ..runner import Run, RunSink

SCOPE_NAME = "lazystream_widget"
SERVICE_NAME = "lazystream-widget"
#: OTLP status codes and span kinds (opentelemetry-proto trace.proto).
_STATUS_UNSET, _STATUS_OK, _STATUS_ERROR = 0, 1, 2
_KIND_INTERNAL, _KIND_CLIENT = 1, 3


def trace_id_of(run: Run) -> str:
    """The run's trace id (32 hex): the same in ``to_otlp()`` and in the live export."""
    return hashlib.sha256(f"lazystream-run:{run.id}:{run.started_at!r}".encode()).hexdigest()[:32]


def root_span_id_of(run: Run) -> str:
    return hashlib.sha256(f"lazystream-root:{run.id}:{run.started_at!r}".encode()).hexdigest()[:16]


@dataclass
class ExportSpan:
    """One span as OpenTelemetry sees it, whichever encoding it is sent in."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status: int
    status_message: str = ""
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # (name, time ns, attributes)


def _ns(seconds: float | None, default: float) -> int:
    return int((seconds if seconds is not None else default) * 1e9)


def _status(status: str, error: dict | None) -> tuple[int, str]:
    """OTLP status code and message (the message is for errors only: OTLP reserves it for ERROR)."""
    if status == "error":
        err = error or {}
        return _STATUS_ERROR, f"{err.get('type', 'Error')}: {err.get('full') or err.get('message', '')}".strip()
    if status == "ok":
        return _STATUS_OK, ""
    return _STATUS_UNSET, ""  # running (abandoned) or cancelled: neither; lazystream.status says which


def _error_event(error: dict | None, at_ns: int) -> list[tuple[str, int, dict[str, Any]]]:
    if not error:
        return []
    attrs = {"exception.type": str(error.get("type", "Error")),
             "exception.message": str(error.get("full") or error.get("message", ""))}
    if error.get("detail"):
        attrs["exception.stacktrace"] = str(error["detail"])
    return [("exception", at_ns, attrs)]


def _scalar(value: Any) -> str | int | float | bool:
    """An attribute value OpenTelemetry accepts: a primitive as is, anything else as JSON text."""
    if isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def export_span(rec: SpanRecord, trace_id: str, root_id: str, known: set[str], fallback_end: float) -> ExportSpan:
    """One of our spans as an :class:`ExportSpan` below the run's root."""
    start = _ns(rec.started_at, rec.ended_at or fallback_end)
    end = _ns(rec.ended_at, fallback_end)
    code, message = _status(rec.status, rec.error)
    attrs = export_attributes(rec.kind, rec.name, input=rec.input, output=rec.output, usage=rec.usage, attrs=rec.attrs)
    if rec.status not in ("ok", "error"):
        attrs["lazystream.status"] = rec.status
    events = [
        (str(ev.get("name", "event")), _ns(ev.get("ts"), fallback_end),
         {k: _scalar(v) for k, v in ev.items() if k not in ("name", "ts") and v is not None})
        for ev in rec.events
    ]  # fmt: skip
    return ExportSpan(
        trace_id=trace_id, span_id=rec.id, parent_id=rec.parent_id if rec.parent_id in known else root_id,
        name=rec.name or rec.kind, kind=_KIND_CLIENT if rec.kind in ("llm", "embedding") else _KIND_INTERNAL,
        start_ns=start, end_ns=max(end, start), attributes=attrs, status=code, status_message=message,
        events=events + _error_event(rec.error, end),
    )  # fmt: skip


def root_span(run: Run, spans: list[SpanRecord]) -> ExportSpan:
    """The span that stands for the run itself."""
    now = time.time()
    first = min([run.started_at, *(s.started_at for s in spans if s.started_at)])
    ended = run.ended_at or now
    status = {"done": "ok", "error": "error"}.get(run.status, run.status)
    error = None
    if run.error is not None:
        from ..runtime.trace import error_info

        error = dict(error_info(run.error))
    code, message = _status(status, error)
    result = run._result if run.status == "done" else None  # not run.result: it waits for the run's end
    attrs = export_attributes("chain", "run", input=run.query if isinstance(run.query, str) else repr(run.query),
                              output=result if isinstance(result, (str, int, float, bool)) or result is None
                              else repr(result))  # fmt: skip
    attrs["lazystream.run.id"] = run.id
    attrs["lazystream.run.status"] = run.status
    return ExportSpan(
        trace_id=trace_id_of(run), span_id=root_span_id_of(run), parent_id=None, name="run", kind=_KIND_INTERNAL,
        start_ns=_ns(first, now), end_ns=_ns(ended, now), attributes=attrs, status=code, status_message=message,
        events=_error_event(error, _ns(ended, now)),
    )


def run_spans(run: Run) -> list[ExportSpan]:
    """The run's root span and all its spans, as ExportSpans."""
    spans = run.trace
    trace_id, root_id = trace_id_of(run), root_span_id_of(run)
    known = {s.id for s in spans}
    end = run.ended_at or time.time()
    return [root_span(run, spans), *(export_span(s, trace_id, root_id, known, end) for s in spans)]


# ---- OTLP/JSON ------------------------------------------------------------------------------------


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # proto3 JSON: 64-bit integers as strings
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, (list, tuple)):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": _key_values(value)}}
    return {"stringValue": value if isinstance(value, str) else str(value)}


def _key_values(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": str(k), "value": _any_value(v)} for k, v in attrs.items() if v is not None]


def _json_span(span: ExportSpan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "name": span.name,
        "kind": span.kind,
        "startTimeUnixNano": str(span.start_ns),
        "endTimeUnixNano": str(span.end_ns),
        "attributes": _key_values(span.attributes),
        "events": [
            {"timeUnixNano": str(t), "name": name, "attributes": _key_values(attrs)} for name, t, attrs in span.events
        ],
        "status": {"code": span.status, **({"message": span.status_message} if span.status_message else {})},
    }
    if span.parent_id:
        out["parentSpanId"] = span.parent_id
    return out


def resource_attributes() -> dict[str, Any]:
    """The resource of our runs' spans: the service (``telemetry.sdk.*`` describe the OpenTelemetry SDK
    itself; the official exporter adds them, our own JSON has none, as no SDK made it)."""
    from .. import __version__

    return {"service.name": SERVICE_NAME, "service.version": __version__}


def to_otlp(run: Run) -> dict[str, Any]:
    """The run as an OTLP/JSON ``ExportTraceServiceRequest`` (ids in hex, as OTLP/JSON wants)."""
    from .. import __version__

    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _key_values(resource_attributes())},
                "scopeSpans": [
                    {
                        "scope": {"name": SCOPE_NAME, "version": __version__},
                        "spans": [_json_span(s) for s in run_spans(run)],
                    }
                ],
            }
        ]
    }


# ---- live export (lazystream_widget/integrations/otlp_export.py) ---------------------------------


def export_sink(run: Run, sink: RunSink | None) -> RunSink | None:
    """``sink``, wrapped to export the run live when the run's settings name an OTLP endpoint."""
    endpoint = (getattr(run, "settings", None) or {}).get("otlp_endpoint")
    if not endpoint:
        return sink
    from .otlp_export import ExportingSink, exporter_for

    return ExportingSink(run, sink, exporter_for(endpoint))
