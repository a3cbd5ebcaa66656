"""LazyLLM 1.4.0's OpenTelemetry spans of one run, made readable: kinds and tool names while they
run, and LazyLLM's own plumbing marked ``internal``.

**What a span is, as it starts.** LazyLLM sets its attributes (kind, input, model, usage) only
when a span ends; at the start an OpenTelemetry span has only its name. But LazyLLM starts every
span in ``TracingRuntime.start_span(span_kind, target, args, kwargs)`` and our span processor is
called inside it, in the same thread: the call's ``target`` (the module, flow or function) and
``args`` are in that frame. Read there (never changed), they give the node its kind at once
(through LazyLLM's own ``resolve_semantic_type_for_target``, so start and end agree), the calls a
``ToolManager`` is given, and each ``_indexed_call``'s index into them: a tool call shows its
tool's name and arguments from its first moment. Both are LazyLLM internals, pinned to the
supported version and covered by tests; where they are not found (another version), a node
fills in when it ends, and a tool call's name waits for its ToolManager's end (its input holds
the calls), as before.

**Plumbing.** Inside an agent, LazyLLM's machinery is spans too: ``Loop``, ``FunctionCall``,
``Pipeline``, ``_build_history``, ``_post_action``, ``ToolManager``, ``Diverter``, the loop's
``<lambda>`` and the ``DummySandbox`` around each tool call. A span inside an agent's machinery
(its nearest agent-or-tool ancestor is an agent) that is not a model, tool, agent or retriever
call, and a sandbox directly under a tool call, gets ``attrs.internal = true`` at its start. The
tree folds internal spans away (their children show in their place) with one button to show
them, so an agent reads agent > llm, tool, tool, llm.
"""

from __future__ import annotations

import sys
from typing import Any

from ..protocol import TraceEntry
from ..runtime.trace import message_parts, strip_ansi, truncate_field
from . import otel
from .semconv import kind_of, parse_json_text

#: Kinds that stay visible inside an agent; the rest of its spans (flows, modules, chains) are plumbing.
VISIBLE_KINDS = frozenset({"llm", "tool", "agent", "retriever", "embedding", "reranker", "guardrail", "evaluator"})
#: How far up the stack our processor looks for LazyLLM's ``start_span`` frame (it is about 8 frames up).
_MAX_FRAMES = 24
#: LazyLLM's plumbing by name, for when the start frame cannot be read (then no kind is known at start).
_PLUMBING_NAMES = frozenset({
    "Loop", "FunctionCall", "Pipeline", "Parallel", "Diverter", "Warp", "Switch", "IFS", "_build_history",
    "_post_action", "<lambda>", "ToolManager", "DummySandbox",
})  # fmt: skip

_start_code: Any = None  # LazyLLM's TracingRuntime.start_span code object (False: not available)


def _lazyllm_start_code() -> Any:
    global _start_code
    if _start_code is None:
        try:
            from lazyllm.tracing.collect.runtime import TracingRuntime

            _start_code = TracingRuntime.start_span.__code__
        except Exception:  # another LazyLLM: no start-time facts, ends still say everything
            _start_code = False
    return _start_code


def lazyllm_call(name: str) -> tuple[Any, str, tuple] | None:
    """``(target, span_kind, args)`` of the LazyLLM call whose span ``name`` is starting in this thread."""
    code = _lazyllm_start_code()
    if not code:
        return None
    frame = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return None
        if frame.f_code is code:
            found = frame.f_locals
            if found.get("span_name") != name:
                return None
            return found.get("target"), str(found.get("span_kind") or ""), tuple(found.get("args") or ())
        frame = frame.f_back
    return None


def _start_kind(target: Any, span_kind: str) -> str | None:
    try:
        from lazyllm.tracing.collect.trace_config import resolve_semantic_type_for_target

        semantic = resolve_semantic_type_for_target(target, span_kind)
    except Exception:
        semantic = None
    return kind_of({"lazyllm.semantic_type": str(semantic) if semantic else None, "lazyllm.span.kind": span_kind})


class _Node:
    __slots__ = ("name", "kind", "parent", "calls")

    def __init__(self, name: str, kind: str, parent: str | None) -> None:
        self.name, self.kind, self.parent = name, kind, parent
        self.calls: list[Any] | None = None  # a ToolManager's tool calls (from its start frame)


class LazyLLMRunSpans(otel.RunSpans):
    """LazyLLM's spans of one run: kinds at start, tool calls named, plumbing marked internal (see above)."""

    def __init__(self, session_id: str, root_is_agent: bool = False) -> None:
        super().__init__(session_id)
        self.root_is_agent = root_is_agent
        self._nodes: dict[str, _Node] = {}
        self._named: dict[str, str] = {}  # tool-call span -> the tool's name, given at its start
        self._held: dict[str, dict[int, TraceEntry]] = {}  # ToolManager span -> call index -> end entry

    # ---- start -----------------------------------------------------------------------------

    def refine_start(self, span: Any, entry: TraceEntry) -> None:
        sid, parent, name = entry["span"], entry.get("parent"), entry["name"]
        call = lazyllm_call(span.name)
        target, span_kind, args = call if call is not None else (None, "", ())
        if name == "_indexed_call":
            entry["name"], entry["kind"] = "tool call", "tool"
            self._name_call(sid, parent, target, entry)
        elif target is not None:
            entry["kind"] = _start_kind(target, span_kind) or entry["kind"]  # type: ignore[typeddict-item]
        elif parent is None and self.root_is_agent:
            entry["kind"] = "agent"
        node = self._nodes[sid] = _Node(name, entry["kind"], parent)
        if name == "ToolManager" and args and isinstance(args[0], list):
            node.calls = args[0]
        if self._internal(node, call is not None):
            entry["attrs"] = {**(entry.get("attrs") or {}), "internal": True}

    def _name_call(self, sid: str, parent: str | None, target: Any, entry: TraceEntry) -> None:
        """A tool call's tool, arguments and id, from its index into its ToolManager's calls."""
        defaults = getattr(target, "__defaults__", None) or ()
        index = defaults[0] if defaults and isinstance(defaults[0], int) else None
        diverter = self._nodes.get(parent) if parent else None
        manager = self._nodes.get(diverter.parent) if diverter is not None and diverter.parent else None
        calls = manager.calls if manager is not None else None
        if index is None or not calls or index >= len(calls) or not isinstance(calls[index], dict):
            return
        fn = calls[index].get("function")
        if not isinstance(fn, dict) or not fn.get("name"):
            return
        arguments = parse_json_text(fn.get("arguments"))
        entry["name"] = self._named[sid] = str(fn["name"])
        entry["input"] = truncate_field(arguments)
        entry["attrs"] = {**(entry.get("attrs") or {}), "arguments": truncate_field(arguments),
                          "call_id": calls[index].get("id")}

    def _internal(self, node: _Node, kind_known: bool) -> bool:
        """Plumbing: inside an agent's machinery and not a call worth a row, or a sandbox around a tool call."""
        parent = self._nodes.get(node.parent) if node.parent else None
        if parent is not None and parent.kind == "tool" and node.name.endswith("Sandbox"):
            return True
        owner = parent
        while owner is not None and owner.kind not in ("agent", "tool"):
            owner = self._nodes.get(owner.parent) if owner.parent else None
        if owner is None or owner.kind != "agent":
            return False
        if kind_known:
            return node.kind not in VISIBLE_KINDS
        return node.name in _PLUMBING_NAMES

    # ---- end -------------------------------------------------------------------------------

    def refine_end(self, span: Any, entry: TraceEntry) -> list[TraceEntry]:
        sid = entry["span"]
        node = self._nodes.pop(sid, None)
        name = node.name if node is not None else entry["name"]
        if name == "_indexed_call":
            return self._tool_call_ended(sid, node, entry)
        if name == "ToolManager":
            return [*self._named_calls(sid, entry.get("input")), entry]
        return [entry]

    def _tool_call_ended(self, sid: str, node: _Node | None, entry: TraceEntry) -> list[TraceEntry]:
        entry["name"], entry["kind"] = "tool call", "tool"
        entry.pop("input", None)  # a placeholder ({"args": [{}]}): the arguments come from the ToolManager
        out = entry.get("output")
        if not (isinstance(out, list) and len(out) == 3 and isinstance(out[0], int)):
            return [entry]
        index, result, error = out
        if isinstance(result, dict) and result.get("ok") is True and "value" in result:
            result = result["value"]  # LazyLLM's tool result envelope, without a sandbox
        elif isinstance(result, dict) and result.get("ok") is False:
            error = error or result.get("msg") or "tool failed"
            result = None
        entry["output"] = parse_json_text(result)
        if error:
            headline, full = message_parts(strip_ansi(str(error)))
            entry["status"] = "error"
            entry["error"] = {"type": "ToolError", "message": headline or "tool failed"}
            if full:
                entry["error"]["full"] = full
        if sid in self._named:  # named at its start: its end says the same
            entry["name"] = self._named.pop(sid)
            return [entry]
        diverter = self._nodes.get(node.parent) if node is not None and node.parent else None
        manager = diverter.parent if diverter is not None else None
        if manager is None:
            return [entry]
        self._held.setdefault(manager, {})[index] = entry
        return []

    def _named_calls(self, manager: str, manager_input: Any) -> list[TraceEntry]:
        held = self._held.pop(manager, {})
        listed = manager_input.get("args") if isinstance(manager_input, dict) else None
        calls = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], list) else []
        for index, entry in held.items():
            call = calls[index] if index < len(calls) and isinstance(calls[index], dict) else {}
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            if fn.get("name"):
                arguments = parse_json_text(fn.get("arguments"))
                entry["name"] = str(fn["name"])
                entry["input"] = arguments
                entry["attrs"] = {**(entry.get("attrs") or {}), "arguments": arguments, "call_id": call.get("id")}
        return [held[i] for i in sorted(held)]

    def flush(self) -> list[TraceEntry]:
        held, self._held = self._held, {}
        return [entry for calls in held.values() for _, entry in sorted(calls.items())]
