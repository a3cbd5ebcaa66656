"""Streams in a real provider's own chunk layout, for recording realistic cassettes without a key.

No real provider can be reached from CI (or from this project's development machines), so
the teaching cassette is recorded from a *reconstruction*: :func:`deepseek_style` wraps a
responder (what to say) and sends it the way DeepSeek's chat-completions API documents its
stream (what it looks like on the wire):

* every chunk carries ``id``, ``object: "chat.completion.chunk"``, ``created``, ``model`` and
  ``system_fingerprint``; choices carry ``index``, ``delta``, ``logprobs: null``,
  ``finish_reason``;
* a ``: keep-alive`` comment while the request waits for the model;
* the thinking first, as ``reasoning_content`` deltas (with ``content: null``), then the
  answer as ``content`` deltas (with ``reasoning_content: null``);
* parallel tool calls, one after the other, each a head (``index``, ``id``, ``type``,
  ``function.name``, empty ``arguments``) followed by argument fragments;
* ``usage`` in the last chunk, the one with ``finish_reason``, with DeepSeek's cache and
  reasoning token counts; then ``data: [DONE]``.

The pacing is a model's: a pause before the first token, then uneven gaps between tokens
(seeded, so a reconstruction is reproducible). It is a faithful layout, not a real
model's output: the words come from the responder.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

from .payloads import ARGUMENT_FRAGMENT_CHARS
from .script import RawEvent, Reply, as_reply, split_tokens
from .server import Responder

__all__ = ["deepseek_style"]

_FINGERPRINT = "fp_ffc7281d48_prod0820"
_ID_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"


def deepseek_style(
    responder: Responder,
    *,
    model: str = "deepseek-reasoner",
    think: Responder | None = None,
    first_token_s: float = 0.45,
    token_gap_s: float = 0.03,
    seed: int = 7,
) -> Responder:
    """A responder that answers like ``responder`` in DeepSeek's streaming layout.

    ``think(request) -> str`` writes the reasoning text streamed before the answer (default:
    none). The first token comes after about ``first_token_s``; tokens follow about
    ``token_gap_s`` apart (between half and twice that, seeded by ``seed`` and the turn).
    """

    def respond(request: dict[str, Any]) -> Reply:
        reply = as_reply(responder(request))
        reasoning = str(think(request)) if think is not None else ""
        turn = sum(1 for m in request.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant")
        rng = random.Random(seed * 1000 + turn)
        return Reply(raw_events=_events(reply, reasoning, request, model, rng, first_token_s, token_gap_s))

    respond.__name__ = f"deepseek_style({getattr(responder, '__name__', 'responder')})"
    return respond


def _events(reply: Reply, reasoning: str, request: dict[str, Any], model: str, rng: random.Random,
            first: float, gap: float) -> list[RawEvent]:
    base = {"id": str(uuid.UUID(int=rng.getrandbits(128))), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model, "system_fingerprint": _FINGERPRINT}

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> dict:
        out = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if usage is not None:
            out["usage"] = usage
        return out

    def pause() -> float:
        return round(gap * rng.uniform(0.5, 2.0), 4)

    events = [RawEvent(comment="keep-alive", delay=round(first * 0.4, 4)),
              RawEvent(chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
                       delay=round(first * 0.6, 4))]
    thinking = split_tokens(reasoning)
    events += [RawEvent(chunk({"content": None, "reasoning_content": t}), delay=pause()) for t in thinking]
    answer = list(reply.chunks) if reply.chunks is not None else split_tokens(reply.text or "")
    events += [RawEvent(chunk({"content": t, "reasoning_content": None}), delay=pause()) for t in answer]
    fragments = 0
    for index, call in enumerate(reply.tool_calls):
        call_id = call.id or f"call_{index:02d}_" + "".join(rng.choice(_ID_CHARS) for _ in range(24))
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        events.append(RawEvent(chunk({"tool_calls": [head]}), delay=pause()))
        text = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments, ensure_ascii=False)
        for i in range(0, len(text), ARGUMENT_FRAGMENT_CHARS):
            piece = {"index": index, "function": {"arguments": text[i : i + ARGUMENT_FRAGMENT_CHARS]}}
            events.append(RawEvent(chunk({"tool_calls": [piece]}), delay=pause()))
            fragments += 1
    prompt = _prompt_tokens(request.get("messages") or [])
    completion = len(thinking) + len(answer) + fragments + len(reply.tool_calls)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
             "prompt_tokens_details": {"cached_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": len(thinking)},
             "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": prompt}
    finish = "tool_calls" if reply.tool_calls else "stop"
    events.append(RawEvent(chunk({"content": "", "reasoning_content": None}, finish, usage), delay=pause()))
    events.append(RawEvent("[DONE]"))
    return events


def _prompt_tokens(messages: Sequence[Any]) -> int:
    """A rough count (words and punctuation of every message), enough for plausible usage numbers."""
    return sum(len(split_tokens(json.dumps(m, ensure_ascii=False))) for m in messages)
