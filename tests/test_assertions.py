"""The trace assertion helpers, on real runs against the scripted model server.

Every helper is shown to pass on a run that satisfies it and to fail, with the trace
tree in its message, on one that does not.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from lazystream_widget import OnlineChatModule, Run, pipeline
from lazystream_widget.demo import get_current_weather, get_n_day_weather_forecast
from lazystream_widget.spans import SpanRecord
from lazystream_widget.testing import (
    HTTPError,
    Reply,
    ScriptedServer,
    TimingBudgetWarning,
    ToolCall,
    assert_no_errors,
    assert_order,
    assert_tool_called,
    assert_within,
    find_spans,
    tool_calls,
    weather_responder,
)
from lazystream_widget.tools import FunctionCallAgent

SEED_QUERY = "What's the weather like today in celsius in Tokyo and Paris."
SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."
TOKYO = {"location": "Tokyo, Japan", "unit": "celsius"}
PARIS = {"location": "Paris, France", "unit": "celsius"}
# what format_tree prints for the weather run: the agent at the top, its calls indented below
TREE_ROOT = "- agent FunctionCallAgent · ok"
TREE_TOOL = "\n  - tool get_current_weather · ok"


def lookup_city(city: str) -> str:
    """
    Look a city up in the atlas.

    Args:
        city (str): The city's name.
    """
    raise LookupError(f"{city} is not in the atlas")


def _agent(server: ScriptedServer, tools: list | None = None) -> FunctionCallAgent:
    llm = OnlineChatModule(stream=True, base_url=server.base_url, model="scripted")
    return FunctionCallAgent(llm, tools if tools is not None else [get_current_weather, get_n_day_weather_forecast])


@pytest.fixture(scope="module")
def weather_server() -> Iterator[ScriptedServer]:
    """Stateless (answers from each request), so one server serves the whole module."""
    with ScriptedServer(responder=weather_responder) as server:
        yield server


@pytest.fixture
def weather_run(weather_server: ScriptedServer) -> Run:
    """The seed's query, answered: agent, two model turns, two tool calls, no error."""
    run = Run(_agent(weather_server), SEED_QUERY).start()
    assert run.wait(30) == SEED_ANSWER
    return run


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


def _failure(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert "trace:\n" in message, message
    return message


# ---- find_spans / tool_calls ---------------------------------------------------------


def test_find_spans_filters_by_kind_name_and_status(weather_run: Run) -> None:
    assert [s.kind for s in find_spans(weather_run)] == ["agent", "llm", "tool", "tool", "llm"]
    assert len(find_spans(weather_run, kind="llm")) == 2
    assert len(find_spans(weather_run, kind="tool", name="get_current_weather", status="ok")) == 2
    assert find_spans(weather_run, name="get_n_day_weather_forecast") == []
    assert find_spans(weather_run, status="error") == []
    (agent,) = find_spans(weather_run, kind="agent")
    assert agent.name == "FunctionCallAgent" and agent.output == SEED_ANSWER


def test_find_spans_takes_spans_entries_or_a_root(weather_run: Run) -> None:
    every = find_spans(weather_run)
    assert [s.id for s in find_spans(weather_run.trace)] == [s.id for s in every]
    assert [s.id for s in find_spans(weather_run.entries)] == [s.id for s in every]
    root = find_spans(weather_run, kind="agent")
    assert [s.id for s in find_spans(root)] == [s.id for s in every]  # a root brings its subtree
    assert all(isinstance(s, SpanRecord) for s in every)


def test_find_spans_refuses_unknown_filters_and_inputs(weather_run: Run) -> None:
    with pytest.raises(ValueError, match="unknown span kind 'tools'"):
        find_spans(weather_run, kind="tools")
    with pytest.raises(ValueError, match="unknown span status 'failed'"):
        find_spans(weather_run, status="failed")
    with pytest.raises(TypeError, match="expected a Run"):
        find_spans("not a run")


def test_tool_calls_lists_names_and_arguments_in_start_order(weather_run: Run) -> None:
    assert tool_calls(weather_run) == [("get_current_weather", TOKYO), ("get_current_weather", PARIS)]


# ---- assert_tool_called --------------------------------------------------------------


def test_assert_tool_called_passes_and_returns_the_span(weather_run: Run) -> None:
    span = assert_tool_called(weather_run, "get_current_weather", location="Paris, France")
    assert span.arguments == PARIS and span.status == "ok"
    assert assert_tool_called(weather_run, "get_current_weather").arguments == TOKYO
    # a callable expected value is a predicate on the argument
    by_predicate = assert_tool_called(weather_run, "get_current_weather", location=lambda v: v.startswith("Paris"))
    assert by_predicate.id == span.id


def test_assert_tool_called_fails_on_other_arguments(weather_run: Run) -> None:
    with pytest.raises(AssertionError) as excinfo:
        assert_tool_called(weather_run, "get_current_weather", location="Beijing, China")
    message = _failure(excinfo)
    assert "expected a call of tool get_current_weather(location='Beijing, China')" in message
    assert 'get_current_weather({"location": "Tokyo, Japan", "unit": "celsius"}) · ok' in message
    assert TREE_ROOT in message and TREE_TOOL in message


def test_assert_tool_called_fails_when_the_tool_was_never_called(weather_run: Run) -> None:
    with pytest.raises(AssertionError) as excinfo:
        assert_tool_called(weather_run, "get_n_day_weather_forecast", num_days=3)
    message = _failure(excinfo)
    assert "get_n_day_weather_forecast(num_days=3)" in message
    assert TREE_ROOT in message and TREE_TOOL in message


def test_assert_tool_called_fails_when_no_tool_ran(server: ScriptedServer) -> None:
    server.push("Hello! No tools today.")
    run = Run(_agent(server), "hi").start()
    with pytest.raises(AssertionError) as excinfo:
        assert_tool_called(run, "get_current_weather")
    message = _failure(excinfo)
    assert "no tool was called" in message
    assert "- agent FunctionCallAgent · ok" in message and "\n  - llm scripted · ok" in message


# ---- assert_no_errors ----------------------------------------------------------------


def test_assert_no_errors_passes_on_a_clean_run(weather_run: Run) -> None:
    assert_no_errors(weather_run)
    assert_no_errors(weather_run.trace)


def test_assert_no_errors_catches_a_tool_error_the_agent_recovered_from(server: ScriptedServer) -> None:
    server.push(
        Reply(tool_calls=[ToolCall("lookup_city", {"city": "Atlantis"})]),
        "I could not find Atlantis in the atlas.",
    )
    run = Run(_agent(server, [lookup_city]), "Where is Atlantis?").start()
    assert run.wait(30) == "I could not find Atlantis in the atlas."  # the run itself ended well
    with pytest.raises(AssertionError) as excinfo:
        assert_no_errors(run)
    message = _failure(excinfo)
    assert "1 span(s) ended in error" in message
    assert "LookupError: Atlantis is not in the atlas" in message
    assert "run status: done" in message
    assert "\n  - tool lookup_city · error" in message


def test_assert_no_errors_catches_a_failed_run(server: ScriptedServer) -> None:
    server.push(HTTPError(400, "the scripted model refuses this request"))
    run = Run(_agent(server), "hi").start()
    with pytest.raises(AssertionError) as excinfo:
        assert_no_errors(run)  # waits for the run, then reports its failure instead of raising it
    message = _failure(excinfo)
    assert "the run ended as error: ModelError" in message
    assert "the scripted model refuses this request" in message
    assert "- agent FunctionCallAgent · error" in message and "\n  - llm scripted · error" in message


def test_helpers_wait_for_a_run_still_going() -> None:
    with ScriptedServer(responder=weather_responder, token_delay=0.005) as slow:
        run = Run(_agent(slow), SEED_QUERY).start()
        assert not run.done()
        assert_no_errors(run)
        assert run.done() and run.result == SEED_ANSWER


# ---- assert_order --------------------------------------------------------------------


def test_assert_order_passes_for_spans_in_start_order(weather_run: Run) -> None:
    matched = assert_order(weather_run, "llm:*", "get_current_weather", "llm:*")
    assert [s.kind for s in matched] == ["llm", "tool", "llm"]
    assert_order(weather_run, "FunctionCallAgent", "scripted", "tool:get_current_*")
    assert_order(weather_run, "agent:*")


def test_assert_order_fails_when_out_of_order(weather_run: Run) -> None:
    with pytest.raises(AssertionError) as excinfo:
        assert_order(weather_run, "get_current_weather", "FunctionCallAgent")
    message = _failure(excinfo)
    assert "no span matching 'FunctionCallAgent' after tool 'get_current_weather'" in message
    assert "#1 agent FunctionCallAgent" in message
    assert TREE_ROOT in message and TREE_TOOL in message


def test_assert_order_fails_when_a_span_is_missing(weather_run: Run) -> None:
    with pytest.raises(AssertionError) as excinfo:
        assert_order(weather_run, "llm:*", "get_n_day_weather_forecast")
    assert "no span matching 'get_n_day_weather_forecast'" in _failure(excinfo)
    with pytest.raises(ValueError):
        assert_order(weather_run)


def test_assert_order_on_a_pipeline(server: ScriptedServer) -> None:
    def tidy(text: str) -> str:
        return text.strip()

    def shout(text: str) -> str:
        return text.upper()

    server.push("quiet words")
    llm = OnlineChatModule(stream=True, base_url=server.base_url, model="scripted")
    run = Run(pipeline(tidy, llm, shout), "  hello  ").start()
    assert run.wait(30) == "QUIET WORDS"
    assert_order(run, "flow:*", "tidy", "llm:scripted", "shout")
    with pytest.raises(AssertionError) as excinfo:
        assert_order(run, "shout", "tidy")
    message = _failure(excinfo)
    assert "- flow pipeline · ok" in message and "\n  - module tidy · ok" in message


# ---- assert_within -------------------------------------------------------------------


def test_assert_within_passes_under_budget(weather_run: Run) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        elapsed = assert_within(weather_run, 600)
    assert 0 < elapsed < 600
    assert 0 < assert_within(weather_run.trace, 600, soft=False) < 600


def test_assert_within_warns_when_soft(weather_run: Run) -> None:
    with pytest.warns(TimingBudgetWarning) as caught:
        elapsed = assert_within(weather_run, 1e-6)
    assert elapsed > 1e-6
    message = str(caught[0].message)
    assert "over its budget of 1e-06 s" in message
    assert TREE_ROOT in message and TREE_TOOL in message


def test_assert_within_fails_when_hard(weather_run: Run) -> None:
    with pytest.raises(AssertionError) as excinfo:
        assert_within(weather_run, 1e-6, soft=False)
    message = _failure(excinfo)
    assert "over its budget of 1e-06 s" in message
    assert TREE_ROOT in message and TREE_TOOL in message
    with pytest.raises(ValueError):
        assert_within(weather_run, 0)
