"""Spans out: a run as OpenTelemetry spans, as OTLP/JSON (``run.to_otlp()``) and live over OTLP/HTTP.

Each run is one trace. Its root span stands for the run (name ``run``, input the query,
output the result); every span of the run hangs below it with its own id and parent, its
times, status and events, and attributes in both vocabularies (see :mod:`.semconv`).

Live export: with ``configure(otlp_endpoint="http://127.0.0.1:4318")`` (or
``OTEL_EXPORTER_OTLP_ENDPOINT``) every run's spans go, as they end, through the official
OTLP/HTTP exporter (``opentelemetry-exporter-otlp-proto-http``, in the ``[otel]`` extra) in a
batch processor, so Phoenix, Langfuse, Jaeger or any collector shows them while the run goes on.
Nothing is sent unless an endpoint is configured.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..limits import OTLP_EXPORT_DELAY_S, OTLP_EXPORT_TIMEOUT_S
from ..protocol import TraceEntry
from ..spans import SpanRecord, build_spans
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
    if status == "error":
        err = error or {}
        return _STATUS_ERROR, f"{err.get('type', 'Error')}: {err.get('message', '')}".strip()
    if status == "ok":
        return _STATUS_OK, ""
    return _STATUS_UNSET, status  # running (abandoned) or cancelled: not an error, not a success


def _error_event(error: dict | None, at_ns: int) -> list[tuple[str, int, dict[str, Any]]]:
    if not error:
        return []
    attrs = {"exception.type": str(error.get("type", "Error")), "exception.message": str(error.get("message", ""))}
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


def _resource_attributes() -> dict[str, Any]:
    from .. import __version__

    return {"service.name": SERVICE_NAME, "telemetry.sdk.name": "lazystream-widget", "service.version": __version__}


def to_otlp(run: Run) -> dict[str, Any]:
    """The run as an OTLP/JSON ``ExportTraceServiceRequest`` (ids in hex, as OTLP/JSON wants)."""
    from .. import __version__

    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _key_values(_resource_attributes())},
                "scopeSpans": [
                    {
                        "scope": {"name": SCOPE_NAME, "version": __version__},
                        "spans": [_json_span(s) for s in run_spans(run)],
                    }
                ],
            }
        ]
    }


# ---- live export over OTLP/HTTP ------------------------------------------------------------------


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for an endpoint: a base URL gets ``/v1/traces`` (as the OTLP spec says)."""
    parts = urlsplit(endpoint)
    if parts.path.rstrip("/").endswith("/v1/traces"):
        return endpoint
    return endpoint.rstrip("/") + "/v1/traces"


def _readable(span: ExportSpan, resource: Any, scope: Any) -> Any:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    def ctx(span_id: str) -> SpanContext:
        return SpanContext(int(span.trace_id, 16), int(span_id, 16), is_remote=False,
                           trace_flags=TraceFlags(TraceFlags.SAMPLED))  # fmt: skip

    codes = {_STATUS_UNSET: StatusCode.UNSET, _STATUS_OK: StatusCode.OK, _STATUS_ERROR: StatusCode.ERROR}
    return ReadableSpan(
        name=span.name,
        context=ctx(span.span_id),
        parent=ctx(span.parent_id) if span.parent_id else None,
        resource=resource,
        attributes=span.attributes,
        events=[Event(name, attrs, timestamp=t) for name, t, attrs in span.events],
        kind=SpanKind.CLIENT if span.kind == _KIND_CLIENT else SpanKind.INTERNAL,
        status=Status(codes[span.status], span.status_message or None) if span.status == _STATUS_ERROR
        else Status(codes[span.status]),
        start_time=span.start_ns,
        end_time=span.end_ns,
        instrumentation_scope=scope,
    )


class _Exporter:
    """One official OTLP/HTTP exporter in a batch processor per endpoint, shared by all runs."""

    def __init__(self, endpoint: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from .. import __version__

        self.url = traces_url(endpoint)
        self.resource = Resource.create(_resource_attributes())
        self.scope = InstrumentationScope(SCOPE_NAME, __version__)
        self.processor = BatchSpanProcessor(
            OTLPSpanExporter(endpoint=self.url, timeout=OTLP_EXPORT_TIMEOUT_S),
            schedule_delay_millis=int(OTLP_EXPORT_DELAY_S * 1000),
        )

    def send(self, span: ExportSpan) -> None:
        self.processor.on_end(_readable(span, self.resource, self.scope))

    def flush_soon(self) -> None:
        """Send what is waiting now, without making the caller wait for the collector."""
        threading.Thread(target=self.processor.force_flush, args=(int(OTLP_EXPORT_TIMEOUT_S * 1000),),
                         name="lazystream-otlp-flush", daemon=True).start()  # fmt: skip


_exporters: dict[str, _Exporter] = {}
_exporters_lock = threading.Lock()


def exporter_for(endpoint: str) -> _Exporter:
    with _exporters_lock:
        if endpoint not in _exporters:
            _exporters[endpoint] = _Exporter(endpoint)
        return _exporters[endpoint]


class ExportingSink:
    """A run sink that sends each span as it ends, then hands everything on to the display's sink."""

    def __init__(self, run: Run, inner: RunSink | None, exporter: _Exporter) -> None:
        self.inner = inner
        self.exporter = exporter
        self.trace_id, self.root_id = trace_id_of(run), root_span_id_of(run)
        self.open: dict[str, list[TraceEntry]] = {}
        self.sent: set[str] = set()

    def run_started(self, run: Run) -> None:
        if self.inner is not None:
            self.inner.run_started(run)

    def run_delta(self, run: Run, text: str, thinking: str, entries: list) -> None:
        try:
            self._take(entries)
        finally:
            if self.inner is not None:
                self.inner.run_delta(run, text, thinking, entries)
            else:
                run.take_new_notices()

    def run_finished(self, run: Run) -> None:
        try:
            if self.inner is not None:
                self.inner.run_finished(run)
        finally:
            self._finish(run)

    def run_resync(self, run: Run) -> None:
        resync = getattr(self.inner, "run_resync", None)
        if resync is not None:
            resync(run)

    def _take(self, entries: list) -> None:
        for entry in entries:
            if not isinstance(entry, dict) or "span" not in entry:
                continue
            sid = entry["span"]
            if sid in self.sent:
                continue
            self.open.setdefault(sid, []).append(entry)
            if entry.get("event") == "end":
                self._send(sid, time.time())

    def _send(self, sid: str, fallback_end: float) -> None:
        recs = build_spans(self.open.pop(sid, []))
        if not recs:
            return
        rec = recs[0]
        known = {rec.parent_id} if rec.parent_id else set()  # a parent is a span of the run, sent or to come
        try:
            self.exporter.send(export_span(rec, self.trace_id, self.root_id, known, fallback_end))
        except Exception:
            pass  # a broken export never breaks the run
        self.sent.add(sid)

    def _finish(self, run: Run) -> None:
        try:
            end = run.ended_at or time.time()
            for sid in list(self.open):  # spans that never ended (abandoned, cancelled)
                self._send(sid, end)
            self.exporter.send(root_span(run, run.trace))
            self.exporter.flush_soon()
        except Exception:
            pass


def export_sink(run: Run, sink: RunSink | None) -> RunSink | None:
    """``sink``, wrapped to export the run live when the run's settings name an OTLP endpoint."""
    endpoint = (getattr(run, "settings", None) or {}).get("otlp_endpoint")
    if not endpoint:
        return sink
    return ExportingSink(run, sink, exporter_for(endpoint))
