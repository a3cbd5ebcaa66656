"""Span vocabularies: OpenTelemetry GenAI semantic conventions, OpenInference and LazyLLM, onto ours.

Reading (spans in): :func:`describe` turns the attributes of a foreign span into what our
trace tree shows: its kind, model, token usage, tool name and arguments, input and output.
Writing (spans out): :func:`export_attributes` turns one of our spans into attributes of both
vocabularies, GenAI (``gen_ai.*``) and OpenInference (``openinference.span.kind``,
``input.value``, ``llm.token_count.*``...), so Phoenix, Langfuse and plain collectors all
understand it.

Pure functions on plain data: no OpenTelemetry import here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

# --- kinds --------------------------------------------------------------------------

#: ``openinference.span.kind`` values -> our kinds.
_OPENINFERENCE_KINDS = {
    "LLM": "llm",
    "CHAIN": "chain",
    "TOOL": "tool",
    "AGENT": "agent",
    "RETRIEVER": "retriever",
    "EMBEDDING": "embedding",
    "RERANKER": "reranker",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
    "PROMPT": "module",
}
#: ``gen_ai.operation.name`` values (GenAI semantic conventions) -> our kinds.
_GENAI_OPERATIONS = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
}
#: ``lazyllm.semantic_type`` values (LazyLLM 1.4.0) -> our kinds.
_LAZYLLM_SEMANTIC = {
    "llm": "llm",
    "agent": "agent",
    "retriever": "retriever",
    "embedding": "embedding",
    "rerank": "reranker",
    "tool": "chain",  # LazyLLM's ToolManager: it dispatches the tool calls, each call is a span below it
    "workflow_control": "flow",
}
#: ``lazyllm.span.kind`` (flow / module / callable) -> our kinds, when no semantic type says more.
_LAZYLLM_SPAN_KINDS = {"flow": "flow", "module": "module", "callable": "module"}

#: Our kinds -> OpenInference span kinds, for export.
_TO_OPENINFERENCE = {
    "llm": "LLM",
    "tool": "TOOL",
    "agent": "AGENT",
    "chain": "CHAIN",
    "flow": "CHAIN",
    "module": "CHAIN",
    "retriever": "RETRIEVER",
    "embedding": "EMBEDDING",
    "reranker": "RERANKER",
    "guardrail": "GUARDRAIL",
    "evaluator": "EVALUATOR",
}
#: Our kinds -> ``gen_ai.operation.name``, for export (kinds without a GenAI operation have none).
_TO_GENAI_OPERATION = {"llm": "chat", "tool": "execute_tool", "agent": "invoke_agent", "embedding": "embeddings"}


def kind_of(attrs: Mapping[str, Any]) -> str | None:
    """Our span kind for a foreign span's attributes, or None when they say nothing about it.

    OpenInference wins (it is the most specific), then GenAI, then LazyLLM's own attributes.
    """
    oi = attrs.get("openinference.span.kind")
    if isinstance(oi, str) and oi.upper() in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[oi.upper()]
    op = attrs.get("gen_ai.operation.name")
    if isinstance(op, str) and op in _GENAI_OPERATIONS:
        return _GENAI_OPERATIONS[op]
    if attrs.get("gen_ai.tool.name") or attrs.get("tool.name"):
        return "tool"
    sem = attrs.get("lazyllm.semantic_type")
    if isinstance(sem, str) and sem in _LAZYLLM_SEMANTIC:
        return _LAZYLLM_SEMANTIC[sem]
    lk = attrs.get("lazyllm.span.kind")
    if isinstance(lk, str) and lk in _LAZYLLM_SPAN_KINDS:
        return _LAZYLLM_SPAN_KINDS[lk]
    return None


# --- reading ------------------------------------------------------------------------


@dataclass
class Described:
    """What our tree shows of a foreign span (any field may be missing)."""

    kind: str | None = None
    input: Any = None
    output: Any = None
    usage: dict[str, int] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def parse_json_text(value: Any) -> Any:
    """A JSON document given as text, parsed (so the tree shows structure); anything else unchanged."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: model-supplied JSON nested thousands deep
            return value
    return value


def _first(attrs: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return value
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _usage(attrs: Mapping[str, Any]) -> dict[str, int] | None:
    prompt = _int(_first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"))
    completion = _int(
        _first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
    )
    total = _int(_first(attrs, "gen_ai.usage.total_tokens", "llm.token_count.total"))
    if prompt is None and completion is None and total is None:
        return None
    usage: dict[str, int] = {}
    if prompt is not None:
        usage["prompt_tokens"] = prompt
    if completion is not None:
        usage["completion_tokens"] = completion
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    if total is not None:
        usage["total_tokens"] = total
    return usage


def _messages(attrs: Mapping[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    """OpenInference's flattened ``llm.input_messages.0.message.role`` ... back into a list of messages."""
    found: dict[int, dict[str, Any]] = {}
    head = prefix + "."
    for key, value in attrs.items():
        if not key.startswith(head):
            continue
        index, _, rest = key[len(head) :].partition(".")
        if not index.isdigit() or not rest.startswith("message."):
            continue
        found.setdefault(int(index), {})[rest[len("message.") :]] = value
    return [found[i] for i in sorted(found)] or None


#: Attributes that are plumbing, not facts a reader of the tree needs (kept out of ``attrs``).
_NOISE_PREFIXES = ("lazyllm.entity.config.", "llm.input_messages.", "llm.output_messages.", "llm.tools.")
_MAPPED = {
    "input.value", "input.mime_type", "output.value", "output.mime_type", "lazyllm.io.input", "lazyllm.io.output",
    "openinference.span.kind", "gen_ai.input.messages", "gen_ai.output.messages",
}  # fmt: skip


def _call_arguments(value: Any) -> Any:
    """A tool call's keyword arguments out of a recorded ``{"args": [], "kwargs": {...}}`` input."""
    if isinstance(value, dict) and "kwargs" in value and not value.get("args") and set(value) <= {
        "args", "kwargs", "sanitize_inputs_outputs"
    }:
        return value["kwargs"]
    return value


def describe(attrs: Mapping[str, Any]) -> Described:
    """Everything our tree can show of a foreign span, from its attributes (either vocabulary)."""
    out = Described(kind=kind_of(attrs))
    out.input = parse_json_text(
        _first(attrs, "input.value", "lazyllm.io.input", "gen_ai.input.messages", "gen_ai.prompt")
    )
    if out.input is None:
        out.input = _messages(attrs, "llm.input_messages")
    out.output = parse_json_text(
        _first(attrs, "output.value", "lazyllm.io.output", "gen_ai.output.messages", "gen_ai.completion")
    )
    if out.output is None:
        out.output = _messages(attrs, "llm.output_messages")
    out.usage = _usage(attrs)
    model = _first(attrs, "gen_ai.request.model", "gen_ai.response.model", "llm.model_name")
    if model is not None:
        out.attrs["model"] = str(model)
    provider = _first(attrs, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
    if provider is not None:
        out.attrs["provider"] = str(provider)
    tool = _first(attrs, "gen_ai.tool.name", "tool.name")
    if tool is not None:
        out.attrs["tool"] = str(tool)
    # (OpenInference's tool.parameters is the tool's JSON schema, not the call's arguments: its input is)
    arguments = _first(attrs, "gen_ai.tool.call.arguments", "tool_call.function.arguments")
    if arguments is None and out.kind == "tool":
        arguments = _call_arguments(out.input)
    if arguments is not None:
        out.attrs["arguments"] = parse_json_text(arguments)
    call_id = _first(attrs, "gen_ai.tool.call.id", "tool_call.id")
    if call_id is not None:
        out.attrs["call_id"] = str(call_id)
    rest = {
        k: v for k, v in attrs.items()
        if k not in _MAPPED and not k.startswith(_NOISE_PREFIXES)
    }  # fmt: skip
    if rest:
        out.attrs["otel"] = rest
    return out


# --- writing ------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _mime(value: Any) -> str:
    """``application/json`` for structures and for text that is a JSON document (tools often answer JSON text)."""
    if not isinstance(value, str):
        return "application/json"
    return "application/json" if parse_json_text(value) is not value else "text/plain"


def export_attributes(
    kind: str,
    name: str,
    *,
    input: Any = None,
    output: Any = None,
    usage: Mapping[str, int] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> dict[str, str | int | float | bool]:
    """One of our spans as OpenTelemetry attributes in both vocabularies (GenAI and OpenInference)."""
    attrs = attrs or {}
    out: dict[str, str | int | float | bool] = {
        "openinference.span.kind": _TO_OPENINFERENCE.get(kind, "CHAIN"),
        "lazystream.span.kind": kind,
    }
    operation = _TO_GENAI_OPERATION.get(kind)
    if operation:
        out["gen_ai.operation.name"] = operation
    if input is not None:
        out["input.value"] = _text(input)
        out["input.mime_type"] = _mime(input)
    if output is not None:
        out["output.value"] = _text(output)
        out["output.mime_type"] = _mime(output)
    model = attrs.get("model")
    if model:
        out["gen_ai.request.model"] = str(model)
        out["llm.model_name"] = str(model)
    provider = attrs.get("provider")
    if provider:
        out["gen_ai.provider.name"] = str(provider)
        out["llm.provider"] = str(provider)
    if usage:
        for ours, genai, oi in (
            ("prompt_tokens", "gen_ai.usage.input_tokens", "llm.token_count.prompt"),
            ("completion_tokens", "gen_ai.usage.output_tokens", "llm.token_count.completion"),
            ("total_tokens", None, "llm.token_count.total"),
        ):
            value = _int(usage.get(ours))
            if value is not None:
                if genai:
                    out[genai] = value
                out[oi] = value
    if kind == "tool":
        tool = str(attrs.get("tool") or name)
        out["gen_ai.tool.name"] = tool
        out["tool.name"] = tool
        arguments = attrs.get("arguments", input)
        if arguments is not None:
            out["gen_ai.tool.call.arguments"] = _text(arguments)
        if attrs.get("call_id"):
            out["gen_ai.tool.call.id"] = str(attrs["call_id"])
    if kind == "agent":
        out["gen_ai.agent.name"] = name
    for key in ("ttft_ms", "attempt"):
        value = attrs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"lazystream.{key}"] = value
    return out
