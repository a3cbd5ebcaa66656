"""What the scripted server answers: reply types as plain, frozen data.

A test (or a benchmark, or the demo) describes each model turn as a
:class:`Reply` instead of calling a real model, so that streaming, tool calls
and transport faults can be reproduced exactly. Scripts can also be written as
plain Python / JSON data and converted with :func:`as_reply`:

* a bare string is a text reply: ``"Hello there."``;
* a dict holds the fields of :class:`Reply`, with ``tool_calls`` as a list of
  dicts ``{"name": ..., "arguments": {...}, "id": ...}``.

Everything here is standard library only and free of I/O, so it is cheap to
import from test code that never starts a server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

__all__ = ["HTTPError", "RawEvent", "Reply", "ScriptItem", "ToolCall", "as_reply", "split_tokens"]

# Newline runs; the blanks before a number (real tokenizers split " 10" into " ", "10",
# as the seed's transcript shows); a word with its leading blanks; one punctuation mark
# with its leading blanks; any other whitespace. Together they cover every string, so
# the tokens always join back to the exact input.
_TOKEN_RE = re.compile(r"\n+|[ \t]+(?=\d)|[ \t]*\w+|[ \t]*[^\w\s]|\s+")


def split_tokens(text: str) -> list[str]:
    """Split text into deltas the way real models stream it.

    Words keep their leading space (``"The", " current", " weather"``) and each
    punctuation mark is its own token, so clients see realistic, uneven deltas.
    ``"".join(split_tokens(t)) == t`` always holds.
    """
    return _TOKEN_RE.findall(text)


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asks for.

    ``arguments`` as a dict is sent as its JSON text; as a ``str`` it is sent
    verbatim, so a test can hand the client broken JSON on purpose. ``id=None``
    means the server makes up a fresh ``call_<hex>`` id for every response.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        """Build from ``{"name": ..., "arguments": ..., "id": ...}`` (OpenAI's nested
        ``{"function": {"name", "arguments"}}`` shape is accepted too)."""
        if "function" in data:
            fn = data["function"]
            return cls(name=fn["name"], arguments=fn.get("arguments", {}), id=data.get("id"))
        return cls(name=data["name"], arguments=data.get("arguments", {}), id=data.get("id"))


@dataclass(frozen=True)
class RawEvent:
    """One server-sent event sent exactly as given, for streams in a provider's own chunk layout.

    ``data``: a dict is sent as its JSON, a string as it is (``"[DONE]"``); ``comment``: a
    comment line (``": keep-alive"``, which some providers send while the model is busy);
    ``delay``: seconds slept before the event is sent.
    """

    data: Mapping[str, Any] | str | None = None
    comment: str | None = None
    delay: float = 0.0

    def to_bytes(self) -> bytes:
        lines = [] if self.comment is None else [f": {self.comment}"]
        if self.data is not None:
            text = self.data if isinstance(self.data, str) else json.dumps(self.data, ensure_ascii=False)
            lines.append(f"data: {text}")
        return ("\n".join(lines) + "\n\n").encode("utf-8")


@dataclass(frozen=True)
class Reply:
    """One scripted model response. All fields are optional and combine where sensible.

    Content: ``text`` is split with :func:`split_tokens`; ``chunks`` gives the exact
    deltas instead. ``reasoning`` (text or a sequence of chunks) is streamed first as
    ``delta.reasoning_content``. ``tool_calls`` are streamed after any text, in
    fragments, as real providers do.

    Timing: ``delay`` is slept before each streamed delta (``None``: the server's
    ``token_delay``); ``first_delay`` replaces it before the first delta, and for a
    non-streamed response it is slept before the response headers.

    Faults: ``status`` (>= 400) answers with an OpenAI-shaped JSON error and extra
    ``headers``; ``drop_after=N`` closes the connection after N deltas without the
    stream terminator; ``stall_after=N`` stops sending after N deltas but keeps the
    connection open; ``invalid_json_after=N`` inserts a ``data: {not json`` event
    after N deltas. Deltas are counted over reasoning, content and tool-call fragments.

    Provider formats: ``raw_events`` (a sequence of :class:`RawEvent`) replaces everything
    above: the stream is exactly those events, with their delays (see :mod:`.providers`).

    Benchmarks: ``stamp=True`` replaces each content delta by ``"{i}@{time_ns} "``
    taken when the delta is written to the socket, ``n_tokens`` of them, so a client
    can measure its per-token lag (see :meth:`timed`).
    """

    text: str | None = None
    chunks: Sequence[str] | None = None
    reasoning: str | Sequence[str] | None = None
    tool_calls: Sequence[ToolCall] = ()
    delay: float | None = None
    first_delay: float | None = None
    usage: bool = True
    finish_reason: str | None = None
    empty: bool = False
    status: int | None = None
    message: str | None = None  # error message for ``status``; a default is derived from it
    headers: Mapping[str, str] = field(default_factory=dict)
    drop_after: int | None = None
    stall_after: int | None = None
    invalid_json_after: int | None = None
    stamp: bool = False
    n_tokens: int | None = None
    raw_events: Sequence[RawEvent] = ()

    def __post_init__(self) -> None:
        # Freeze the mutable containers a caller may pass, so a Reply stays a value.
        if self.chunks is not None:
            object.__setattr__(self, "chunks", tuple(self.chunks))
        if self.reasoning is not None and not isinstance(self.reasoning, str):
            object.__setattr__(self, "reasoning", tuple(self.reasoning))
        calls = tuple(c if isinstance(c, ToolCall) else ToolCall.from_dict(c) for c in self.tool_calls)
        object.__setattr__(self, "tool_calls", calls)
        object.__setattr__(self, "headers", MappingProxyType({str(k): str(v) for k, v in self.headers.items()}))
        object.__setattr__(self, "raw_events", tuple(self.raw_events))
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"Reply.status must be an HTTP error code (400-599), got {self.status}")
        if self.stamp and self.n_tokens is None:
            raise ValueError("Reply(stamp=True) needs n_tokens: how many stamped deltas to send")

    @classmethod
    def timed(cls, n_tokens: int, delay: float, **kwargs: Any) -> Reply:
        """A benchmark reply: ``n_tokens`` time-stamped deltas, ``delay`` seconds apart."""
        return cls(stamp=True, n_tokens=n_tokens, delay=delay, **kwargs)

    @classmethod
    def from_dict(cls, data: str | Mapping[str, Any]) -> Reply:
        """Build a reply from plain data: a string is a text reply, a dict holds the fields.

        Unknown keys raise ``ValueError`` so that a typo in a script fails loudly.
        """
        if isinstance(data, str):
            return cls(text=data)
        if not isinstance(data, Mapping):
            raise TypeError(f"a scripted reply must be a str or a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Reply field(s) {unknown}; known: {sorted(known)}")
        kwargs = dict(data)
        if "tool_calls" in kwargs:
            kwargs["tool_calls"] = [
                ToolCall.from_dict(c) if isinstance(c, Mapping) else c for c in kwargs["tool_calls"]
            ]
        return cls(**kwargs)

    @property
    def is_error(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class HTTPError:
    """Shorthand for a reply that is only an HTTP error, e.g. ``HTTPError(429, headers={"Retry-After": "0"})``."""

    status: int
    message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    first_delay: float | None = None

    def to_reply(self) -> Reply:
        return Reply(status=self.status, message=self.message, headers=self.headers, first_delay=self.first_delay)


#: What a script entry or a responder may be: a reply, an error, or plain data.
ScriptItem = Reply | HTTPError | str | Mapping[str, Any]


def as_reply(item: ScriptItem) -> Reply:
    """Normalise any :data:`ScriptItem` into a :class:`Reply`."""
    if isinstance(item, Reply):
        return item
    if isinstance(item, HTTPError):
        return item.to_reply()
    return Reply.from_dict(item)
