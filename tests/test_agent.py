"""FunctionCallAgent end to end: scripted model over HTTP, real tools, real threads, real trace."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.runtime import cancel
from lazystream_widget.runtime.agent import FunctionCallAgent, MaxTurnsExceeded
from lazystream_widget.runtime.chat import OnlineChatModule
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import session
from lazystream_widget.testing import Reply, ScriptedServer, ToolCall, weather_responder
from lazystream_widget.tools import fc_register

SEED_QUERY = "What's the weather like today in celsius in Tokyo and Paris."
SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."
TOOLS = ["get_current_weather", "get_n_day_weather_forecast"]


@pytest.fixture(scope="module", autouse=True)
def seed_tools() -> Any:
    """The seed's two tools, registered by importing the seed's example code (as a user would run it)."""
    import lazystream_widget.demo

    return lazystream_widget.demo


def llm_for(server: ScriptedServer, **kwargs: Any) -> OnlineChatModule:
    kwargs.setdefault("stream", True)
    return OnlineChatModule(base_url=server.base_url, model="scripted", **kwargs)


def run_seed_loop(agent: FunctionCallAgent, query: str) -> tuple[list[str], Any]:
    """Submit the agent to our pool and read the answer queue with the seed's loop; return (streamed, result)."""
    streamed: list[str] = []
    with lazyllm.ThreadPoolExecutor(1) as executor:
        future = executor.submit(agent, query)
        while True:
            if value := lazyllm.FileSystemQueue().dequeue():
                streamed.extend(value)
            elif future.done():
                break
    return streamed, future.result()


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m.get("role") == "tool"]


@contextlib.contextmanager
def cancel_token() -> Iterator[cancel.CancelToken]:
    token = cancel.CancelToken()
    reset = cancel.set_token(token)
    try:
        yield token
    finally:
        cancel._token.reset(reset)


# --------------------------------------------------------------------------- the seed's agent


def test_the_seed_weather_agent_end_to_end(scripted_server_factory, read_trace, spans) -> None:
    server = scripted_server_factory(responder=weather_responder)
    agent = FunctionCallAgent(llm_for(server, return_trace=True), TOOLS, return_trace=True)
    with session():
        streamed, result = run_seed_loop(agent, SEED_QUERY)
        entries = read_trace()
    assert result == SEED_ANSWER
    assert "".join(streamed) == SEED_ANSWER and len(streamed) > 10  # streamed in deltas, nothing else
    # what the model was given
    first, second = server.requests
    assert [t["function"]["name"] for t in first["tools"]] == TOOLS  # only our tools: no built-in shell or files
    results = tool_messages(second)
    assert [json.loads(m["content"])["location"] for m in results] == ["Tokyo", "Paris"]
    assert [m["tool_call_id"] for m in results] == [c["id"] for c in second["messages"][1]["tool_calls"]]
    # the trace tree
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    tree = spans(entries)
    assert all(s["start"] and s["end"] and s["end"]["status"] == "ok" for s in tree.values())
    starts = [s["start"] for s in tree.values()]
    (agent_span,) = [s for s in starts if s["kind"] == "agent"]
    llm_spans = [s for s in starts if s["kind"] == "llm"]
    tool_spans = [s for s in starts if s["kind"] == "tool"]
    assert agent_span["parent"] is None and agent_span["input"] == SEED_QUERY
    assert tree[agent_span["span"]]["end"]["output"] == SEED_ANSWER
    assert len(llm_spans) == 2 and all(s["parent"] == agent_span["span"] for s in llm_spans)
    assert len(tool_spans) == 2 and all(s["parent"] == agent_span["span"] for s in tool_spans)  # siblings
    assert [s["name"] for s in tool_spans] == ["get_current_weather"] * 2
    assert [s["input"] for s in tool_spans] == [{"location": "Tokyo, Japan", "unit": "celsius"},
                                                {"location": "Paris, France", "unit": "celsius"}]
    assert all(s["attrs"]["call_id"] for s in tool_spans)
    llm_ends = [tree[s["span"]]["end"] for s in llm_spans]
    assert llm_ends[0]["attrs"]["tool_calls"] == ["get_current_weather"] * 2
    assert llm_ends[1]["output"]["content"] == SEED_ANSWER
    # both tools were started before either result was awaited: their starts come before the first tool end
    first_tool_end = min(tree[s["span"]]["end"]["seq"] for s in tool_spans)
    assert all(s["seq"] < first_tool_end for s in tool_spans)


def test_tools_run_in_parallel(scripted_server_factory) -> None:
    barrier = threading.Barrier(2, timeout=5)

    @fc_register("tool", name="meet_in_parallel")
    def meet(who: str) -> str:
        """
        Wait for the other call.

        Args:
            who (str): a name.
        """
        barrier.wait()  # only returns if both calls run at the same time
        return f"met {who}"

    calls = [ToolCall("meet_in_parallel", {"who": "a"}), ToolCall("meet_in_parallel", {"who": "b"})]
    server = scripted_server_factory([Reply(tool_calls=calls), "both met"])
    with session():
        assert FunctionCallAgent(llm_for(server), ["meet_in_parallel"])("go") == "both met"
    assert [m["content"] for m in tool_messages(server.requests[1])] == ["met a", "met b"]


def test_an_agent_without_return_trace_writes_no_trace(scripted_server_factory) -> None:
    server = scripted_server_factory(responder=weather_responder)
    with session():
        assert FunctionCallAgent(llm_for(server), TOOLS)(SEED_QUERY) == SEED_ANSWER
        assert FileSystemQueue("lazy_trace").size() == 0


# --------------------------------------------------------------------------- what goes wrong becomes a tool message


def test_a_raising_tool_gives_the_model_a_clean_one_line_error(scripted_server_factory, read_trace, spans) -> None:
    @fc_register("tool", name="explode")
    def explode(x: int) -> str:
        """
        Always fails.

        Args:
            x (int): anything.
        """
        raise ValueError(f"\x1b[31mbad value {x}\x1b[0m\nwith a second line")

    server = scripted_server_factory([Reply(tool_calls=[ToolCall("explode", {"x": 3})]), "Sorry, the tool failed."])
    agent = FunctionCallAgent(llm_for(server, return_trace=True), ["explode"], return_trace=True)
    with session():
        streamed, result = run_seed_loop(agent, "try it")
        tree = spans(read_trace())
    assert result == "Sorry, the tool failed." and "".join(streamed) == result
    (message,) = tool_messages(server.requests[1])
    assert message["content"] == "Error: ValueError: bad value 3"
    assert message["name"] == "explode"
    (tool,) = [s for s in tree.values() if s["start"]["kind"] == "tool"]
    assert tool["end"]["status"] == "error"
    assert tool["end"]["error"]["message"] == "bad value 3"
    assert "Traceback (most recent call last)" in tool["end"]["error"]["detail"]
    assert "\x1b" not in json.dumps(tool["end"])
    agent_end = next(s["end"] for s in tree.values() if s["start"]["kind"] == "agent")
    assert agent_end["status"] == "ok"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (ToolCall("get_current_weather", '{"location": "Tok'),
         "Error: the arguments of get_current_weather are not valid JSON"),
        (ToolCall("get_current_weather", "[1, 2]"),
         "Error: get_current_weather: arguments must be a JSON object, got list"),
        (ToolCall("get_current_weather", {"location": 5}),
         "Error: get_current_weather: argument 'location' must be a string, got 5"),
        (ToolCall("get_current_weather", {"location": "Tokyo", "unit": "kelvin"}),
         "Error: get_current_weather: argument 'unit' must be one of ['fahrenheit', 'celsius']"),
        (ToolCall("get_current_weather", {"unit": "celsius"}),
         "Error: get_current_weather: missing required argument 'location'"),
        (ToolCall("launch_rockets", {}),
         "Error: unknown tool 'launch_rockets'; the tools available are: get_current_weather, "
         "get_n_day_weather_forecast"),
    ],
    ids=["malformed-json", "not-an-object", "wrong-type", "not-in-enum", "missing", "unknown-tool"],
)
def test_bad_calls_are_fed_back_and_the_run_completes(scripted_server_factory, read_trace, spans, call: ToolCall,
                                                      expected: str) -> None:
    good = ToolCall("get_current_weather", {"location": "Paris"})
    server = scripted_server_factory([Reply(tool_calls=[call, good]), "I did what I could."])
    agent = FunctionCallAgent(llm_for(server), TOOLS, return_trace=True)
    with session():
        assert agent(SEED_QUERY) == "I did what I could."
        tree = spans(read_trace())
    bad_message, good_message = tool_messages(server.requests[1])
    assert bad_message["content"].startswith(expected), bad_message["content"]
    assert "\n" not in bad_message["content"]
    assert json.loads(good_message["content"])["temperature"] == "22"  # the other call still ran
    tools = [s for s in tree.values() if s["start"]["kind"] == "tool"]
    assert [t["end"]["status"] for t in tools] == ["error", "ok"]


def test_max_turns_ends_the_run_with_a_clear_error(scripted_server_factory, read_trace) -> None:
    server = scripted_server_factory(responder=lambda request: Reply(
        tool_calls=[ToolCall("get_current_weather", {"location": "Tokyo"})]))
    agent = FunctionCallAgent(llm_for(server), TOOLS, max_turns=3, return_trace=True)
    with session():
        with pytest.raises(MaxTurnsExceeded, match=r"made 3 model turns without a final answer; raise max_turns"):
            agent("loop forever")
        end = read_trace()[-1]
    assert len(server.requests) == 3
    assert end["kind"] == "agent" and end["status"] == "error" and end["error"]["type"] == "MaxTurnsExceeded"
    with pytest.raises(ValueError, match="max_turns"):
        FunctionCallAgent(llm_for(server), TOOLS, max_turns=0)


def test_a_hanging_tool_is_abandoned_and_the_run_goes_on(scripted_server_factory) -> None:
    release = threading.Event()
    started = threading.Event()

    @fc_register("tool", name="hang_for_test", timeout=0.5)
    def hang(seconds: int) -> str:
        """
        Takes far too long.

        Args:
            seconds (int): how long.
        """
        started.set()
        release.wait(seconds)
        return "finally"

    calls = [ToolCall("hang_for_test", {"seconds": 30}), ToolCall("get_current_weather", {"location": "Tokyo"})]
    server = scripted_server_factory([Reply(tool_calls=calls), "Tokyo is 10 degrees; the other lookup timed out."])
    agent = FunctionCallAgent(llm_for(server), ["hang_for_test", *TOOLS])
    try:
        t0 = time.monotonic()
        with session():
            streamed, result = run_seed_loop(agent, "go")  # includes the executor's exit
        elapsed = time.monotonic() - t0
        assert started.is_set() and not release.is_set()
        assert result == "Tokyo is 10 degrees; the other lookup timed out."
        assert elapsed < 5, f"the run (or the executor's exit) waited {elapsed:.1f} s for the abandoned tool"
        hung, weather = tool_messages(server.requests[1])
        assert hung["content"] == "Error: hang_for_test timed out after 0.5 s and was abandoned"
        assert json.loads(weather["content"])["temperature"] == "10"
    finally:
        release.set()


def test_cancel_during_a_tool_call_starts_no_new_tool(scripted_server_factory, read_trace, spans) -> None:
    release = threading.Event()
    started = threading.Semaphore(0)
    later_calls: list[str] = []

    @fc_register("tool", name="block_for_test")
    def block(n: int) -> str:
        """
        Blocks until released.

        Args:
            n (int): which call.
        """
        started.release()
        release.wait(30)
        return "released"

    @fc_register("tool", name="later_for_test")
    def later(n: int) -> str:
        """
        Must not run after a cancel.

        Args:
            n (int): anything.
        """
        later_calls.append("ran")
        return "late"

    first_turn = [ToolCall("block_for_test", {"n": 1}), ToolCall("block_for_test", {"n": 2})]
    server = scripted_server_factory([Reply(tool_calls=first_turn),
                                      Reply(tool_calls=[ToolCall("later_for_test", {"n": 1})]), "done"])
    agent = FunctionCallAgent(llm_for(server, return_trace=True), ["block_for_test", "later_for_test"],
                              return_trace=True)
    pool = lazyllm.ThreadPoolExecutor(1)
    try:
        with session(), cancel_token() as token:
            future = pool.submit(agent, "go")
            assert started.acquire(timeout=10) and started.acquire(timeout=10)  # both calls are running
            token.cancel("stop button")
            with pytest.raises(cancel.RunCancelled, match="stop button"):
                future.result(timeout=5)
            tree = spans(read_trace())
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert later_calls == [] and len(server.requests) == 1
    assert all(s["end"] is not None for s in tree.values()), "a span was left open by the cancel"
    by_kind: dict[str, list[str]] = {}
    for s in tree.values():
        by_kind.setdefault(s["start"]["kind"], []).append(s["end"]["status"])
    assert by_kind == {"agent": ["cancelled"], "llm": ["ok"], "tool": ["cancelled", "cancelled"]}


def test_the_agent_checks_its_arguments(scripted_server) -> None:
    with pytest.raises(TypeError, match="needs a chat module"):
        FunctionCallAgent("not a model", TOOLS)  # type: ignore[arg-type]
    agent = FunctionCallAgent(llm_for(scripted_server), TOOLS)
    with pytest.raises(TypeError, match="question as a str"):
        agent(["not", "a", "str"])
