"""OpenTelemetry producers no one here wrote, in the widget's runner: their spans become the live tree.

* the OpenInference openai instrumentor on a plain ``openai`` client call (streamed and not);
* smolagents' ToolCallingAgent with the OpenInference smolagents instrumentor.

Both talk to the scripted model server over real HTTP. The instrumentors patch their library
for the whole process, so each test un-instruments it again.
"""

from __future__ import annotations

import openai
import pytest
from openinference.instrumentation.openai import OpenAIInstrumentor
from openinference.instrumentation.smolagents import SmolagentsInstrumentor
from opentelemetry import trace

from lazystream_widget.runner import Run
from lazystream_widget.testing import Reply, ToolCall


@pytest.fixture
def openai_instrumented():
    OpenAIInstrumentor().instrument()
    try:
        yield
    finally:
        OpenAIInstrumentor().uninstrument()


@pytest.fixture
def smolagents_instrumented():
    SmolagentsInstrumentor().instrument()
    try:
        yield
    finally:
        SmolagentsInstrumentor().uninstrument()


def test_openai_stream_streams_the_answer_and_its_llm_span_shows(openai_instrumented, scripted_server_factory):
    server = scripted_server_factory(["The current weather in Tokyo is 10 degrees Celsius."], token_delay=0.002)

    def ask(question):
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        return client.chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": question}], stream=True
        )

    run = Run(ask, "What's the weather in Tokyo?").start()
    assert run.wait(30) == "The current weather in Tokyo is 10 degrees Celsius."
    assert run.text == run.result and run.tokens > 5  # streamed delta by delta from the openai Stream
    spans = run.trace
    assert [(s.kind, s.parent_id) for s in spans] == [("llm", None)], run.trace_tree()
    llm = spans[0]
    assert llm.status == "ok" and llm.ended_at is not None
    assert llm.attrs["model"] == "scripted"
    assert "What's the weather in Tokyo?" in str(llm.input)
    assert "10 degrees Celsius" in str(llm.output)


def test_a_users_span_nests_two_instrumented_calls(openai_instrumented, scripted_server_factory):
    server = scripted_server_factory(["Tokyo: 10 C.", "Paris: 22 C."])
    tracer = trace.get_tracer("my.app")

    def pipeline(question):
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        with tracer.start_as_current_span("weather pipeline", attributes={"openinference.span.kind": "CHAIN"}):
            answers = []
            for city in ("Tokyo", "Paris"):
                reply = client.chat.completions.create(
                    model="scripted", messages=[{"role": "user", "content": f"{question} {city}"}]
                )
                answers.append(reply.choices[0].message.content)
            return " ".join(answers)

    run = Run(pipeline, "Weather in").start()
    assert run.wait(30) == "Tokyo: 10 C. Paris: 22 C."
    assert run.text == "" and run.notices == []  # a plain return value is the result; nothing to stream
    (root,) = [s for s in run.trace if s.parent_id is None]
    assert (root.kind, root.name) == ("chain", "weather pipeline")
    assert [c.kind for c in root.children] == ["llm", "llm"], run.trace_tree()
    assert [c.usage and c.usage["completion_tokens"] > 0 for c in root.children] == [True, True]
    assert "Tokyo" in str(root.children[0].input) and "Paris" in str(root.children[1].input)


def test_an_instrumented_call_that_fails_shows_an_error_span(openai_instrumented, scripted_server_factory):
    from lazystream_widget.testing import HTTPError

    server = scripted_server_factory([HTTPError(400, "scripted server: \x1b[31mbad request\x1b[0m")])

    def ask(question):
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        return client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": question}])

    run = Run(ask, "hi").start()
    with pytest.raises(openai.BadRequestError):
        run.wait(30)
    (llm,) = run.trace
    assert llm.kind == "llm" and llm.status == "error"
    assert llm.error["type"] == "BadRequestError" and "\x1b" not in llm.error["message"]


def test_smolagents_tool_calling_agent(smolagents_instrumented, scripted_server_factory):
    from smolagents import OpenAIServerModel, ToolCallingAgent, tool

    @tool
    def get_current_weather(location: str, unit: str = "celsius") -> str:
        """Get the current weather in a given location.

        Args:
            location: The city and state, e.g. San Francisco, CA.
            unit: The temperature unit, celsius or fahrenheit.
        """
        return '{"location": "Tokyo", "temperature": "10", "unit": "celsius"}'

    server = scripted_server_factory([
        Reply(tool_calls=[ToolCall("get_current_weather", {"location": "Tokyo, Japan", "unit": "celsius"})]),
        Reply(tool_calls=[ToolCall("final_answer", {"answer": "It is 10 degrees Celsius in Tokyo."})]),
    ])  # fmt: skip
    model = OpenAIServerModel(model_id="scripted", api_base=server.base_url, api_key="test")
    agent = ToolCallingAgent(tools=[get_current_weather], model=model, max_steps=4, verbosity_level=0)

    run = Run(lambda q: agent.run(q), "What's the weather in Tokyo?").start()
    assert run.wait(60) == "It is 10 degrees Celsius in Tokyo."
    (root,) = [s for s in run.trace if s.parent_id is None]
    assert (root.kind, root.name) == ("agent", "ToolCallingAgent.run"), run.trace_tree()
    assert [(s.kind, s.name) for s in root.children] == [("chain", "Step 1"), ("chain", "Step 2")]
    step1, step2 = root.children
    assert [(s.kind, s.name) for s in step1.children] == [("llm", "OpenAIModel.generate"),
                                                           ("tool", "get_current_weather")]
    assert [(s.kind, s.name) for s in step2.children] == [("llm", "OpenAIModel.generate"), ("tool", "final_answer")]
    tool = step1.children[1]
    assert tool.attrs["arguments"] == {"location": "Tokyo, Japan", "unit": "celsius"}
    assert "10" in str(tool.output)
    assert step1.children[0].attrs["model"] == "scripted" and step1.children[0].usage["prompt_tokens"] > 0
    assert all(s.status == "ok" for s in run.trace)
