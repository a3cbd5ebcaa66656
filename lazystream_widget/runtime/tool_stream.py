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
"""

from __future__ import annotations

import time
from typing import Any

from ..limits import TOOL_CALL_EVENT_INTERVAL_S, TOOL_CALL_EVENT_MAX_CHARS, TOOL_CALL_STREAM_MAX_CHARS
from ..protocol import TOOL_CALL_EVENT


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
        """Merge one chunk's ``delta["tool_calls"]`` (dicts, as streamed); report argument text that is due."""
        touched = []
        for d in deltas:
            index = d.get("index")
            if index is None:
                index = len(self.calls)
            call = self.calls.get(index)
            if call is None:
                call = self.calls[index] = {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            if d.get("id"):
                call["id"] = d["id"]
            fn = d.get("function")
            if fn:
                if fn.get("name"):
                    call["function"]["name"] += fn["name"]
                if fn.get("arguments"):
                    call["function"]["arguments"] += fn["arguments"]
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
        while True:  # pieces of at most TOOL_CALL_EVENT_MAX_CHARS: an event is never cut by the field limit
            end = min(upto, sent + TOOL_CALL_EVENT_MAX_CHARS)
            last = end == upto
            attrs: dict[str, Any] = {"call_id": call["id"], "index": index, "tool": name, "offset": sent,
                                     "delta": args[sent:end]}
            if done and last:
                attrs["done"] = True
                if len(args) > upto:
                    attrs["cut"] = True
                    attrs["total"] = len(args)
            self.span.event(TOOL_CALL_EVENT, **attrs)
            sent = end
            if last:
                break
        self._sent[index] = upto
        self._last[index] = now
