"""Answer text for code that is not ours: a callable that returns a stream.

If a run's callable returns an iterator of strings, an ``openai`` ``Stream`` of chat completion
chunks (or any chunk with a text ``content``, such as LangChain's message chunks), an async
iterator of either, or a coroutine that resolves to one of them, :func:`consume` streams it into
the run's answer queue (and ``reasoning_content`` into the thinking queue) as it arrives, and the
run's result is the joined text. Any other return value is the result, untouched.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..runtime.cancel import RunCancelled, current_token
from ..runtime.queue import answer_queue, think_queue

#: Values that are iterable but are results, never streams.
_NOT_STREAMS = (str, bytes, bytearray, dict, list, tuple, set, frozenset)


def is_stream(value: Any) -> bool:
    """Whether :func:`consume` would stream ``value`` (an iterator, async iterator or coroutine)."""
    if isinstance(value, _NOT_STREAMS):
        return False
    return inspect.iscoroutine(value) or isinstance(value, (Iterator, AsyncIterator))


def _pieces(item: Any) -> tuple[str, str] | None:
    """(answer text, thinking text) of one streamed item; None when the item is not text."""
    if isinstance(item, str):
        return item, ""
    choices = item.get("choices") if isinstance(item, dict) else getattr(item, "choices", None)
    if isinstance(choices, list) and (isinstance(item, dict) or hasattr(item, "object")):
        text, thinking = [], []
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else getattr(choice, "delta", None)
            if delta is None:
                continue
            get = delta.get if isinstance(delta, dict) else lambda k, d=delta: getattr(d, k, None)
            if isinstance(get("content"), str):
                text.append(get("content"))
            reasoning = get("reasoning_content")
            if reasoning is None and not isinstance(delta, dict):
                reasoning = (getattr(delta, "model_extra", None) or {}).get("reasoning_content")
            if isinstance(reasoning, str):
                thinking.append(reasoning)
        return "".join(text), "".join(thinking)
    content = getattr(item, "content", None)
    if isinstance(content, str):  # LangChain AIMessageChunk and similar
        return content, ""
    return None


class _Collector:
    """Writes text to the run's queues as it comes; remembers what the result will be."""

    def __init__(self) -> None:
        self.answer = answer_queue()
        self.think = think_queue()
        self.text: list[str] = []
        self.items: list[Any] = []
        self.all_text = True

    def add(self, item: Any) -> None:
        token = current_token()
        if token is not None:
            token.raise_if_cancelled()
        pieces = _pieces(item)
        self.items.append(item)
        if pieces is None:
            self.all_text = False
            return
        text, thinking = pieces
        if thinking:
            self.think.enqueue(thinking)
        if text:
            self.answer.enqueue(text)
            self.text.append(text)

    def result(self) -> Any:
        """The joined text; the raw items when some were not text."""
        return "".join(self.text) if self.all_text else self.items


def _close_on_cancel(stream: Any) -> Any:
    """Close ``stream`` (e.g. an openai Stream's HTTP response) from the cancelling thread."""
    token = current_token()
    close = getattr(stream, "close", None)
    if token is None or close is None or inspect.isgenerator(stream):
        return lambda: None  # a generator cannot be closed from another thread while it runs

    def quietly() -> None:
        try:
            close()
        except Exception:
            pass

    return token.on_cancel(quietly)


def _consume_sync(stream: Iterator[Any]) -> Any:
    out = _Collector()
    unregister = _close_on_cancel(stream)
    try:
        for item in stream:
            out.add(item)
    except RunCancelled:
        raise
    except Exception:
        token = current_token()
        if token is not None and token.cancelled:  # the stream broke because we closed it
            raise RunCancelled(token.reason) from None
        raise
    finally:
        unregister()
        close = getattr(stream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                pass
    return out.result()


async def _consume_async(value: Any) -> Any:
    if inspect.iscoroutine(value):
        value = await value
        if not isinstance(value, AsyncIterator):
            return value  # consume() handles what the coroutine returned
    out = _Collector()
    try:
        async for item in value:
            out.add(item)
    finally:
        aclose = getattr(value, "aclose", None) or getattr(value, "close", None)
        if aclose is not None:
            try:
                closing = aclose()
                if inspect.isawaitable(closing):
                    await closing
            except Exception:
                pass
    return out.result()


def consume(value: Any) -> Any:
    """Stream ``value`` into the current run's queues if it is a stream; return the run's result."""
    if not is_stream(value):
        return value
    if isinstance(value, Iterator):
        return _consume_sync(value)
    awaited = inspect.iscoroutine(value)
    result = asyncio.run(_consume_async(value))  # a pool worker has no event loop of its own
    return consume(result) if awaited and is_stream(result) else result
