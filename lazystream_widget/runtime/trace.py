"""Trace spans: what a trace tree needs, written to the session's ``lazy_trace`` queue.

A span writes a ``start`` entry when it opens and an ``end`` entry when it closes
(see :class:`~lazystream_widget.protocol.TraceEntry`). The current span rides in a
``ContextVar``, so spans opened in pool workers (parallel tool calls, flow branches)
nest under the span that submitted them.

Every field that can be large (input, output, attrs, error detail) is cut at
``TRACE_FIELD_MAX_BYTES`` with a visible marker; ``run.result`` is never cut.
"""

from __future__ import annotations

import contextvars
import json
import re
import secrets
import threading
import time
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

from ..limits import ERROR_HEADLINE_MAX_LINES, ERROR_MESSAGE_MAX_LINES, TRACE_FIELD_MAX_BYTES, TRUNCATION_MARKER
from ..protocol import TRACE_QUEUE, TRACE_VERSION, ErrorInfo, TraceEntry, entry_line
from .cancel import RunCancelled
from .session import backend_of, current_session
from .task_marks import written as _written

_current_span: contextvars.ContextVar[Span | None] = contextvars.ContextVar("lazystream_span", default=None)
#: Set by runners (the widget) so that every module of the run traces, whatever its return_trace.
_trace_all: contextvars.ContextVar[bool] = contextvars.ContextVar("lazystream_trace_all", default=False)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


def current_span() -> Span | None:
    return _current_span.get()


def trace_everything() -> bool:
    return _trace_all.get()


def set_trace_everything(on: bool) -> contextvars.Token:
    return _trace_all.set(on)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of ``value``; what JSON cannot hold becomes its ``repr``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if _depth > 20:
        return _safe_repr(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, _depth + 1) for v in value]
    to_dict = getattr(value, "to_dict", None) or getattr(value, "model_dump", None)
    if callable(to_dict):
        try:
            return to_jsonable(to_dict(), _depth + 1)
        except Exception:
            pass
    return _safe_repr(value)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:  # a broken __repr__ must not break the traced work
        return f"<unprintable {type(value).__name__}>"


def truncate_field(value: Any, limit: int = TRACE_FIELD_MAX_BYTES) -> Any:
    """``value`` as JSON data whose serialized form fits ``limit`` UTF-8 bytes (plus markers).

    A string is cut at ``limit`` bytes and ends with :data:`TRUNCATION_MARKER` (naming its
    full size). A structure keeps its shape: its *leaf strings* are cut, the longest first,
    so a list of chat messages stays a list of messages a reader can parse and show. Only a
    structure too big even with every string cut short (say 100,000 numbers) falls back to
    its JSON text, cut like a string.
    """
    data = to_jsonable(value)
    size = _json_size(data)
    if size <= limit:
        return data
    if isinstance(data, str):
        return _cut_text(data, limit)
    # the largest per-string byte cap that makes the whole fit: binary search on the cap
    lo, hi, best = _MIN_LEAF_BYTES, limit, None
    while lo <= hi:
        cap = (lo + hi) // 2
        candidate = _cap_strings(data, cap)
        if _json_size(candidate) <= limit + _marker_slack(candidate):
            best, lo = candidate, cap + 1
        else:
            hi = cap - 1
    if best is not None:
        return best
    return _cut_text(json.dumps(data, ensure_ascii=False, default=str), limit)


#: Leaf strings are never cut shorter than this (below it, cutting the structure's text is clearer).
_MIN_LEAF_BYTES = 64


#: Long strings are measured this many characters at a time: a field holding a whole long answer
#: (an llm span's output) is sized and cut without a second copy of the answer in memory.
_SIZE_SLICE = 1 << 18


def _json_size(data: Any) -> int:
    """The UTF-8 size of ``json.dumps(data, ensure_ascii=False)`` (what a trace line holds), computed
    without building it: a field may hold a long answer, and its JSON would be one more copy of it."""
    if isinstance(data, str):
        return 2 + _json_string_size(data)
    if isinstance(data, dict):
        return 2 + sum(_json_size(str(k)) + 2 + _json_size(v) for k, v in data.items()) + 2 * max(0, len(data) - 1)
    if isinstance(data, list):
        return 2 + sum(_json_size(v) for v in data) + 2 * max(0, len(data) - 1)
    return len(json.dumps(data, default=str).encode())


def _json_string_size(text: str) -> int:
    if len(text) <= _SIZE_SLICE:
        return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")) - 2
    return sum(_json_string_size(text[i : i + _SIZE_SLICE]) for i in range(0, len(text), _SIZE_SLICE))


def _utf8_size(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(len(text[i : i + _SIZE_SLICE].encode("utf-8", "surrogatepass"))
               for i in range(0, len(text), _SIZE_SLICE))


def _cut_text(text: str, limit: int) -> str:
    if len(text) <= limit and _utf8_size(text) <= limit:
        return text
    size = _utf8_size(text)
    if size <= limit:
        return text
    # the first `limit` bytes: `limit` characters are at least that many bytes, so encode only those
    head = text[:limit].encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")
    return head + TRUNCATION_MARKER.format(size=size)


def _cap_strings(data: Any, cap: int) -> Any:
    if isinstance(data, str):
        return _cut_text(data, cap)
    if isinstance(data, dict):
        return {k: _cap_strings(v, cap) for k, v in data.items()}
    if isinstance(data, list):
        return [_cap_strings(v, cap) for v in data]
    return data


def _marker_slack(data: Any) -> int:
    """The bytes the truncation markers themselves add (they do not count against the limit)."""
    if isinstance(data, str):
        end = data.rfind("…[truncated, ")
        return len(data[end:].encode()) if end >= 0 and data.endswith(" bytes in all]") else 0
    if isinstance(data, dict):
        return sum(_marker_slack(v) for v in data.values())
    if isinstance(data, list):
        return sum(_marker_slack(v) for v in data)
    return 0


def message_parts(text: str) -> tuple[str, str | None]:
    """An error message as ``(headline, full)``: one line that says what went wrong, and the whole
    message when it spans lines (else None), without ANSI codes, both bounded like any trace field.

    The headline is the first line, with the next ones joined on while a line ends with ``:``
    (a message that opens with "... has no answer for this request:" carries its point below).
    The full message keeps at most ``ERROR_MESSAGE_MAX_LINES`` lines.
    """
    lines = [line.rstrip() for line in strip_ansi(text).strip().splitlines()]
    lines = [line for line in lines if line] or [""]
    head = [lines[0]]
    while head[-1].endswith(":") and len(head) < min(len(lines), ERROR_HEADLINE_MAX_LINES):
        head.append(lines[len(head)].strip())
    headline = truncate_field(" ".join(head))
    if len(lines) == 1:
        return headline, None
    kept = lines[:ERROR_MESSAGE_MAX_LINES]
    if len(lines) > len(kept):
        kept.append(f"… ({len(lines) - len(kept)} more lines)")
    return headline, truncate_field("\n".join(kept))


def error_info(exc: BaseException) -> ErrorInfo:
    """A clean error for people and models: a one-line ``message`` (the headline), the whole message in
    ``full`` when it spans lines, and the traceback in ``detail``."""
    try:
        text = str(exc)
    except Exception:  # an exception whose __str__ raises still gets reported
        text = f"<unprintable {type(exc).__name__}>"
    headline, full = message_parts(text)
    detail = strip_ansi("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    info: ErrorInfo = {"type": type(exc).__name__, "message": headline or type(exc).__name__}
    if full is not None:
        info["full"] = full
    info["detail"] = truncate_field(detail)
    return info


def append_entry(session_id: str, entry: TraceEntry) -> bool:
    """Number ``entry`` (its ``seq``) and append it to the session's trace queue; False if that failed.

    Tracing never breaks the traced work: a closed session or a full disk only loses the entry.
    Also used by the integrations that translate foreign spans (OpenTelemetry, LazyLLM) into ours.
    """
    backend = backend_of(session_id)

    def build(seq: int) -> bytes:
        entry["seq"] = seq
        return entry_line(entry).encode("utf-8", "surrogatepass")

    try:
        end = backend.append_numbered(session_id, TRACE_QUEUE, build)
    except Exception:
        return False
    written = _written.get()
    if written is not None:
        written[(session_id, TRACE_QUEUE)] = end
    return True


class Span:
    """An open span. End it once with :meth:`end`; :func:`span` does it for you."""

    __slots__ = ("id", "parent", "name", "kind", "session_id", "started", "_t0", "attrs", "_ended", "_lock", "usage")

    def __init__(self, name: str, kind: str, parent: Span | None, session_id: str) -> None:
        self.id = secrets.token_hex(8)
        self.parent = parent.id if parent is not None else None
        self.name = name
        self.kind = kind
        self.session_id = session_id
        self.started = time.time()
        self._t0 = time.perf_counter()
        self.attrs: dict[str, Any] = {}
        self.usage: dict[str, int] | None = None
        self._ended = False
        self._lock = threading.Lock()

    @property
    def ended(self) -> bool:
        return self._ended

    def _write(self, entry: TraceEntry) -> None:
        append_entry(self.session_id, entry)

    def _base(self, event: str) -> TraceEntry:
        return {
            "v": TRACE_VERSION,
            "seq": 0,
            "ts": time.time(),
            "event": event,  # type: ignore[typeddict-item]
            "span": self.id,
            "parent": self.parent,
            "name": self.name,
            "kind": self.kind,  # type: ignore[typeddict-item]
        }

    def start(self, input: Any = None, attrs: dict[str, Any] | None = None) -> None:
        entry = self._base("start")
        entry["ts"] = self.started
        entry["input"] = truncate_field(input)
        if attrs:
            self.attrs.update(attrs)
        entry["attrs"] = truncate_field(self.attrs) if self.attrs else {}
        self._write(entry)

    def event(self, name: str, **attrs: Any) -> None:
        """A point in time inside the span (e.g. a retry attempt)."""
        entry = self._base("event")
        entry["name"] = name
        entry["attrs"] = truncate_field(attrs)
        self._write(entry)

    def end(
        self,
        output: Any = None,
        *,
        status: str = "ok",
        error: BaseException | ErrorInfo | None = None,
        usage: dict[str, int] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> bool:
        """Close the span; only the first call writes (later ones return False)."""
        with self._lock:
            if self._ended:
                return False
            self._ended = True
        entry = self._base("end")
        entry["output"] = truncate_field(output)
        entry["status"] = status  # type: ignore[typeddict-item]
        if isinstance(error, BaseException):
            entry["error"] = error_info(error)
        else:
            entry["error"] = error
        entry["duration_ms"] = round((time.perf_counter() - self._t0) * 1000, 3)
        entry["usage"] = usage if usage is not None else self.usage
        if attrs:
            self.attrs.update(attrs)
        entry["attrs"] = truncate_field(self.attrs) if self.attrs else {}
        self._write(entry)
        return True


def start_span(name: str, kind: str, input: Any = None, attrs: dict[str, Any] | None = None) -> Span:
    """Open a span under the current one, without making it current (see :func:`span`)."""
    sp = Span(name, kind, _current_span.get(), current_session().id)
    sp.start(input, attrs)
    return sp


def activate(sp: Span | None) -> contextvars.Token:
    """Make ``sp`` the current span in this context (its children nest under it)."""
    return _current_span.set(sp)


def deactivate(token: contextvars.Token) -> None:
    _current_span.reset(token)


def end_with_exception(sp: Span, exc: BaseException) -> None:
    if isinstance(exc, RunCancelled):
        sp.end(status="cancelled", error={"type": "RunCancelled", "message": str(exc) or "cancelled"})
    else:
        sp.end(status="error", error=exc)


@contextmanager
def span(name: str, kind: str, input: Any = None, attrs: dict[str, Any] | None = None) -> Iterator[Span]:
    """Open a span, make it current for the block, and close it with the block's outcome.

    Set ``sp.output`` semantics by calling ``sp.end(output)`` yourself inside the block;
    otherwise it ends with no output (or with the exception that left the block).
    """
    sp = start_span(name, kind, input, attrs)
    token = _current_span.set(sp)
    try:
        yield sp
    except BaseException as exc:
        end_with_exception(sp, exc)
        raise
    finally:
        _current_span.reset(token)
    sp.end()
