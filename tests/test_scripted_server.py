"""The scripted model server, exercised through the real ``openai`` client over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lazystream_widget.testing import (
    HTTPError,
    Reply,
    ScriptedServer,
    ToolCall,
    as_reply,
    echo_responder,
    split_tokens,
    weather_responder,
)
from lazystream_widget.testing import scripted_server as scripted_server_cm
from lazystream_widget.testing.pytest_plugin import scripted_server, scripted_server_factory  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
USER = [{"role": "user", "content": "hello there"}]
SEED_QUERY = "What's the weather like today in celsius in Tokyo and Paris."
SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."


def client(server: ScriptedServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0, **kwargs)


def stream(server: ScriptedServer, messages: list[dict[str, Any]] = USER, **kwargs: Any) -> Any:
    return client(server, timeout=kwargs.pop("timeout", 10.0)).chat.completions.create(
        model="any-model", messages=messages, stream=True, **kwargs
    )


def texts(chunks: list[Any]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


# --------------------------------------------------------------------------- script data


def test_split_tokens_matches_the_seed_transcript() -> None:
    assert split_tokens(SEED_ANSWER)[:10] == [
        "The", " current", " weather", " in", " Tokyo", " is", " ", "10", " degrees", " Celsius",
    ]  # fmt: skip
    assert split_tokens("Hi, you!\n\nOk") == ["Hi", ",", " you", "!", "\n\n", "Ok"]


@given(st.text())
def test_split_tokens_always_joins_back(text: str) -> None:
    assert "".join(split_tokens(text)) == text


def test_reply_from_plain_data() -> None:
    assert Reply.from_dict("Hello.") == Reply(text="Hello.")
    reply = Reply.from_dict({"text": "x", "tool_calls": [{"name": "f", "arguments": {"a": 1}}], "delay": 0.1})
    assert reply.tool_calls == (ToolCall("f", {"a": 1}),)
    assert as_reply(HTTPError(429)).status == 429
    with pytest.raises(ValueError, match="unknown Reply field"):
        Reply.from_dict({"txet": "typo"})
    with pytest.raises(ValueError):
        Reply(status=200)
    with pytest.raises(AttributeError):
        reply.text = "changed"  # type: ignore[misc]


# --------------------------------------------------------------------------- streaming


def test_text_streams_incrementally(scripted_server: ScriptedServer) -> None:  # noqa: F811
    text = "one two three four five six seven eight nine ten"
    scripted_server.push(Reply(text=text, delay=0.05))
    start = time.monotonic()
    arrivals, deltas = [], []
    for chunk in stream(scripted_server):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - start)
            deltas.append(chunk.choices[0].delta.content)
    assert "".join(deltas) == text
    assert deltas[:2] == ["one", " two"]
    # ten deltas 50 ms apart: the first must arrive long before the last (not buffered to the end)
    assert arrivals[-1] - arrivals[0] > 0.3
    assert arrivals[0] < arrivals[-1] / 2


def test_chunk_shape_and_request_recording(scripted_server: ScriptedServer) -> None:  # noqa: F811
    chunks = list(stream(scripted_server))
    assert "".join(texts(chunks)) == "You said: hello there"  # the fixture's echo responder
    first, last = chunks[0], chunks[-1]
    assert first.object == "chat.completion.chunk" and first.id.startswith("chatcmpl-")
    assert first.model == "any-model" and first.choices[0].delta.role == "assistant"
    assert last.choices[0].finish_reason == "stop"
    assert scripted_server.requests[0]["messages"] == USER and scripted_server.requests[0]["stream"] is True
    assert scripted_server.wait_for("done")


def test_reasoning_streams_before_content(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply(reasoning="Hmm, let me see.", text="Answer."))
    kinds = []
    for chunk in stream(scripted_server):
        delta = chunk.choices[0].delta
        if getattr(delta, "reasoning_content", None):
            kinds.append(("r", delta.reasoning_content))
        elif delta.content:
            kinds.append(("c", delta.content))
    assert "".join(t for k, t in kinds if k == "r") == "Hmm, let me see."
    assert "".join(t for k, t in kinds if k == "c") == "Answer."
    assert [k for k, _ in kinds] == ["r"] * 6 + ["c"] * 2


def reassemble(chunks: list[Any]) -> tuple[dict[int, dict[str, Any]], dict[int, int]]:
    """Accumulate streamed tool calls as a client does; also count the fragments per call."""
    calls: dict[int, dict[str, Any]] = {}
    fragments: dict[int, int] = {}
    for chunk in chunks:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                assert call["id"] is None, "id only in the first fragment"
                call["id"], call["name"] = tc.id, tc.function.name
            if tc.function and tc.function.arguments:
                call["arguments"] += tc.function.arguments
                fragments[tc.index] = fragments.get(tc.index, 0) + 1
    return calls, fragments


def test_parallel_tool_calls_stream_in_fragments(scripted_server: ScriptedServer) -> None:  # noqa: F811
    args0 = {"location": "Tokyo, Japan", "unit": "celsius"}
    args1 = {"location": "Paris, France", "unit": "celsius"}
    scripted_server.push(
        Reply(text="Let me check.", tool_calls=[ToolCall("get_current_weather", args0, id="call_given"),
                                                ToolCall("get_current_weather", args1)])
    )  # fmt: skip
    chunks = list(stream(scripted_server))
    calls, fragments = reassemble(chunks)
    assert "".join(texts(chunks)) == "Let me check."
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [args0, args1]
    assert calls[0]["id"] == "call_given" and calls[1]["id"].startswith("call_")
    assert all(n >= 3 for n in fragments.values()), fragments
    # text comes before any tool call; the stream ends with finish_reason "tool_calls"
    first_tool = next(i for i, c in enumerate(chunks) if c.choices[0].delta.tool_calls)
    assert not texts(chunks[first_tool:])
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_string_arguments_are_sent_verbatim(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply(tool_calls=[ToolCall("f", '{"a": 1,, oops')]))
    calls, _ = reassemble(list(stream(scripted_server)))
    assert calls[0]["arguments"] == '{"a": 1,, oops'


def test_usage_chunk_only_when_asked(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push("a b c", "a b c", Reply(text="a b c", usage=False))
    chunks = list(stream(scripted_server, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage.completion_tokens == 3 and usage.prompt_tokens == 2 and usage.total_tokens == 5
    assert all(c.usage is None for c in stream(scripted_server))
    assert all(c.choices for c in stream(scripted_server, stream_options={"include_usage": True}))


def test_non_streamed_completion(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply(reasoning="thinking", text="Hi there.", tool_calls=[ToolCall("f", {"x": [1, 2]})]))
    response = client(scripted_server).chat.completions.create(model="m", messages=USER)
    assert response.object == "chat.completion"
    message = response.choices[0].message
    assert message.content == "Hi there." and message.reasoning_content == "thinking"
    assert json.loads(message.tool_calls[0].function.arguments) == {"x": [1, 2]}
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens > 0


def test_empty_reply_and_finish_reason_override(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply(empty=True), Reply(text="cut", finish_reason="length"))
    chunks = list(stream(scripted_server))
    assert texts(chunks) == [] and [c.choices[0].finish_reason for c in chunks] == ["stop"]
    assert list(stream(scripted_server))[-1].choices[0].finish_reason == "length"


def test_async_client_streams_too(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push("async works")

    async def main() -> str:
        aclient = openai.AsyncOpenAI(base_url=scripted_server.base_url, api_key="test", max_retries=0)
        out = []
        async for chunk in await aclient.chat.completions.create(model="m", messages=USER, stream=True):
            out.append(chunk.choices[0].delta.content or "")
        await aclient.close()
        return "".join(out)

    assert asyncio.run(main()) == "async works"


# --------------------------------------------------------------------------- faults


def test_rate_limit_with_retry_after(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(HTTPError(429, headers={"Retry-After": "0"}))
    with pytest.raises(openai.RateLimitError) as info:
        stream(scripted_server)
    assert info.value.response.headers["retry-after"] == "0"
    assert info.value.body["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(scripted_server: ScriptedServer, status: int) -> None:  # noqa: F811
    scripted_server.push(Reply(status=status, message="boom"))
    with pytest.raises(openai.InternalServerError, match="boom") as info:
        client(scripted_server).chat.completions.create(model="m", messages=USER)
    assert info.value.status_code == status


def test_drop_mid_stream_raises_on_the_client(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply(text="one two three four five", drop_after=2))
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream(scripted_server):
            received.append(chunk.choices[0].delta.content)
    assert received == ["one", " two"]
    assert scripted_server.wait_for("drop")


def test_stall_then_client_timeout(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply(text="one two three", stall_after=1))
    received = []
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        for chunk in stream(scripted_server, timeout=0.5):
            received.append(chunk.choices[0].delta.content)
    assert received == ["one"] and time.monotonic() - start < 5
    assert scripted_server.wait_for("disconnect"), "the client's hang-up during a stall is noticed"


def test_stop_is_prompt_with_a_stalled_stream(scripted_server_factory: Any) -> None:  # noqa: F811
    server = scripted_server_factory([Reply(text="one two", stall_after=1)])
    chunks = iter(stream(server, timeout=30))
    assert next(chunks).choices[0].delta.content == "one"
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2
    with pytest.raises(openai.APIConnectionError):
        list(chunks)


def test_invalid_json_chunk_raises(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply(text="one two", invalid_json_after=1))
    with pytest.raises(ValueError):  # json.JSONDecodeError from the client's SSE parser
        list(stream(scripted_server))


def test_client_disconnect_is_counted_quietly(
    scripted_server: ScriptedServer,  # noqa: F811
    capfd: pytest.CaptureFixture[str],
) -> None:
    scripted_server.push(Reply(text="word " * 100, delay=0.02), "after")
    response = stream(scripted_server)
    assert next(iter(response)).choices[0].delta.content == "word"
    response.close()
    assert scripted_server.wait_for("disconnect", timeout=5)
    assert scripted_server.disconnects == 1
    assert "".join(texts(list(stream(scripted_server)))) == "after"  # the server is fine afterwards
    assert capfd.readouterr().err == ""


def test_script_exhaustion_fails_loudly(scripted_server_factory: Any) -> None:  # noqa: F811
    server = scripted_server_factory(["only one"])
    assert "".join(texts(list(stream(server)))) == "only one"
    with pytest.raises(openai.InternalServerError, match="script exhausted and no responder"):
        stream(server)
    assert server.wait_for("exhausted")


def test_broken_responder_is_a_500(scripted_server: ScriptedServer) -> None:  # noqa: F811
    def broken(request: dict[str, Any]) -> Reply:
        raise RuntimeError("bad responder")

    scripted_server.set_responder(broken)
    with pytest.raises(openai.InternalServerError, match="bad responder"):
        stream(scripted_server)


def test_stamps_carry_the_send_time(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.push(Reply.timed(5, 0.01))
    before = time.time_ns()
    stamps = []
    for text in texts(list(stream(scripted_server))):
        index, sent_ns = text.strip().split("@")
        stamps.append((int(index), int(sent_ns)))
    assert [i for i, _ in stamps] == [0, 1, 2, 3, 4]
    sent = [ns for _, ns in stamps]
    assert before <= sent[0] and sent == sorted(sent) and sent[-1] - sent[0] >= 30_000_000  # 4 delays of 10 ms


# --------------------------------------------------------------------------- HTTP surface


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_health_models_and_unknown_path(scripted_server: ScriptedServer) -> None:  # noqa: F811
    assert get(scripted_server.url + "/health") == (200, b"ok")
    assert [m.id for m in client(scripted_server).models.list()] == ["scripted"]
    status, body = get(scripted_server.base_url + "/nope")
    assert status == 404 and "no route" in json.loads(body)["error"]["message"]


def test_context_manager_and_non_loopback_refused() -> None:
    with scripted_server_cm(["hi"]) as server:
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        assert "".join(texts(list(stream(server)))) == "hi"
    with pytest.raises(ValueError, match="non-loopback"):
        ScriptedServer(host="0.0.0.0")


def cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-m", "lazystream_widget.testing", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["from the script"]))
    proc = cli("--script", str(script), "--token-delay", "0.001")
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:") and line.rstrip().endswith("/v1")
        base_url = line.split()[1]
        api = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=10)
        first = api.chat.completions.create(model="m", messages=USER, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in first) == "from the script"
        second = api.chat.completions.create(model="m", messages=USER)  # then the weather responder
        assert second.choices[0].message.content.startswith("Hello!")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out == "" and err == ""


def test_cli_refuses_non_loopback_host() -> None:
    proc = cli("--host", "0.0.0.0")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and out == ""
    assert "refusing to listen on non-loopback host '0.0.0.0'" in err


# --------------------------------------------------------------------------- responders

SEED_TOOLS = [
    {"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_n_day_weather_forecast", "parameters": {"type": "object"}}},
]


def seed_get_current_weather(location: str, unit: str = "fahrenheit") -> str:
    """The seed's tool, verbatim in behaviour."""
    if "tokyo" in location.lower():
        return json.dumps({"location": "Tokyo", "temperature": "10", "unit": "celsius"})
    if "san francisco" in location.lower():
        return json.dumps({"location": "San Francisco", "temperature": "72", "unit": "fahrenheit"})
    if "paris" in location.lower():
        return json.dumps({"location": "Paris", "temperature": "22", "unit": "celsius"})
    return json.dumps({"location": location, "temperature": "unknown"})


def test_weather_two_turn_conversation_gives_the_seed_answer(scripted_server: ScriptedServer) -> None:  # noqa: F811
    scripted_server.set_responder(weather_responder)
    messages: list[dict[str, Any]] = [{"role": "user", "content": SEED_QUERY}]
    chunks = list(stream(scripted_server, messages, tools=SEED_TOOLS))
    calls, _ = reassemble(chunks)
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [
        {"location": "Tokyo, Japan", "unit": "celsius"},
        {"location": "Paris, France", "unit": "celsius"},
    ]
    assert {c["name"] for c in calls.values()} == {"get_current_weather"}
    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls.values()
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": c["id"], "content": seed_get_current_weather(**json.loads(c["arguments"]))}
        for c in calls.values()
    ]
    final = texts(list(stream(scripted_server, [*messages, assistant, *results], tools=SEED_TOOLS)))
    assert "".join(final) == SEED_ANSWER
    assert final[:3] == ["The", " current", " weather"]  # streamed word by word


def call(calls_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": calls_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def test_weather_responder_variants() -> None:
    def ask(text: str, tools: list[dict[str, Any]] | None = SEED_TOOLS) -> Reply:
        return weather_responder({"messages": [{"role": "user", "content": text}], "tools": tools})

    forecast = ask("Forecast for the next 5 days in new york, in fahrenheit")
    assert forecast.tool_calls == (
        ToolCall("get_n_day_weather_forecast", {"location": "New York, NY", "num_days": 5, "unit": "fahrenheit"}),
    )
    assert ask("weather forecast in London").tool_calls[0].arguments == {"location": "London, UK", "num_days": 3}
    assert ask("Weather in Beijing?").tool_calls[0].arguments == {"location": "Beijing, China"}
    assert ask("Weather in Paris?", tools=SEED_TOOLS[:1]).tool_calls[0].name == "get_current_weather"
    assert not ask("How are you?").tool_calls and ask("How are you?").text
    assert not ask("Weather in Tokyo?", tools=None).tool_calls

    messages = [
        {"role": "user", "content": "Weather in Tokyo, Atlantis and Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            call("a", "get_current_weather", {"location": "Tokyo, Japan"}),
            call("b", "get_current_weather", {"location": "Atlantis"}),
            call("c", "get_current_weather", {"location": "Paris, France"}),
        ]},
        {"role": "tool", "tool_call_id": "a", "content": seed_get_current_weather("Tokyo, Japan")},
        {"role": "tool", "tool_call_id": "b", "content": seed_get_current_weather("Atlantis")},
        {"role": "tool", "tool_call_id": "c", "content": "TimeoutError: tool timed out after 60 s\nTraceback..."},
    ]  # fmt: skip
    assert weather_responder({"messages": messages, "tools": SEED_TOOLS}).text == (
        "The current weather in Tokyo is 10 degrees Celsius, and in Atlantis, it is unknown. "
        "I could not get the weather for Paris: TimeoutError: tool timed out after 60 s."
    )


def test_echo_responder() -> None:
    assert echo_responder({"messages": [{"role": "system", "content": "s"}, *USER]}).text == "You said: hello there"


def test_the_command_line_help_reads_as_text() -> None:
    """``--help`` is plain text: no reST ``double backticks`` from a docstring, and it says what the command does."""
    import subprocess
    import sys

    for args in ([], ["serve"]):
        proc = subprocess.run([sys.executable, "-m", "lazystream_widget.testing", *args, "--help"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "`" not in proc.stdout, proc.stdout
    top = subprocess.run([sys.executable, "-m", "lazystream_widget.testing", "--help"], capture_output=True,
                         text=True, timeout=60).stdout
    assert "READY http://127.0.0.1:PORT/v1" in " ".join(top.split()) and "example:" in top, top
