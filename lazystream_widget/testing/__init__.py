"""A scripted, OpenAI-compatible model server for the demo, the tests and the benchmarks.

It speaks real HTTP (streaming SSE and plain JSON) on loopback, so the real
``openai`` client and everything built on it run unchanged against it::

    from lazystream_widget.testing import Reply, ToolCall, scripted_server

    with scripted_server(["Hello there.", Reply(tool_calls=[ToolCall("f", {"x": 1})])]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")

Trace assertions for tests and notebook cells (``assert_tool_called``, ``assert_no_errors``,
``assert_order``, ``assert_within``, ``find_spans``, ``tool_calls``) live in :mod:`.assertions`.

Importing this package is cheap: standard library only, no ``openai`` import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from .arithmetic import arithmetic_responder
from .assertions import (
    TimingBudgetWarning,
    assert_no_errors,
    assert_order,
    assert_tool_called,
    assert_within,
    find_spans,
    tool_calls,
)
from .script import HTTPError, RawEvent, Reply, ScriptItem, ToolCall, as_reply, split_tokens
from .server import EXHAUSTED_MESSAGE, MODEL_NAME, Responder, ScriptedServer, is_loopback
from .weather import echo_responder, weather_responder

__all__ = [
    "EXHAUSTED_MESSAGE",
    "MODEL_NAME",
    "HTTPError",
    "RawEvent",
    "Reply",
    "Responder",
    "ScriptItem",
    "ScriptedServer",
    "TimingBudgetWarning",
    "ToolCall",
    "arithmetic_responder",
    "as_reply",
    "assert_no_errors",
    "assert_order",
    "assert_tool_called",
    "assert_within",
    "echo_responder",
    "find_spans",
    "is_loopback",
    "scripted_server",
    "split_tokens",
    "tool_calls",
    "weather_responder",
]


@contextmanager
def scripted_server(
    script: Iterable[ScriptItem] | None = None,
    responder: Responder | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token_delay: float = 0.0,
) -> Iterator[ScriptedServer]:
    """Run a :class:`ScriptedServer` for the duration of a ``with`` block; stopped on exit."""
    server = ScriptedServer(script, responder, host=host, port=port, token_delay=token_delay)
    server.start()
    try:
        yield server
    finally:
        server.stop()
