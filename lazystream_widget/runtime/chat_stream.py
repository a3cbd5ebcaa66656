"""A streamed chat completion as plain dict chunks, read through the ``openai`` client.

The request goes through the real client (base URL, key, headers, timeouts, status errors
raised as ``openai.APIStatusError``), by ``with_streaming_response``; the body's events are cut
by :mod:`.sse_events` (a whole event at a time; the client's own decoder for streams with ``\\r``
line ends), and each event's JSON is handed on as the dict it is. What this skips is the client's
per-chunk model construction: turning every
``data:`` line into a ``ChatCompletionChunk`` pydantic object costs about 90 µs of CPU per
chunk on our machine, four times what reading and decoding the event costs (measured in
``docs/benchmarks.md``, "many runs in one kernel"). With a hundred runs streaming in one
kernel that was most of the kernel's CPU.

The one thing the client's stream does besides building objects, raising ``openai.APIError``
for an event whose payload is an ``{"error": ...}`` object, is done here the same way. If a
future client moves its decoder, we fall back to its stream and ``model_dump()`` each chunk:
slower, same dicts.

The request itself goes through the same client's ``post``, with the headers and options
``with_streaming_response.create`` gives it, when the request is plain JSON: ``create`` would
send it unchanged, after walking it against its typed parameters (``maybe_transform``: about a
fifth of a streamed call's CPU, a fixed cost of every run; docs/benchmarks.md, "many runs in one
kernel"). Anything else (``extra_*`` / ``timeout`` keys, a pydantic ``response_format``, models or
iterators inside the messages) still goes through ``create``, which knows how to turn it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

from .sse_events import iter_event_data

#: The keys ``create`` takes as options, not body fields: a request with one goes through ``create``.
_OPTION_KEYS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made only of dicts with str keys, lists and JSON scalars (what the
    client's ``maybe_transform`` leaves as it is for chat parameters, none of which has an alias
    or a format)."""
    if isinstance(value, _JSON_SCALARS):
        return True
    if depth > 32:
        return False
    if type(value) is dict:
        return all(type(k) is str and _plain_json(v, depth + 1) for k, v in value.items())
    if type(value) is list:
        return all(_plain_json(v, depth + 1) for v in value)
    return False


@functools.cache
def _post_args() -> dict[str, Any] | None:
    """What ``with_streaming_response.create`` passes to the client's ``post`` besides the body, or
    None if this client version moved it (private names, so guarded: we then call ``create``)."""
    try:
        from openai import Stream
        from openai._constants import RAW_RESPONSE_HEADER
        from openai.types.chat import ChatCompletion, ChatCompletionChunk
    except ImportError:  # pragma: no cover - depends on the installed openai version
        return None
    return {"cast_to": ChatCompletion, "stream": True, "stream_cls": Stream[ChatCompletionChunk],
            "header": RAW_RESPONSE_HEADER}


def _open_streamed(client: Any, request: dict[str, Any]) -> Any:
    """The ``openai`` APIResponse of a streamed chat request, its body not read yet.

    Connection and status errors are raised here, by the client, as ``create`` raises them.
    """
    args = _post_args()  # looked up once per process
    post = getattr(client, "post", None)
    if (args is not None and callable(post) and request.get("stream") is True and not _OPTION_KEYS & request.keys()
            and _plain_json(request)):
        return post("/chat/completions", body=request, options={"headers": {args["header"]: "stream"}},
                    cast_to=args["cast_to"], stream=True, stream_cls=args["stream_cls"])
    return client.chat.completions.with_streaming_response.create(**request).__enter__()


def _decoder_class() -> Any:
    """The client's own SSE decoder class, or None (private, so guarded: the fallback keeps us working).

    Imported on first use, as the client is: importing our package stays fast.
    """
    try:
        from openai._streaming import SSEDecoder
    except ImportError:  # pragma: no cover - depends on the installed openai version
        return None
    return SSEDecoder if callable(getattr(SSEDecoder, "iter_bytes", None)) else None


class ChunkStream:
    """The chunks of one streamed completion (dicts shaped like ``ChatCompletionChunk.model_dump()``).

    ``response`` is the ``httpx.Response`` (a cancel shuts its socket down); ``close()`` may be
    called from another thread and more than once.
    """

    def __init__(self, client: Any, request: dict[str, Any]) -> None:
        self._decoder = _decoder_class()
        if self._decoder is None:  # pragma: no cover - depends on the installed openai version
            self._stream = client.chat.completions.create(**request)
            self._api_response = None
            self.response = self._stream.response
        else:
            self._api_response = _open_streamed(client, request)
            self._stream = None
            self.response = self._api_response.http_response

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._stream is not None:  # pragma: no cover - the fallback
            for chunk in self._stream:
                yield chunk.model_dump()
            return
        import openai

        decoder = self._decoder

        def client_decoder(rest: Iterator[bytes]) -> Iterator[bytes]:
            return (sse.data.encode("utf-8") for sse in decoder().iter_bytes(rest))

        for data in iter_event_data(self.response.iter_bytes(), client_decoder):
            if not data:
                continue  # an event without data (e.g. a keep-alive ping) carries no chunk
            if data.startswith(b"[DONE]"):
                break
            payload = json.loads(data)
            if isinstance(payload, dict) and payload.get("error"):
                raise openai.APIError(message=_error_message(payload["error"]), request=self.response.request,
                                      body=payload["error"])
            yield payload

    def close(self) -> None:
        if self._stream is not None:  # pragma: no cover - the fallback
            self._stream.close()
        else:
            self.response.close()


def _error_message(error: Any) -> str:
    """The message of an in-stream error object, as the openai client words it."""
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"
