"""What the scripted server sends: OpenAI-shaped errors, completions and stream deltas, built from a Reply.

Pure functions, no I/O: :mod:`.server` writes them to the socket.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

from .script import Reply, split_tokens

#: Tool-call arguments are streamed in fragments of this many characters.
ARGUMENT_FRAGMENT_CHARS = 6
#: The one model ``GET /v1/models`` lists; any model name is accepted in requests.
MODEL_NAME = "scripted"


def error_body(status: int, message: str | None) -> dict[str, Any]:
    """An error in OpenAI's shape, so the client raises its matching exception class."""
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        kind, code = "server_error", None
    else:
        kind, code = "invalid_request_error", None
    if message is None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        message = f"scripted server: HTTP {status} {phrase}"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def count_prompt_tokens(request: dict[str, Any]) -> int:
    """A rough word count of the messages: enough for usage numbers to be plausible."""
    messages = request.get("messages") or []
    return sum(len(content_text(m.get("content")).split()) for m in messages if isinstance(m, dict))


def new_call_ids(reply: Reply) -> list[str]:
    return [c.id or f"call_{uuid.uuid4().hex[:24]}" for c in reply.tool_calls]


def arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


STAMP = object()  # placeholder content, replaced by "{i}@{time_ns} " when written


def stream_deltas(reply: Reply, call_ids: list[str]) -> Iterator[dict[str, Any]]:
    """The stream's deltas in order: reasoning, then content, then tool-call fragments."""
    if reply.empty:
        return
    if reply.reasoning is not None:
        parts = split_tokens(reply.reasoning) if isinstance(reply.reasoning, str) else reply.reasoning
        for part in parts:
            yield {"reasoning_content": part}
    if reply.stamp:
        for _ in range(reply.n_tokens or 0):
            yield {"content": STAMP}
    else:
        parts = reply.chunks if reply.chunks is not None else split_tokens(reply.text or "")
        for part in parts:
            yield {"content": part}
    for index, (call, call_id) in enumerate(zip(reply.tool_calls, call_ids, strict=False)):
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        yield {"tool_calls": [head]}
        text = arguments_text(call.arguments)
        for i in range(0, len(text), ARGUMENT_FRAGMENT_CHARS):
            yield {"tool_calls": [{"index": index, "function": {"arguments": text[i : i + ARGUMENT_FRAGMENT_CHARS]}}]}


def finish_reason_of(reply: Reply) -> str:
    if reply.finish_reason is not None:
        return reply.finish_reason
    return "tool_calls" if reply.tool_calls and not reply.empty else "stop"


def stamp_text(i: int) -> str:
    return f"{i}@{time.time_ns()} "


def completion_body(reply: Reply, request: dict[str, Any], model: str) -> dict[str, Any]:
    """The non-streamed ``chat.completion`` holding the same content a stream would carry."""
    call_ids = new_call_ids(reply)
    deltas = list(stream_deltas(reply, call_ids))
    content = "".join(
        stamp_text(i) if d["content"] is STAMP else d["content"]
        for i, d in enumerate(d for d in deltas if "content" in d)
    )
    message: dict[str, Any] = {"role": "assistant", "content": content if content or not reply.tool_calls else None}
    reasoning = "".join(d["reasoning_content"] for d in deltas if "reasoning_content" in d)
    if reasoning:
        message["reasoning_content"] = reasoning
    if reply.tool_calls and not reply.empty:
        message["tool_calls"] = [
            {"id": cid, "type": "function", "function": {"name": c.name, "arguments": arguments_text(c.arguments)}}
            for c, cid in zip(reply.tool_calls, call_ids, strict=False)
        ]
    prompt = count_prompt_tokens(request)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason_of(reply)}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": len(deltas), "total_tokens": prompt + len(deltas)},
    }
