"""Answer text from callables that are not ours (iterators, async iterators, coroutines), and span kinds
read from the GenAI semantic conventions, in a real run with the real OpenTelemetry SDK."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace

from lazystream_widget.integrations.semconv import kind_of
from lazystream_widget.runner import Run


def test_a_generator_of_strings_streams_and_the_result_is_the_joined_text():
    def words(q):
        yield from ["Hello", ",", " world", "."]

    run = Run(words, "hi").start()
    assert run.wait(10) == "Hello, world."
    assert run.text == "Hello, world." and run.tokens == 4


def test_an_async_generator_and_a_coroutine_stream_too():
    async def agen(q):
        for w in ["one", " two", " three"]:
            await asyncio.sleep(0.01)
            yield w

    async def returns_stream(q):
        await asyncio.sleep(0)
        return agen(q)

    for fn in (agen, returns_stream):
        run = Run(fn, "go").start()
        assert run.wait(10) == "one two three" and run.text == "one two three"


def test_plain_values_are_results_and_a_failing_stream_fails_the_run():
    run = Run(lambda q: ["a", "list", "is", "a", "result"], "x").start()
    assert run.wait(10) == ["a", "list", "is", "a", "result"] and run.text == ""

    def breaks(q):
        yield "partial "
        raise ValueError("the stream broke")

    run = Run(breaks, "x").start()
    with pytest.raises(ValueError, match="the stream broke"):
        run.wait(10)
    assert run.text == "partial " and run.status == "error"


def test_genai_semantic_convention_spans_get_our_kinds_and_facts():
    tracer = trace.get_tracer("genai.app")

    def agent(q):
        with tracer.start_as_current_span("invoke_agent weather", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather"}):
            with tracer.start_as_current_span("chat gpt-x", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-x",
                "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 5}):
                pass
            with tracer.start_as_current_span("execute_tool lookup", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                "gen_ai.tool.call.arguments": '{"city": "Tokyo"}'}):
                pass
        return "done"

    run = Run(agent, "q").start()
    assert run.wait(10) == "done"
    (root,) = [s for s in run.trace if s.parent_id is None]
    assert root.kind == "agent"
    llm, tool = root.children
    assert (llm.kind, llm.attrs["model"], llm.usage) == (
        "llm", "gpt-x", {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})
    assert (tool.kind, tool.name, tool.attrs["arguments"]) == ("tool", "lookup", {"city": "Tokyo"})


@pytest.mark.parametrize(("attrs", "kind"), [
    ({"openinference.span.kind": "RETRIEVER"}, "retriever"),
    ({"openinference.span.kind": "EMBEDDING", "gen_ai.operation.name": "chat"}, "embedding"),
    ({"gen_ai.operation.name": "embeddings"}, "embedding"),
    ({"lazyllm.semantic_type": "rerank"}, "reranker"),
    ({"lazyllm.span.kind": "callable"}, "module"),
    ({"http.method": "GET"}, None),
])  # fmt: skip
def test_kind_precedence(attrs, kind):
    assert kind_of(attrs) == kind
