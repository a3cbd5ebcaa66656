"""Record a real HTTP run through the cassette proxy, then replay it with the model server gone and no key.

The "provider" is the scripted server streaming in DeepSeek's chunk layout (reasoning, parallel
tool calls with argument fragments, usage in the last chunk); our OnlineChatModule and the real
openai client talk to it through the proxy exactly as they would to api.deepseek.com.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

import lazystream_widget as lazyllm
import lazystream_widget.demo
from lazystream_widget.cassettes import CassetteMismatchError, CassetteNotFoundError
from lazystream_widget.cassettes.activation import forget_opened
from lazystream_widget.runner import Run
from lazystream_widget.runtime.chat import ModelConfigError, ModelError
from lazystream_widget.testing import HTTPError, Reply, ScriptedServer, weather_responder
from lazystream_widget.testing.providers import deepseek_style
from lazystream_widget.tools import FunctionCallAgent

DEEPSEEK = "https://api.deepseek.com/v1"
KEY = "sk-cassette-test-0123456789abcdef"
QUERY = "What's the weather like today in celsius in Tokyo and Paris?"
ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."
TOOLS = ["get_current_weather", "get_n_day_weather_forecast"]


def think(request: dict[str, Any]) -> str:
    if any(m.get("role") == "tool" for m in request["messages"]):
        return "Both tools answered, so I can write the answer."
    return "Two cities: I will ask for both at once."


@pytest.fixture
def provider() -> Any:
    """The scripted server in DeepSeek's layout, quick (20 ms to the first token, ~5 ms gaps)."""
    server = ScriptedServer(responder=deepseek_style(weather_responder, think=think, first_token_s=0.02,
                                                     token_gap_s=0.005)).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def no_opened_cassettes() -> Any:
    yield
    forget_opened()


def agent() -> FunctionCallAgent:
    """The agent exactly as an author writes it: the key comes from the environment."""
    llm = lazyllm.OnlineChatModule(source="deepseek", model="deepseek-reasoner", stream=True)
    return FunctionCallAgent(llm, TOOLS)


def record(path: Path, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, *queries: str) -> list[Run]:
    monkeypatch.setenv("LAZYSTREAM_DEEPSEEK_API_KEY", KEY)
    runs = []
    with lazyllm.cassette(path, "record", redirect={DEEPSEEK: server.base_url}):
        module = agent()
        for query in queries:
            runs.append(Run(module, query).start())
            runs[-1].wait(30)
    monkeypatch.delenv("LAZYSTREAM_DEEPSEEK_API_KEY")
    return runs


def shape(run: Run) -> list[tuple[str, str, int]]:
    """Span kinds, names and depths in start order: the trace tree's shape."""
    spans = {s.id: s for s in run.trace}

    def depth(s: Any) -> int:
        return 0 if s.parent_id not in spans else 1 + depth(spans[s.parent_id])

    return [(s.kind, s.name, depth(s)) for s in run.trace]


def test_record_then_replay_without_key_or_server(provider, tmp_path, monkeypatch) -> None:
    path = tmp_path / "weather.json"
    (recorded,) = record(path, provider, monkeypatch, QUERY)
    assert recorded.result == ANSWER and recorded.thinking == think({"messages": []}) + think(
        {"messages": [{"role": "tool"}]})
    assert recorded.notices == ["Recording model traffic to cassette weather.json."]
    requests_seen = len(provider.requests)
    provider.stop()  # no model, no key: only the cassette can answer

    with pytest.raises(ModelConfigError, match="LAZYSTREAM_DEEPSEEK_API_KEY"):
        agent()  # outside a replaying cassette the missing key is still an error
    with lazyllm.cassette(path, speed=0) as cassette:
        assert cassette.mode == "replay"
        replayed = Run(agent(), QUERY).start()
        assert replayed.wait(30) == recorded.result
    assert replayed.text == recorded.text and replayed.thinking == recorded.thinking
    assert shape(replayed) == shape(recorded) == [("agent", "FunctionCallAgent", 0), ("llm", "deepseek-reasoner", 1),
                                                  ("tool", "get_current_weather", 1),
                                                  ("tool", "get_current_weather", 1),
                                                  ("llm", "deepseek-reasoner", 1)]
    tools = lambda run: [(s.name, s.arguments, s.output) for s in run.trace if s.kind == "tool"]  # noqa: E731
    usage = lambda run: [s.usage for s in run.trace if s.kind == "llm"]  # noqa: E731
    assert tools(replayed) == tools(recorded) and usage(replayed) == usage(recorded)
    assert usage(replayed)[0]["total_tokens"] > 0
    assert replayed.notices == ["Replaying recorded model traffic from cassette weather.json, at once."]
    assert cassette.replayed == 2 and len(provider.requests) == requests_seen


def test_replay_keeps_the_recorded_pacing(tmp_path) -> None:
    """40 tokens 25 ms apart after 300 ms: about 1.3 s live; replay at 1x, 4x and at once (generous bounds)."""
    path = tmp_path / "paced.json"
    with ScriptedServer([Reply(chunks=[f"t{i} " for i in range(40)], delay=0.025, first_delay=0.3)]) as server:
        with lazyllm.cassette(path, "record") as cassette:
            client = openai.OpenAI(base_url=cassette.url(server.base_url), api_key="test", max_retries=0)
            live = _timed_stream(client)

    def replay(speed: float) -> tuple[float, float, str]:
        with lazyllm.cassette(path, "replay", speed) as cassette:
            client = openai.OpenAI(base_url=cassette.url(server.base_url), api_key="test", max_retries=0)
            return _timed_stream(client)

    normal, fast, instant = replay(1.0), replay(4.0), replay(0)
    assert normal[2] == fast[2] == instant[2] == live[2]
    ttft, total = normal[0], normal[1]
    assert 0.2 <= ttft <= 1.0, f"first token after {ttft:.2f} s, recorded after {live[0]:.2f} s"
    assert 0.8 * live[1] <= total <= live[1] + 1.5, f"replay took {total:.2f} s, the recording {live[1]:.2f} s"
    assert fast[1] < 0.6 * total, f"4x took {fast[1]:.2f} s vs {total:.2f} s at 1x"
    assert instant[1] < 0.5


def test_an_answer_is_in_the_file_when_the_block_ends(tmp_path) -> None:
    """A provider that keeps the connection open after ``data: [DONE]``: the client returns at that
    event, and leaving the ``with`` block must still find the exchange written (it once raced)."""
    import http.server

    class LateClose(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                     "choices": [{"index": 0, "delta": {"content": "late"}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
            self.wfile.flush()
            time.sleep(0.5)  # the body ends only when the connection closes

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LateClose)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    path = tmp_path / "late.json"
    try:
        with lazyllm.cassette(path, "record") as cassette:
            client = openai.OpenAI(base_url=cassette.url(f"http://127.0.0.1:{httpd.server_address[1]}/v1"),
                                   api_key="test", max_retries=0)
            assert _timed_stream(client)[2] == "late"
        assert path.exists(), "the block ended before its answer was written"
        with lazyllm.cassette(path, "replay", 0) as cassette:
            client = openai.OpenAI(base_url=cassette.url(f"http://127.0.0.1:{httpd.server_address[1]}/v1"),
                                   api_key="test", max_retries=0)
            assert _timed_stream(client)[2] == "late"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _timed_stream(client: openai.OpenAI) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    first = None
    text = []
    for chunk in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "go"}], stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter() - t0
            text.append(chunk.choices[0].delta.content)
    return first or 0.0, time.perf_counter() - t0, "".join(text)


def test_no_match_is_a_clear_error_and_never_reaches_the_network(provider, tmp_path, monkeypatch) -> None:
    path = tmp_path / "weather.json"
    record(path, provider, monkeypatch, QUERY)
    seen = len(provider.requests)
    with lazyllm.cassette(path, "replay", 0):
        run = Run(agent(), QUERY.replace("Paris", "Berlin")).start()
        with pytest.raises(CassetteMismatchError) as info:
            run.wait(30)
    message = str(info.value)
    first = message.splitlines()[0]  # what a display shows as the error's headline: it says what differs
    assert "weather.json" in first and "(replay) has no recorded answer for POST /v1/chat/completions" in first
    assert 'messages[0].content: recorded "…' in first and "Paris?" in first and "Berlin?" in first
    assert "(entry 0, run 0)" in message and "what differs (matching on method, path" in message
    assert run.state()["error"]["message"] == first
    assert "Nothing was sent to the network" in message
    assert info.value.closest == 0 and len(info.value.differences) == 1
    assert run.status == "error"
    assert len(provider.requests) == seen, "a replay must never reach the real endpoint"

    with pytest.raises(CassetteNotFoundError, match="does not exist; replay mode needs it. Record it first"):
        lazyllm.cassette(tmp_path / "missing.json", "replay")
    recording = r"LAZYSTREAM_DEEPSEEK_API_KEY.*new.json' is recording \(its file does not exist yet"
    with lazyllm.cassette(tmp_path / "new.json"), pytest.raises(ModelConfigError, match=recording):
        agent()  # auto mode and no file: it would record, which needs the key


def test_a_run_asking_more_often_than_recorded_is_told_so(tmp_path) -> None:
    path = tmp_path / "once.json"
    with ScriptedServer(["only once"]) as server:
        with lazyllm.cassette(path, "record") as cassette:
            llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m")
            assert llm("hi") == "only once"
    with lazyllm.cassette(path, "replay", 0) as cassette:
        llm = lazyllm.OnlineChatModule(base_url=server.base_url, model="m")
        twice = lambda q: (llm(q), llm(q))  # noqa: E731  one run asking twice
        with pytest.raises(CassetteMismatchError, match="which this run has already replayed\n"):
            Run(twice, "hi").start().wait(30)
    with lazyllm.cassette(path, "replay", 0) as cassette:  # a foreign client in a run: the same text, in a 404
        def ask_twice(q: str) -> list[Any]:
            client = openai.OpenAI(base_url=cassette.url(server.base_url), api_key="x", max_retries=0)
            return [client.chat.completions.create(model="m", messages=[{"role": "user", "content": q}])
                    for _ in range(2)]

        with pytest.raises(openai.NotFoundError, match="has already replayed"):
            Run(ask_twice, "hi").start().wait(30)
        # outside runs, the cassette's one shared tape starts over when its answers are used up: a cell
        # asked again (re-run) replays again instead of failing
        assert [r.choices[0].message.content for r in ask_twice("hi")] == ["only once", "only once"]


def test_concurrent_runs_replay_from_one_cassette_without_mixing(provider, tmp_path, monkeypatch) -> None:
    queries = [QUERY, "Give me a 3-day forecast for Tokyo in celsius.", "What's the weather in Beijing?"]
    path = tmp_path / "three.json"
    recorded = {r.query: r for r in record(path, provider, monkeypatch, *queries)}
    provider.stop()
    with lazyllm.cassette(path, "replay", 1.0):  # the recorded pace, so the runs really overlap
        module = agent()
        runs = [Run(module, q).start() for q in queries * 2]  # each question twice, all at once
    for run in runs:
        assert run.wait(30) == recorded[run.query].result
        assert run.text == recorded[run.query].text and run.thinking == recorded[run.query].thinking
        assert shape(run) == shape(recorded[run.query])


def test_a_run_keeps_its_cassette_after_the_block(provider, tmp_path, monkeypatch) -> None:
    path = tmp_path / "weather.json"
    (recorded,) = record(path, provider, monkeypatch, QUERY)
    with lazyllm.cassette(path, "replay", 0.5):  # half speed: the run outlives the block
        module = agent()
        run = Run(module, QUERY).start()
    assert not run.done()
    assert run.settings["cassette"].mode == "replay" and lazyllm.configure()["cassette"] is None
    assert run.wait(30) == recorded.result


def test_environment_variables_set_a_cassette_for_the_whole_process(provider, tmp_path, monkeypatch) -> None:
    path = tmp_path / "process.json"
    (recorded,) = record(path, provider, monkeypatch, QUERY)
    provider.stop()
    monkeypatch.setenv("LAZYSTREAM_CASSETTE", str(path))
    monkeypatch.setenv("LAZYSTREAM_CASSETTE_MODE", "replay")
    monkeypatch.setenv("LAZYSTREAM_CASSETTE_SPEED", "0")
    module = agent()  # no key, no with-block: the environment's cassette replays
    assert Run(module, QUERY).start().wait(30) == recorded.result
    monkeypatch.setenv("LAZYSTREAM_CASSETTE_MODE", "off")
    with pytest.raises(ModelConfigError, match="built while a cassette replayed"):
        Run(module, QUERY).start().wait(30)


def test_auto_records_when_missing_then_replays_and_record_starts_anew(tmp_path) -> None:
    path = tmp_path / "auto.json"
    with ScriptedServer(["first answer", "second answer", "third answer"]) as server:
        with lazyllm.cassette(path) as cassette:
            assert cassette.mode == "record"
            llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m")
            assert llm("q") == "first answer"
        with lazyllm.cassette(path) as cassette:
            assert cassette.mode == "replay"
            llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m")
            assert llm("q") == "first answer"
        with lazyllm.cassette(path, "record") as cassette:
            llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m")
            assert llm("q") == "second answer"
        assert len(server.requests) == 2
    entries = json.loads(path.read_text())["entries"]
    assert len(entries) == 1 and "second answer" in json.dumps(entries)


def test_the_openai_client_records_and_replays_through_cassette_url(tmp_path) -> None:
    path = tmp_path / "client.json"
    with ScriptedServer(["Plain answer.", Reply(text="Streamed answer.", reasoning="Thinking first.")]) as server:
        with lazyllm.cassette(path, "record") as cassette:
            client = openai.OpenAI(base_url=cassette.url(server.base_url), api_key="test")
            plain = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
            streamed = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}],
                                                           stream=True))
    with lazyllm.cassette(path, "replay", 0) as cassette:
        client = openai.OpenAI(base_url=cassette.url(server.base_url), api_key="test")
        again = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
        chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}],
                                                     stream=True))
    assert again.choices[0].message.content == plain.choices[0].message.content == "Plain answer."
    assert [c.model_dump() for c in chunks] == [c.model_dump() for c in streamed]
    assert lazyllm.cassette(path, "off").url("http://x/v1") == "http://x/v1"


def test_a_stream_that_broke_replays_broken(tmp_path) -> None:
    path = tmp_path / "dropped.json"
    with ScriptedServer([Reply(text="one two three four five", drop_after=3)]) as server:
        with lazyllm.cassette(path, "record") as cassette:
            llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m", stream=True)
            with pytest.raises(ModelError, match="broke after 3 chunks"):
                llm("q")
    assert json.loads(path.read_text())["entries"][0]["response"]["end"] == "dropped"
    with lazyllm.cassette(path, "replay", 0) as cassette:
        llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m", stream=True)
        with pytest.raises(ModelError, match="broke after 3 chunks"):
            llm("q")


def test_a_cancelled_replay_stops_at_once(tmp_path) -> None:
    """Stop during a replay's wait for the next event: the run ends at once, not when the event was due.

    Replayed at 1/20 of the recorded pace, the second token is due 8 s after the first: the run is
    cancelled as soon as the first token is in, and must end long before the second one would come."""
    path = tmp_path / "slow.json"
    with ScriptedServer([Reply(chunks=["x "] * 3, delay=0.4, first_delay=0.05)]) as server, \
            lazyllm.cassette(path, "record") as cassette:
        llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m", stream=True)
        llm("q")
    with lazyllm.cassette(path, "replay", 0.05) as cassette:
        llm = lazyllm.OnlineChatModule(base_url=cassette.url(server.base_url), model="m", stream=True)
        run = Run(llm, "q").start()
    deadline = time.monotonic() + 60
    while run.text != "x " and time.monotonic() < deadline:  # the first token (due ~1 s after the request)
        time.sleep(0.01)
    assert run.text == "x ", run
    t0 = time.monotonic()
    run.cancel()
    with pytest.raises(lazyllm.RunCancelled):
        run.wait(30)
    assert time.monotonic() - t0 < 5.0, "the run waited for the replay's next event"  # it was 8 s away
    assert run.status == "cancelled" and run.text == "x "


def test_settings_and_errors_in_the_callers_frame(tmp_path) -> None:
    with pytest.raises(ValueError, match="speed must be a number >= 0"):
        lazyllm.cassette(tmp_path / "c.json", "record", -1)
    with pytest.raises(ValueError, match="mode must be one of"):
        lazyllm.cassette(tmp_path / "c.json", "sometimes")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        lazyllm.configure(cassette_redact=["("])
    with pytest.raises(ValueError, match="cassette must be a file path"):
        lazyllm.configure(cassette=3)
    done = threading.Event()
    with lazyllm.cassette(tmp_path / "c.json", "record") as cassette:
        assert lazyllm.configure()["cassette"] is cassette  # in force in this context...
        threading.Thread(target=lambda: (lazyllm.configure()["cassette"] is None) and done.set()).start()
    assert done.wait(5), "...not in a plain thread started elsewhere"
    assert lazyllm.configure()["cassette"] is None


def test_retries_are_recorded_and_replayed_like_the_live_run(tmp_path) -> None:
    """A 503 before the answer: our retry (visible in the trace) is recorded, and replays the same way."""
    path = tmp_path / "retry.json"
    script = [HTTPError(503, headers={"Retry-After": "0"}), "Answer after a retry."]
    with ScriptedServer(script) as server, lazyllm.cassette(path, "record"):
        live = Run(lazyllm.OnlineChatModule(base_url=server.base_url, model="m", stream=True, return_trace=True),
                   "q").start()
        assert live.wait(30) == "Answer after a retry."
    with lazyllm.cassette(path, "replay", 0):
        replayed = Run(lazyllm.OnlineChatModule(base_url=server.base_url, model="m", stream=True, return_trace=True),
                       "q").start()
        assert replayed.wait(30) == live.result
    events = lambda run: [(e["name"], e.get("status")) for s in run.trace for e in s.events]  # noqa: E731
    assert events(replayed) == events(live) == [("retry", 503)]


def test_record_mode_says_when_the_real_endpoint_cannot_be_reached(tmp_path) -> None:
    path = tmp_path / "unreachable.json"
    with lazyllm.cassette(path, "record", redirect={"http://127.0.0.1:9/v1": "http://127.0.0.1:9/v1"}) as cassette:
        client = openai.OpenAI(base_url=cassette.url("http://127.0.0.1:9/v1"), api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError, match="cannot reach http://127.0.0.1:9/v1/chat/completions.*"
                                                             "Nothing was recorded"):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}])
    # nothing was recorded, so nothing is written: an empty file would make the next auto run replay
    # "no recorded requests" instead of recording (a block that calls no model at all still writes one)
    assert not path.exists()


def test_identical_requests_of_concurrent_runs_are_matched_per_run_in_order(tmp_path) -> None:
    """Two runs ask the same thing twice each, at once; the model answered each call differently.

    Replayed at once again, each run gets the answers of one recorded run, in order: never one
    recorded run's first answer with the other's second.
    """
    counter = iter(range(1, 100))
    lock = threading.Lock()

    def numbered(_request: dict) -> Reply:
        with lock:
            n = next(counter)
        return Reply(chunks=[f"answer {n}"], first_delay=0.05)

    def twice(llm: Any) -> Any:
        return lambda query: (llm(query), llm(query))

    path = tmp_path / "same.json"
    with ScriptedServer(responder=numbered) as server:
        with lazyllm.cassette(path, "record"):
            llm = lazyllm.OnlineChatModule(base_url=server.base_url, model="m", stream=True)
            recorded = [Run(twice(llm), "same question").start() for _ in range(2)]
            recorded = sorted(r.wait(30) for r in recorded)
        assert sorted(a for pair in recorded for a in pair) == [f"answer {n}" for n in range(1, 5)]
        for _ in range(3):  # the order the runs reach the proxy varies: each time, no mixing
            with lazyllm.cassette(path, "replay", 1.0):
                llm = lazyllm.OnlineChatModule(base_url=server.base_url, model="m", stream=True)
                replayed = [Run(twice(llm), "same question").start() for _ in range(2)]
                assert sorted(r.wait(30) for r in replayed) == recorded
        assert len(server.requests) == 4
