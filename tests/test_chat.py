"""OnlineChatModule against the scripted OpenAI-compatible server, through the real ``openai`` client."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.runtime import cancel, chat
from lazystream_widget.runtime.chat import ModelConfigError, ModelError, OnlineChatModule
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import session
from lazystream_widget.testing import HTTPError, RawEvent, Reply, ScriptedServer, ToolCall, split_tokens
from lazystream_widget.testing import server as server_mod

ANSWER = "The current weather in Tokyo is 10 degrees Celsius."
SECRET = "sk-test-DO-NOT-LEAK-4f9a1c"


def model(server: ScriptedServer, **kwargs: Any) -> OnlineChatModule:
    kwargs.setdefault("stream", True)
    return OnlineChatModule(base_url=server.base_url, api_key=kwargs.pop("api_key", "test"), model="scripted",
                            **kwargs)


def consume(future) -> tuple[list[str], list[float]]:
    """The seed's loop, recording when each item was seen."""
    items: list[str] = []
    seen: list[float] = []
    while True:
        if value := lazyllm.FileSystemQueue().dequeue():
            items.extend(value)
            seen.extend([time.monotonic()] * len(value))
        elif future.done():
            break
    return items, seen


@contextlib.contextmanager
def cancel_token() -> Iterator[cancel.CancelToken]:
    """A run's cancel token, current in this context (and so in the pool work submitted from it)."""
    token = cancel.CancelToken()
    reset = cancel.set_token(token)
    try:
        yield token
    finally:
        cancel._token.reset(reset)


@contextlib.contextmanager
def streaming_call(llm: OnlineChatModule, at_least: int) -> Iterator[tuple[Any, cancel.CancelToken, list[str]]]:
    """``llm("hi")`` submitted to our pool in a session with a cancel token: yields its future, the
    token and the answer items seen once at least ``at_least`` came (or 10 s passed)."""
    pool = lazyllm.ThreadPoolExecutor(1)
    try:
        with session(), cancel_token() as token:
            future = pool.submit(llm, "hi")
            got: list[str] = []
            deadline = time.monotonic() + 10
            while len(got) < at_least and time.monotonic() < deadline:
                got += FileSystemQueue().dequeue()
            yield future, token, got
    finally:
        pool.shutdown(wait=False)


# --------------------------------------------------------------------------- streaming


def test_stream_pushes_deltas_to_the_answer_queue_while_the_call_runs(scripted_server_factory) -> None:
    server = scripted_server_factory([Reply(text=ANSWER, delay=0.03)])
    llm = model(server)

    def call() -> tuple[str, float]:
        return llm("weather in Tokyo?"), time.monotonic()

    with session(), lazyllm.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        items, seen = consume(future)
        result, returned_at = future.result()
    assert result == ANSWER
    assert items == split_tokens(ANSWER)  # each delta as it came, nothing else
    assert seen[0] < returned_at - 0.1  # the first delta was shown well before the call returned
    assert server.requests[0]["stream"] is True
    assert server.requests[0]["messages"] == [{"role": "user", "content": "weather in Tokyo?"}]


def test_reasoning_goes_to_lazy_think_not_to_the_answer(scripted_server_factory) -> None:
    server = scripted_server_factory([Reply(reasoning="First, recall the forecast.", text="Sunny.")])
    with session():
        assert model(server)("weather?") == "Sunny."
        assert "".join(FileSystemQueue().dequeue()) == "Sunny."
        assert "".join(FileSystemQueue("lazy_think").dequeue()) == "First, recall the forecast."


def test_text_before_a_tool_call_is_streamed_and_nothing_after_it(scripted_server_factory, monkeypatch) -> None:
    real_deltas = server_mod._deltas

    def deltas_with_text_after_the_call(reply: Reply, call_ids: list[str]):
        yield from real_deltas(reply, call_ids)
        if reply.tool_calls:  # a model that goes on talking after its tool call
            yield {"content": " and more"}

    monkeypatch.setattr(server_mod, "_deltas", deltas_with_text_after_the_call)
    server = scripted_server_factory([Reply(text="Let me check.", tool_calls=[ToolCall("lookup", {"city": "Tokyo"})])])
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    with session():
        msg = model(server).chat([{"role": "user", "content": "weather?"}], tools)
        streamed = FileSystemQueue().dequeue()
    assert "".join(streamed) == "Let me check."
    assert msg.content == "Let me check. and more"  # still collected and returned, only not streamed
    assert [c["function"]["name"] for c in msg.tool_calls] == ["lookup"]
    assert json.loads(msg.tool_calls[0]["function"]["arguments"]) == {"city": "Tokyo"}
    assert msg.tool_calls[0]["id"]
    assert server.requests[0]["tools"] == tools


def test_stream_false_pushes_nothing_and_returns_the_text(scripted_server_factory) -> None:
    server = scripted_server_factory([Reply(text=ANSWER, reasoning="hmm")])
    with session():
        assert model(server, stream=False)("weather?") == ANSWER
        assert FileSystemQueue().dequeue() == [] and FileSystemQueue("lazy_think").dequeue() == []
    assert not server.requests[0].get("stream")


def test_a_system_prompt_is_sent_first(scripted_server_factory) -> None:
    server = scripted_server_factory(["ok"])
    with session():
        model(server, system_prompt="Be brief.")("hi")
    assert server.requests[0]["messages"] == [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "hi"}]


def test_a_bad_input_type_is_a_clear_error(scripted_server) -> None:
    with pytest.raises(TypeError, match="takes a str"):
        model(scripted_server)(42)


# --------------------------------------------------------------------------- configuration


def test_lazystream_env_vars_configure_the_module(scripted_server, monkeypatch) -> None:
    monkeypatch.setenv("LAZYSTREAM_OPENAI_BASE_URL", scripted_server.base_url)
    monkeypatch.setenv("LAZYSTREAM_OPENAI_API_KEY", "from-lazystream")
    monkeypatch.setenv("LAZYSTREAM_OPENAI_MODEL", "my-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # lower precedence
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai")
    llm = OnlineChatModule()
    assert llm.base_url == scripted_server.base_url and llm.model == "my-model"
    assert llm._client().api_key == "from-lazystream"
    with session():
        assert llm("hello") == "You said: hello"
    assert scripted_server.requests[0]["model"] == "my-model"


def test_openai_env_vars_are_the_fallback(scripted_server, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", scripted_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai")
    llm = OnlineChatModule(model="m")
    assert llm.base_url == scripted_server.base_url and llm._client().api_key == "from-openai"
    with session():
        assert llm("hi") == "You said: hi"


def test_other_sources_read_their_own_variables(monkeypatch) -> None:
    monkeypatch.setenv("LAZYSTREAM_DEEPSEEK_API_KEY", "ds-key")
    llm = OnlineChatModule("deepseek")
    assert llm.base_url == "https://api.deepseek.com/v1" and llm.model == "deepseek-chat"
    with pytest.raises(ModelConfigError, match="LAZYSTREAM_QWEN_API_KEY"):
        OnlineChatModule("qwen")


def test_a_loopback_base_url_needs_no_key(scripted_server) -> None:
    llm = OnlineChatModule(base_url=scripted_server.base_url, model="m", stream=True)
    with session():
        assert llm("hi") == "You said: hi"


def test_no_key_and_no_base_url_names_the_variable_to_set() -> None:
    with pytest.raises(ModelConfigError, match="set LAZYSTREAM_OPENAI_API_KEY") as info:
        OnlineChatModule(stream=True)
    assert "OPENAI_API_KEY" in str(info.value)
    with pytest.raises(ModelConfigError, match="LAZYSTREAM_OPENAI_API_KEY"):
        OnlineChatModule(base_url="https://api.example.com/v1")  # not loopback: a key is needed
    with pytest.raises(ModelConfigError, match="source must be a provider name"):
        OnlineChatModule("../etc")


def test_the_api_key_is_not_in_the_repr(scripted_server) -> None:
    llm = model(scripted_server, api_key=SECRET)
    assert SECRET not in repr(llm) and SECRET not in str(vars(llm).get("request_options"))


# --------------------------------------------------------------------------- retries and failures


def test_a_503_is_retried_and_the_retry_is_in_the_trace(scripted_server_factory, read_trace) -> None:
    server = scripted_server_factory([HTTPError(503), "recovered"])
    with session():
        assert model(server, return_trace=True)("hi") == "recovered"
        entries = read_trace()
    assert len(server.requests) == 2
    retries = [e for e in entries if e["event"] == "event"]
    assert [(e["name"], e["attrs"]["attempt"], e["attrs"]["status"]) for e in retries] == [("retry", 1, 503)]
    end = entries[-1]
    assert end["event"] == "end" and end["status"] == "ok" and end["output"] == "recovered"
    assert retries[0]["parent"] == end["parent"] and retries[0]["span"] == end["span"]


def test_a_429_honours_retry_after(scripted_server_factory, monkeypatch) -> None:
    monkeypatch.setattr(chat, "MODEL_RETRY_BACKOFF_S", 30.0)  # our own backoff would take 30 s here
    server = scripted_server_factory([HTTPError(429, headers={"Retry-After": "0"}), "ok"])
    t0 = time.monotonic()
    with session():
        assert model(server)("hi") == "ok"
    assert len(server.requests) == 2
    assert time.monotonic() - t0 < 10  # Retry-After: 0 instead of the 30 s backoff


def test_a_400_is_not_retried(scripted_server_factory, read_trace) -> None:
    server = scripted_server_factory([HTTPError(400, message="bad request: messages missing"), "never"])
    with session():
        with pytest.raises(ModelError, match="HTTP 400") as info:
            model(server, return_trace=True)("hi")
        entries = read_trace()
    assert len(server.requests) == 1
    assert "attempts" not in str(info.value)
    assert [e["name"] for e in entries if e["event"] == "event"] == ["attempt_failed"]
    assert entries[-1]["status"] == "error" and entries[-1]["error"]["type"] == "ModelError"


def test_three_failures_give_up_with_a_model_error(scripted_server_factory, read_trace) -> None:
    server = scripted_server_factory([HTTPError(503), HTTPError(500), HTTPError(502), "too late"])
    with session():
        with pytest.raises(ModelError, match="HTTP 502 after 3 attempts"):
            model(server, return_trace=True)("hi")
        events = [e for e in read_trace() if e["event"] == "event"]
    assert len(server.requests) == 3
    assert [(e["name"], e["attrs"]["attempt"]) for e in events] == [("retry", 1), ("retry", 2), ("attempt_failed", 3)]


def test_an_unreachable_server_is_retried_and_then_explained(read_trace) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OnlineChatModule(base_url=f"http://127.0.0.1:{port}/v1", model="m", stream=True, return_trace=True)
    with session():
        with pytest.raises(ModelError, match="cannot reach the model .* after 3 attempts"):
            llm("hi")
        events = [e for e in read_trace() if e["event"] == "event"]
    assert [e["name"] for e in events] == ["retry", "retry", "attempt_failed"]


def test_a_stream_dropped_mid_answer_is_an_error_and_never_retried(scripted_server_factory, read_trace) -> None:
    server = scripted_server_factory([Reply(text=ANSWER, drop_after=4), "a retry would get this"])
    with session():
        with pytest.raises(ModelError, match="broke after 4 chunks"):
            model(server, return_trace=True)("hi")
        shown = FileSystemQueue().dequeue()
        entries = read_trace()
    assert len(server.requests) == 1
    assert shown == split_tokens(ANSWER)[:4]  # what was shown stays shown, nothing repeated
    assert entries[-1]["status"] == "error"
    assert not [e for e in entries if e["event"] == "event"]


def test_a_stream_silent_past_the_read_timeout_is_an_error_and_keeps_what_streamed(scripted_server_factory) -> None:
    # the module's read timeout is in force on every read of the stream, the first chunks' and the silent one's
    server = scripted_server_factory([Reply(text=ANSWER, stall_after=3), "a retry would get this"])
    llm = model(server, timeout=0.5)
    with session():
        t0 = time.monotonic()
        with pytest.raises(ModelError, match="broke after 3 chunks") as caught:
            llm("hi")
        took = time.monotonic() - t0
        shown = FileSystemQueue().dequeue()
    assert "timed out" in str(caught.value).lower() or "timeout" in str(caught.value).lower(), str(caught.value)
    assert 0.4 < took < 30, took
    assert shown == split_tokens(ANSWER)[:3]
    assert len(server.requests) == 1


def test_invalid_json_in_the_stream_is_a_model_error(scripted_server_factory) -> None:
    server = scripted_server_factory([Reply(text=ANSWER, invalid_json_after=2)])
    with session():
        with pytest.raises(ModelError):
            model(server)("hi")
    assert len(server.requests) == 1


def test_an_error_object_in_the_stream_is_a_model_error_naming_it(scripted_server_factory) -> None:
    # Providers report some failures (overload, content filter) as an event in an open stream:
    # the openai client raises APIError for such an event; we read events ourselves, and must too.
    def chunk(text: str) -> dict:
        return {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}

    events = [RawEvent(data=chunk("Hello ")), RawEvent(data={"error": {"message": "the model is overloaded"}}),
              RawEvent(data=chunk("never")), RawEvent(data="[DONE]")]
    server = scripted_server_factory([Reply(raw_events=events)])
    with session():
        with pytest.raises(ModelError, match="broke after 1 chunks: APIError: the model is overloaded"):
            model(server)("hi")
        shown = FileSystemQueue().dequeue()
    assert shown == ["Hello "]  # what came before the error stays shown; nothing after it
    assert len(server.requests) == 1


def test_usage_and_ttft_are_in_the_llm_span(scripted_server_factory, read_trace) -> None:
    server = scripted_server_factory([Reply(text=ANSWER, first_delay=0.2)])
    with session():
        model(server, return_trace=True)("hi")
        start, end = read_trace()
    assert start["kind"] == "llm" and start["name"] == "scripted"
    assert start["attrs"]["model"] == "scripted" and start["attrs"]["stream"] is True
    assert start["attrs"]["base_url"] == server.base_url
    assert end["usage"]["completion_tokens"] == len(split_tokens(ANSWER))
    assert end["usage"]["total_tokens"] == end["usage"]["prompt_tokens"] + end["usage"]["completion_tokens"]
    assert 150 <= end["attrs"]["ttft_ms"] < 5000
    assert end["attrs"]["finish_reason"] == "stop"
    assert end["duration_ms"] >= end["attrs"]["ttft_ms"]


def test_the_api_key_never_appears_in_the_trace(scripted_server_factory) -> None:
    server = scripted_server_factory([HTTPError(503), "fine", HTTPError(401), Reply(text="x", drop_after=0)])
    llm = model(server, api_key=SECRET, return_trace=True)
    messages: list[str] = []
    with session():
        llm("one")
        for _ in range(2):
            with pytest.raises(ModelError) as info:
                llm("two")
            messages.append(str(info.value))
        raw = "".join(FileSystemQueue("lazy_trace").dequeue())
    assert raw.count('"event":"start"') == 3
    assert SECRET not in raw and SECRET[-8:] not in raw
    assert all(SECRET not in m for m in messages)
    assert "refused the API key (HTTP 401)" in messages[0]


# --------------------------------------------------------------------------- cancellation


@pytest.mark.parametrize("how", ["while streaming", "while the model is silent"])
def test_cancel_mid_stream_closes_the_http_stream(scripted_server_factory, read_trace, how: str) -> None:
    reply = Reply(text=ANSWER * 5, delay=0.05) if how == "while streaming" else Reply(text=ANSWER, stall_after=3)
    server = scripted_server_factory([reply])
    llm = model(server, return_trace=True)
    with streaming_call(llm, 3) as (future, token, got):
        assert len(got) >= 3
        cancelled_at = time.monotonic()
        token.cancel("stop button")
        with pytest.raises(cancel.RunCancelled, match="stop button"):
            future.result(timeout=10)
        assert time.monotonic() - cancelled_at < 3
        assert server.wait_for("disconnect", timeout=5), server.events
        rest = FileSystemQueue().dequeue()
        end = read_trace()[-1]
    assert len(got) + len(rest) < len(split_tokens(ANSWER * 5))  # it really stopped
    assert end["status"] == "cancelled" and end["kind"] == "llm"
    assert len(server.requests) == 1


def test_a_stream_waits_out_a_read_hold_then_reads_what_gathered(scripted_server_factory) -> None:
    """While the run's view waits its turn (the pump sets ``hold_reads_until``), the stream is not read:
    the tokens gather and come in one go when the hold ends; nothing is lost, the order kept."""
    server = scripted_server_factory([Reply(text=ANSWER, delay=0.02)])
    with streaming_call(model(server), 1) as (future, token, got):
        held_from = time.monotonic()
        token.hold_reads_until = held_from + 0.6  # longer than the rest of the answer takes to stream
        during: list[str] = []
        while time.monotonic() < held_from + 0.45:
            during += FileSystemQueue().dequeue()
        assert future.result(timeout=10) == ANSWER
        rest = FileSystemQueue().dequeue()
    assert len(during) <= 2, during  # at most the chunk in hand when the hold began (and one in flight)
    assert got + during + rest == split_tokens(ANSWER)


def test_a_cancel_during_a_read_hold_stops_at_once(scripted_server_factory) -> None:
    server = scripted_server_factory([Reply(text=ANSWER * 5, delay=0.02)])
    with streaming_call(model(server), 1) as (future, token, got):
        assert got
        token.hold_reads_until = time.monotonic() + 30
        time.sleep(0.2)  # the stream is held now
        cancelled_at = time.monotonic()
        token.cancel("stop button")
        with pytest.raises(cancel.RunCancelled, match="stop button"):
            future.result(timeout=10)
        assert time.monotonic() - cancelled_at < 3  # not the 30 s hold
        assert server.wait_for("disconnect", timeout=5), server.events


def test_a_cancelled_run_does_not_start_a_request(scripted_server) -> None:
    with session(), cancel_token() as token:
        token.cancel("early")
        with pytest.raises(cancel.RunCancelled):
            model(scripted_server)("hi")
    assert scripted_server.requests == []


def test_a_cancel_during_retry_backoff_stops_at_once(scripted_server_factory, monkeypatch) -> None:
    monkeypatch.setattr(chat, "MODEL_RETRY_BACKOFF_S", 30.0)  # a backoff the run could not sit out unnoticed
    server = scripted_server_factory([HTTPError(503), HTTPError(503), "ok"])
    llm = model(server)
    llm._warm_client()  # built now (it takes 0.1-0.5 s on a busy machine), so the cancel lands in the backoff
    with session(), cancel_token() as token:

        def stop_once_the_first_attempt_failed() -> None:
            if server.wait_for("error", timeout=30):  # the 503 is out: the model call is (about to be) backing off
                token.cancel("stop")

        threading.Thread(target=stop_once_the_first_attempt_failed, daemon=True).start()
        t0 = time.monotonic()
        with pytest.raises(cancel.RunCancelled):
            llm("hi")
        assert time.monotonic() - t0 < 10  # the 30 s backoff was interrupted
    assert len(server.requests) == 1


def test_the_first_call_in_a_process_does_not_count_client_setup_as_model_latency(scripted_server_factory,
                                                                                   child_env) -> None:
    """A fresh process: importing openai and building its client (~1.5 s on a busy 2-core machine) happen
    before the first llm span starts, so its ttft_ms is the model's like the second call's, not seconds more."""
    import subprocess
    import sys

    server = scripted_server_factory([Reply(text=ANSWER)] * 2, token_delay=0)
    script = (
        "import json, sys, time\n"
        "import lazystream_widget as lazyllm\n"
        "from lazystream_widget.runner import Run\n"
        "assert 'openai' not in sys.modules\n"
        f"llm = lazyllm.OnlineChatModule(stream=True, return_trace=True, base_url={server.base_url!r},"
        " api_key='k', model='scripted')\n"
        "assert 'openai' in sys.modules  # imported where the model is made, not in its first run\n"
        "for _ in range(2):\n"
        "    t0 = time.perf_counter()\n"
        "    run = Run(llm, 'hi').start(); run.wait(60)\n"
        "    end = [e for e in run.entries if e.get('kind') == 'llm' and e.get('duration_ms') is not None][-1]\n"
        "    print(json.dumps([end['attrs']['ttft_ms'], end['duration_ms'], (time.perf_counter() - t0) * 1000]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=child_env())
    assert proc.returncode == 0, proc.stderr
    (ttft1, span1, wall1), (ttft2, _, _) = [json.loads(line) for line in proc.stdout.splitlines()]
    # the client setup happens before the span (a loopback model answers in milliseconds)
    assert ttft1 < 600 and span1 < 800, (ttft1, span1, wall1, ttft2)


def test_httpx_is_whole_before_our_first_request(tmp_path) -> None:
    # Recent openai clients peek at sys.modules["httpx"] on every request, outside the import lock; a
    # request built while another thread first imports httpx (the cassette proxy, starting to record) failed
    # with "partially initialized module 'httpx'". Our first client must find httpx already imported whole.
    import subprocess
    import sys

    code = ("import sys; import lazystream_widget as l; assert 'httpx' not in sys.modules, 'imported too early';"
            "m = l.OnlineChatModule(base_url='http://127.0.0.1:9/v1', api_key='k', stream=True); m._client();"
            "h = sys.modules.get('httpx'); print(h is not None and hasattr(h, 'Timeout') and hasattr(h, 'Client'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
