"""Spans in: OpenTelemetry spans of a run, translated live into our trace entries.

One :class:`LiveSpanProcessor` per process sits on the SDK tracer provider in use (OpenTelemetry
offers ``add_span_processor`` on a live provider, and no removal). For every span that starts or
ends it finds the run the span belongs to and appends a ``start`` / ``end``
:class:`~lazystream_widget.protocol.TraceEntry` to that run's session trace queue, so the pump,
the widget, ``run.trace`` and the exporters see foreign spans exactly like our own.

Routing, in order:

1. the run whose work is running in this context (:data:`_active`, a ``ContextVar`` that our
   pool and LazyLLM's pool both carry into their worker threads);
2. the run that owns the span's trace id (a span started in a thread that lost the context but
   kept the OpenTelemetry parent, e.g. handed over explicitly).

Spans of no run (the user's own work outside any run) are left alone.

Tracer providers: OpenTelemetry accepts only the first ``set_tracer_provider``; a later one is
dropped with a warning. So we never replace a provider that is set, and we set our own only
when a run needs one and none is set, after giving LazyLLM (when it is imported) the chance to
set its own first. A user's provider must therefore be set before the first run.
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Iterator

from ..protocol import TRACE_VERSION, ErrorInfo, TraceEntry
from ..runtime.trace import append_entry, message_parts, strip_ansi, truncate_field
from .semconv import describe, export_attributes

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, Span

#: Name of the instrumentation scope of the run root spans we open.
TRACER_NAME = "lazystream_widget"
#: ``service.name`` of the tracer provider we install when none is set.
SERVICE_NAME = "lazystream-widget"


def _hex_span(span_id: int) -> str:
    return f"{span_id:016x}"


class RunSpans:
    """Where the OpenTelemetry spans of one run go: the run's session trace queue.

    Subclasses refine entries for a producer whose spans need it (see the LazyLLM adapter).
    """

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.hidden: set[int] = set()  # span ids not shown (the run's own root span)
        self.hide_next_root = False  # set just before the run's root span starts
        self.trace_ids: set[int] = set()
        self.closed = False
        self._open: dict[int, TraceEntry] = {}  # spans started and not ended: what their end entry restates
        self._lock = threading.Lock()

    # ---- what subclasses may refine --------------------------------------------------------

    def refine_start(self, span: Span, entry: TraceEntry) -> None:
        """Adjust a start entry before it is written."""

    def refine_end(self, span: ReadableSpan, entry: TraceEntry) -> list[TraceEntry]:
        """The entries to write for an end entry: ``[entry]``, adjusted, held back or with others."""
        return [entry]

    def flush(self) -> list[TraceEntry]:
        """Entries still held back when the run ends (written as they are)."""
        return []

    # ---- translation ----------------------------------------------------------------------

    def _parent(self, span: Any) -> str | None:
        parent = span.parent
        if parent is None or parent.is_remote or parent.span_id in self.hidden:
            return None  # a top-level span of the run (the run itself is the root in the widget)
        return _hex_span(parent.span_id)

    @staticmethod
    def _name(span: Any, info: Any) -> str:
        """A tool span is named after its tool (OpenInference names some after their class)."""
        return str(info.attrs["tool"]) if info.kind == "tool" and info.attrs.get("tool") else span.name

    def started(self, span: Span) -> None:
        if self.hide_next_root and span.parent is None:
            self.hide_next_root = False
            self.hidden.add(span.context.span_id)
        if self.closed or span.context.span_id in self.hidden:
            return
        info = describe(dict(span.attributes or {}))
        kind = info.kind or "module"
        entry: TraceEntry = {
            "v": TRACE_VERSION, "seq": 0, "ts": (span.start_time or time.time_ns()) / 1e9, "event": "start",
            "span": _hex_span(span.context.span_id), "parent": self._parent(span), "name": self._name(span, info),
            "kind": kind,
            "input": truncate_field(info.input), "attrs": truncate_field(info.attrs) if info.attrs else {},
        }  # type: ignore[typeddict-item]  # fmt: skip
        self.refine_start(span, entry)
        with self._lock:
            if self.closed:
                return
            self._open[span.context.span_id] = {
                "span": entry["span"], "parent": entry["parent"], "name": entry["name"], "kind": entry["kind"],
                "ts": entry["ts"],
            }  # type: ignore[typeddict-item]  # fmt: skip
        append_entry(self.session_id, entry)

    def ended(self, span: ReadableSpan) -> None:
        if self.closed or span.context.span_id in self.hidden:
            return
        info = describe(dict(span.attributes or {}))
        with self._lock:
            if self.closed:
                return  # the run ended: the span was closed then (see close_open)
            opened = self._open.pop(span.context.span_id, None)
        start_kind = opened["kind"] if opened is not None else "module"
        error = _error_of(span)
        start_ns, end_ns = span.start_time or 0, span.end_time or time.time_ns()
        entry: TraceEntry = {
            "v": TRACE_VERSION, "seq": 0, "ts": end_ns / 1e9, "event": "end",
            "span": _hex_span(span.context.span_id), "parent": self._parent(span), "name": self._name(span, info),
            "kind": info.kind or start_kind,  # type: ignore[typeddict-item]
            "output": truncate_field(_clean(info.output)), "status": "error" if error else "ok", "error": error,
            "duration_ms": round((end_ns - start_ns) / 1e6, 3), "usage": info.usage,  # type: ignore[typeddict-item]
            "attrs": truncate_field(info.attrs) if info.attrs else {},
        }  # fmt: skip
        if info.input is not None:  # producers that know the input only at the end (LazyLLM)
            entry["input"] = truncate_field(info.input)
        for out in self.refine_end(span, entry):
            append_entry(self.session_id, out)

    def close(self, why: ErrorInfo) -> None:
        """The run ended: stop following its spans, and end the ones still open as cancelled, saying ``why``
        (work left running in the background would otherwise spin in the tree forever)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            still_open, self._open = list(self._open.values()), {}
        for entry in self.flush():
            append_entry(self.session_id, entry)
        now = time.time()
        for opened in reversed(still_open):  # the innermost first, as spans end
            append_entry(self.session_id, {
                **opened, "v": TRACE_VERSION, "seq": 0, "ts": now, "event": "end", "status": "cancelled",
                "error": why, "duration_ms": round((now - opened["ts"]) * 1000, 3), "output": None,
            })  # type: ignore[typeddict-item]  # fmt: skip


def _clean(value: Any) -> Any:
    """Strings without ANSI colour codes (tool errors often carry them), recursively."""
    if isinstance(value, str):
        return strip_ansi(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _error_of(span: ReadableSpan) -> ErrorInfo | None:
    """The span's error (status ERROR), from its recorded exception event or its status text."""
    from opentelemetry.trace import StatusCode

    if span.status is None or span.status.status_code != StatusCode.ERROR:
        return None
    info: ErrorInfo = {"type": "Error"}
    message = strip_ansi(span.status.description or "error").strip()
    for event in span.events or ():
        if event.name == "exception":
            attrs = event.attributes or {}
            info["type"] = str(attrs.get("exception.type", "Error")).rsplit(".", 1)[-1]
            message = strip_ansi(str(attrs.get("exception.message", ""))).strip() or message
            if attrs.get("exception.stacktrace"):
                info["detail"] = truncate_field(strip_ansi(str(attrs["exception.stacktrace"])))
            break
    headline, full = message_parts(message)
    info["message"] = headline or info["type"]
    if full is not None:
        info["full"] = full
    return info


# ---- routing --------------------------------------------------------------------------------

#: The run whose work runs in this context; our pool and LazyLLM's both carry it into workers.
_active: contextvars.ContextVar[RunSpans | None] = contextvars.ContextVar("lazystream_otel_run", default=None)
_by_trace: dict[int, RunSpans] = {}
_routes_lock = threading.Lock()


def _route(span: Any) -> RunSpans | None:
    target = _active.get()
    trace_id = span.context.trace_id
    if target is not None and not target.closed:
        if trace_id not in target.trace_ids:
            with _routes_lock:
                target.trace_ids.add(trace_id)
                _by_trace[trace_id] = target
        return target
    with _routes_lock:
        target = _by_trace.get(trace_id)
    return target if target is not None and not target.closed else None


def activate(target: RunSpans) -> contextvars.Token:
    """Route spans started in this context (and in pool workers it submits to) to ``target``."""
    return _active.set(target)


#: What a span still open when its run ended says (its work goes on in a thread nobody waits for).
UNFINISHED: ErrorInfo = {
    "type": "Unfinished", "message": "still running when the run ended; the widget stopped following it",
}


def release(target: RunSpans, token: contextvars.Token | None = None, why: ErrorInfo | None = None) -> None:
    """The run ended: spans still open end as cancelled (saying ``why``), later ones are dropped."""
    if token is not None:
        _active.reset(token)
    target.close(why or UNFINISHED)
    with _routes_lock:
        for trace_id in target.trace_ids:
            if _by_trace.get(trace_id) is target:
                del _by_trace[trace_id]


def _processor_class() -> type:
    from opentelemetry.sdk.trace import SpanProcessor

    class LiveSpanProcessor(SpanProcessor):
        """Hands each span of a run to its :class:`RunSpans` as it starts and as it ends."""

        def on_start(self, span: Span, parent_context: Any = None) -> None:
            try:
                target = _route(span)
                if target is not None:
                    target.started(span)
            except Exception:  # never break the traced work
                pass

        def on_end(self, span: ReadableSpan) -> None:
            try:
                with _routes_lock:
                    target = _by_trace.get(span.context.trace_id)
                if target is None:
                    target = _active.get()
                if target is not None and not target.closed:
                    target.ended(span)
            except Exception:
                pass

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    return LiveSpanProcessor


# ---- the tracer provider -------------------------------------------------------------------

_installed_on: set[int] = set()  # id() of the providers carrying our processor (one per process)
_provider_lock = threading.RLock()


def sdk_available() -> bool:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        return False
    return True


def ensure_processor(*, install_provider: bool = True) -> str | None:
    """Put our processor on the SDK tracer provider in use; None if done, else why it could not be.

    With no provider set, one is installed when ``install_provider``, but first LazyLLM (when it
    is imported) gets to set its own, as its first traced call would; a provider that is set is
    never replaced.
    """
    if not sdk_available():
        return "the OpenTelemetry SDK is not installed (pip install 'lazystream-widget[otel]')"
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    with _provider_lock:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider) and isinstance(provider, trace.ProxyTracerProvider):
            if "lazyllm" in sys.modules:
                from .lazyllm import prepare_tracing

                prepare_tracing()  # LazyLLM sets its own provider (with its exporter) first
            provider = trace.get_tracer_provider()
            if isinstance(provider, trace.ProxyTracerProvider) and install_provider:
                from opentelemetry.sdk.resources import Resource

                trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME})))
                provider = trace.get_tracer_provider()  # whoever won, if someone raced us
        if not isinstance(provider, TracerProvider):
            if isinstance(provider, trace.ProxyTracerProvider):
                return "no OpenTelemetry tracer provider is set"
            return (
                f"the tracer provider in use ({type(provider).__module__}.{type(provider).__name__}) is not the "
                "OpenTelemetry SDK's, so its spans cannot be watched"
            )
        if id(provider) not in _installed_on:
            provider.add_span_processor(_processor_class()())
            _installed_on.add(id(provider))
    return None


def tracer():
    from opentelemetry import trace

    return trace.get_tracer(TRACER_NAME)


def run_root_span(name: str, query: Any, target: RunSpans) -> Iterator[Any]:
    """A context manager: the run's root span, current for the block, hidden from the tree.

    It anchors the run's trace (spans created below it are the run's, in any thread that
    keeps the OpenTelemetry context) and, where the user's provider exports, groups them.
    """
    from contextlib import contextmanager

    from opentelemetry import trace

    @contextmanager
    def root() -> Iterator[Any]:
        attrs = export_attributes("chain", name, input=query if isinstance(query, str) else repr(query))
        target.hide_next_root = True  # the processor sees it start inside start_as_current_span
        with tracer().start_as_current_span(name, attributes=attrs, record_exception=True) as span:
            ctx = span.get_span_context()
            target.hidden.add(ctx.span_id)
            with _routes_lock:
                target.trace_ids.add(ctx.trace_id)
                _by_trace[ctx.trace_id] = target
            try:
                yield span
            except BaseException as exc:
                span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise

    return root()
