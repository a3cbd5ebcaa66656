"""Tool calls as a model streams them: merged from deltas, and shown live in the trace.

OpenAI-style streams send a tool call in pieces (``index``, then ``id`` and the function
``name``, then the ``arguments`` JSON a few characters at a time). :class:`ToolCallStream`
merges them into whole calls, as the agent needs them, and, when the model call is traced,
reports each call's argument text as ``tool_call`` events on the llm span (see
:data:`~lazystream_widget.protocol.TOOL_CALL_EVENT`): the first one as soon as the tool's name
is known, then at most one per ``TOOL_CALL_EVENT_INTERVAL_S`` per call, and a last one with
``done: true`` when the stream ends. So the widget's tool node appears and fills in while the
model is still writing, and the seed loop's printout of ``lazy_trace`` gets a few readable
lines per call rather than one per token.

An event's attributes are a trace field, cut past ``TRACE_FIELD_MAX_BYTES`` like any other; so
argument text that piled up between two events (a fast stream, or a client behind on a busy
machine) goes as several events, each small enough to arrive whole, never as one cut event.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..limits import TOOL_CALL_EVENT_INTERVAL_S, TOOL_CALL_STREAM_MAX_CHARS, TRACE_FIELD_MAX_BYTES
from ..protocol import TOOL_CALL_EVENT

#: Argument text per event is never cut below this many characters, whatever the other attributes
#: take (a pathologically long tool name or call id is cut by the trace's own bound instead).
_MIN_PIECE_CHARS = 256


class ToolCallStream:
    """The tool calls of one streamed model turn (``span``: the llm span, or None when untraced)."""

    __slots__ = ("span", "calls", "_sent", "_last")

    def __init__(self, span: Any = None) -> None:
        self.span = span
        self.calls: dict[int, dict[str, Any]] = {}
        self._sent: dict[int, int] = {}  # index -> characters of argument text reported
        self._last: dict[int, float] = {}  # index -> when the last event went

    def __bool__(self) -> bool:
        return bool(self.calls)

    def feed(self, deltas: Any) -> None:
        """Merge one chunk's ``delta.tool_calls``; report argument text that is due."""
        touched = []
        for d in deltas:
            index = d.index if d.index is not None else len(self.calls)
            call = self.calls.get(index)
            if call is None:
                call = self.calls[index] = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            if d.id:
                call["id"] = d.id
            fn = d.function
            if fn is not None:
                if fn.name:
                    call["function"]["name"] += fn.name
                if fn.arguments:
                    call["function"]["arguments"] += fn.arguments
            touched.append(index)
        if self.span is None:
            return
        now = time.monotonic()
        for index in touched:
            last = self._last.get(index)
            if last is None or now - last >= TOOL_CALL_EVENT_INTERVAL_S:
                self._report(index, now, done=False)

    def ordered(self) -> list[dict[str, Any]]:
        """The calls in the order the model numbered them."""
        return [self.calls[i] for i in sorted(self.calls)]

    def close(self) -> None:
        """The stream ended: report what is left of every call, marked done."""
        if self.span is None:
            return
        now = time.monotonic()
        for index in sorted(self.calls):
            self._report(index, now, done=True)

    def _report(self, index: int, now: float, done: bool) -> None:
        call = self.calls[index]
        name = call["function"]["name"]
        if not name and not done:
            return  # wait for the name: a node without one would say nothing
        args = call["function"]["arguments"]
        sent = self._sent.get(index, 0)
        upto = min(len(args), TOOL_CALL_STREAM_MAX_CHARS)
        if self._last.get(index) is not None and upto == sent and not done:
            return
        while True:
            attrs: dict[str, Any] = {"call_id": call["id"], "index": index, "tool": name, "offset": sent, "delta": ""}
            if done:
                attrs["done"] = True
                if len(args) > upto:
                    attrs["cut"] = True
                    attrs["total"] = len(args)
            end = sent + _fitting(args[sent:upto], TRACE_FIELD_MAX_BYTES - _json_bytes(attrs))
            last = end >= upto
            if not last:  # more pieces follow: only the last one says the call is done
                for key in ("done", "cut", "total"):
                    attrs.pop(key, None)
            attrs["delta"] = args[sent:end]
            self.span.event(TOOL_CALL_EVENT, **attrs)
            sent = end
            if last:
                break
        self._sent[index] = upto
        self._last[index] = now


def _json_bytes(value: Any) -> int:
    """Size of ``value`` as the trace writes it (UTF-8 JSON), as the trace's field bound measures it."""
    return len(json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def _fitting(text: str, budget: int) -> int:
    """How many leading characters of ``text`` fit in ``budget`` more bytes of JSON (at least a few hundred)."""
    extra = _json_bytes(text) - 2  # the quotes are already counted in the attributes' size
    if extra <= budget:
        return len(text)
    lo, hi = min(_MIN_PIECE_CHARS, len(text)), len(text)  # characters take 1 to 6 bytes of JSON each
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _json_bytes(text[:mid]) - 2 <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo
