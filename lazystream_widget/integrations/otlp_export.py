"""Live export of our runs' spans over OTLP/HTTP, through the official exporter, and what a failure looks like.

With an OTLP endpoint configured, each span is sent as it ends (see :mod:`.otlp` for how a run
becomes spans). One :class:`Exporter` per endpoint, shared by all runs: the official
``OTLPSpanExporter`` (``opentelemetry-exporter-otlp-proto-http``, the ``[otel]`` extra), fed in
batches by a thread of its own (spans wait at most ``OTLP_EXPORT_DELAY_S``).

**A collector that cannot be reached never disturbs the notebook.** The official exporter logs
every failed attempt as a warning ("Transient error ... retrying", "Failed to export spans
batch ..."), which in Jupyter lands as red text in whatever cell runs at that moment, once per
run, and fails strict nbval on cells that have nothing to do with it. Instead:

* records the exporter logs *from our export thread* are taken off its loggers (a filter on
  them that lets everyone else's records through: a user's own exporters still log), and the
  first one says what went wrong;
* the failure becomes one notice on the runs exporting then ("OTLP export to ... failed:
  connection refused. ..."), and on each later run while it lasts; the first run to export
  waits up to ``OTLP_FIRST_EXPORT_WAIT_S`` at its end for the collector's first answer, so a
  collector that is down from the start is reported on that very run;
* one line goes to the ``lazystream_widget.otlp`` logger (at INFO: silent unless you configure
  logging) when an endpoint starts failing, and one when it recovers.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from ..limits import (
    OTLP_EXPORT_DELAY_S,
    OTLP_EXPORT_TIMEOUT_S,
    OTLP_FIRST_EXPORT_WAIT_S,
    OTLP_MAX_BATCH,
    OTLP_MAX_QUEUED_SPANS,
)
from ..protocol import TraceEntry
from ..spans import build_spans
from .otlp import (
    _KIND_CLIENT,
    _STATUS_ERROR,
    _STATUS_OK,
    _STATUS_UNSET,
    SCOPE_NAME,
    ExportSpan,
    export_span,
    resource_attributes,
    root_span,
    root_span_id_of,
    trace_id_of,
)

if TYPE_CHECKING:
    from ..runner import Run, RunSink

log = logging.getLogger("lazystream_widget.otlp")

#: The official exporter's loggers (its own, and its HTTP client's default).
_EXPORTER_LOGGERS = ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry.exporter.otlp.common.http")


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for an endpoint: a base URL gets ``/v1/traces`` (as the OTLP spec says)."""
    from urllib.parse import urlsplit

    if urlsplit(endpoint).path.rstrip("/").endswith("/v1/traces"):
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


# ---- the exporter's log records, from our threads only ------------------------------------------

_threads: weakref.WeakValueDictionary[int, Exporter] = weakref.WeakValueDictionary()  # thread id -> exporter


class _OurRecords(logging.Filter):
    """Takes the records the exporter logs in one of our export threads (they become a notice); lets the rest by."""

    def filter(self, record: logging.LogRecord) -> bool:
        exporter = _threads.get(threading.get_ident())
        if exporter is None:
            return True
        exporter.problem_seen(record)
        return False


_filter = _OurRecords()
_filter_lock = threading.Lock()


def _take_exporter_records() -> None:
    with _filter_lock:
        for name in _EXPORTER_LOGGERS:
            logger = logging.getLogger(name)
            if _filter not in logger.filters:
                logger.addFilter(_filter)


def _reason(record: logging.LogRecord) -> str:
    """What a failed export comes down to, short: "connection refused", "HTTP 404 Not Found", "timed out"..."""
    args = record.args if isinstance(record.args, tuple) else ()
    errors = [a for a in args if isinstance(a, BaseException)]
    text = " ".join(str(a) for a in errors) or record.getMessage()
    lowered = text.lower()
    for needle, said in (("connection refused", "connection refused"), ("name or service not known", "unknown host"),
                         ("nodename nor servname", "unknown host"), ("timed out", "timed out"),
                         ("timeout", "timed out"), ("ssl", "TLS error"), ("certificate", "TLS error")):
        if needle in lowered:
            return said
    code = next((a for a in args if isinstance(a, int) and 100 <= a < 600), None)
    if code is not None:
        reason = next((a for a in args if isinstance(a, str) and a and a != "spans"), "")
        return f"HTTP {code}{' ' + reason if reason else ''}"
    return (text[:157] + "…") if len(text) > 160 else text


# ---- the exporter -----------------------------------------------------------------------------------


class Exporter:
    """The official OTLP/HTTP exporter for one endpoint, fed in batches by a thread of its own."""

    def __init__(self, endpoint: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from .. import __version__

        self.url = traces_url(endpoint)
        self.resource = Resource.create(resource_attributes())
        self.scope = InstrumentationScope(SCOPE_NAME, __version__)
        self._exporter = OTLPSpanExporter(endpoint=self.url, timeout=OTLP_EXPORT_TIMEOUT_S)
        self._queue: list[Any] = []
        self._cond = threading.Condition()
        self._flush = False
        self._busy = False
        self.dropped = 0  # spans dropped because the queue was full (a collector far slower than the runs)
        self.problem: str | None = None  # why the last export failed; None once one succeeds
        self.succeeded = False  # an export has succeeded (the collector answered at least once)
        self._attempt_problem: str | None = None  # why the current attempt failed (its first failure claims this)
        self._attempt_reported = False  # ... and the runs listening were told (what settle() waits for)
        self._listeners: weakref.WeakSet[ExportingSink] = weakref.WeakSet()
        _take_exporter_records()
        self._thread = threading.Thread(target=self._loop, name=f"lazystream-otlp-export:{self.url}", daemon=True)
        self._thread.start()
        _threads[self._thread.ident or 0] = self

    # ---- spans in --------------------------------------------------------------------------

    def send(self, span: ExportSpan) -> None:
        readable = _readable(span, self.resource, self.scope)
        with self._cond:
            if len(self._queue) >= OTLP_MAX_QUEUED_SPANS:
                self._queue.pop(0)
                self.dropped += 1
            self._queue.append(readable)
            if len(self._queue) >= OTLP_MAX_BATCH:
                self._cond.notify_all()

    def flush_soon(self) -> None:
        """Send what is waiting now, without making the caller wait for the collector."""
        with self._cond:
            self._flush = True
            self._cond.notify_all()

    def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until what is waiting was sent, or the collector failed to take it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush = True
            self._cond.notify_all()
            while (self._queue or self._busy) and not self._attempt_reported:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                deadline = time.monotonic() + OTLP_EXPORT_DELAY_S
                while not self._flush and len(self._queue) < OTLP_MAX_BATCH and time.monotonic() < deadline:
                    self._cond.wait(deadline - time.monotonic())
                batch, self._queue = self._queue[:OTLP_MAX_BATCH], self._queue[OTLP_MAX_BATCH:]
                self._flush = bool(self._queue) and self._flush
                self._busy, self._attempt_problem, self._attempt_reported = True, None, False
            self._outcome(self._export(batch))  # before settle() may return: a failure is told to the runs first
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _export(self, batch: list[Any]) -> bool:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            return self._exporter.export(batch) == SpanExportResult.SUCCESS
        except Exception as exc:  # never let the export thread die
            self._note_problem(f"{type(exc).__name__}: {exc}")
            return False

    # ---- failures ----------------------------------------------------------------------------

    def problem_seen(self, record: logging.LogRecord) -> None:
        """The exporter logged (in our thread) that an attempt failed: the first such record says why."""
        if record.levelno >= logging.WARNING:
            self._note_problem(_reason(record))

    def _note_problem(self, reason: str) -> None:
        with self._cond:
            if self._attempt_problem is not None:
                return
            self._attempt_problem = reason
        # at the first failed attempt, not 10 s of retries later; outside the lock (telling a run takes its lock),
        # and before settle() may return: the run waiting there must hold the notice in its final state
        self._report(reason)
        with self._cond:
            self._attempt_reported = True
            self._cond.notify_all()

    def _outcome(self, ok: bool) -> None:
        if ok:
            self.succeeded = True
            if self.problem is not None:
                self.problem = None
                log.info("OTLP export to %s works again", self.url)
        elif self._attempt_problem is None:
            self._report("the collector did not take the spans")

    def _report(self, reason: str) -> None:
        if self.problem is None:
            log.info("OTLP export to %s failed: %s", self.url, reason)
        self.problem = reason
        for listener in list(self._listeners):
            listener.tell(reason)

    def notice(self, reason: str) -> str:
        return (f"OTLP export to {self.url} failed: {reason}. The run itself is not affected; its spans may not "
                "reach the collector.")


_exporters: dict[str, Exporter] = {}
_exporters_lock = threading.Lock()


def exporter_for(endpoint: str) -> Exporter:
    with _exporters_lock:
        if endpoint not in _exporters:
            _exporters[endpoint] = Exporter(endpoint)
        return _exporters[endpoint]


# ---- the run's sink -----------------------------------------------------------------------------


class ExportingSink:
    """A run sink that sends each span as it ends, then hands everything on to the display's sink."""

    def __init__(self, run: Run, inner: RunSink | None, exporter: Exporter) -> None:
        self.run = run
        self.inner = inner
        self.exporter = exporter
        self.trace_id, self.root_id = trace_id_of(run), root_span_id_of(run)
        self.open: dict[str, list[TraceEntry]] = {}
        self.sent: set[str] = set()

    def tell(self, reason: str) -> None:
        """The export is failing: one notice on the run (the display shows it with the next update)."""
        self.run.add_notice(self.exporter.notice(reason))

    def run_started(self, run: Run) -> None:
        self.exporter._listeners.add(self)
        if self.exporter.problem is not None:
            self.tell(self.exporter.problem)
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
            self._finish(run)  # first: a failure it meets is a notice in the run's final state
        finally:
            self.exporter._listeners.discard(self)
            if self.inner is not None:
                self.inner.run_finished(run)

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
            if self.exporter.succeeded or self.exporter.problem is not None:
                self.exporter.flush_soon()
            else:  # the collector's first answer: worth a short wait, so a dead one is said on this run
                self.exporter.settle(OTLP_FIRST_EXPORT_WAIT_S)
        except Exception:
            pass

