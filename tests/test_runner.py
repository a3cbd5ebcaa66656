"""The widget runner and StreamView on the kernel side: coalescing, final state, cancel, isolation.

The model is the scripted server over real HTTP; the view is the real StreamView with a
tap on ``send`` (no kernel here, so Jupyter's comm would drop the messages).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

import lazystream_widget as lsw
from lazystream_widget.limits import WIDGET_MAX_MESSAGES_PER_S
from lazystream_widget.testing import HTTPError, Reply, ToolCall, weather_responder
from lazystream_widget.tools import FunctionCallAgent, fc_register

pytestmark = pytest.mark.backends("file", "redis")  # the runtime suite on both queue backends

QUERY = "What's the weather like today in celsius in Tokyo and Paris?"
ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."


class TappedView(lsw.StreamView):
    """The real view, recording what it sends to the browser."""

    def __init__(self, *args, **kwargs):
        self.sent: list[dict] = []
        self.sent_at: list[float] = []
        super().__init__(*args, display=False, **kwargs)

    def send(self, content, buffers=None):
        self.sent.append(json.loads(json.dumps(content)))  # what would go over the wire
        self.sent_at.append(time.monotonic())


@pytest.fixture
def weather_agent(scripted_server_factory):
    import lazystream_widget.demo  # noqa: F401 - registers the seed's two tools

    server = scripted_server_factory(responder=weather_responder, token_delay=0.01)
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="test", stream=True)
    return FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"]), server


def _text_from_messages(view: TappedView, run_id: str) -> str:
    return "".join(m.get("text", "") for m in view.sent if m.get("type") == "delta" and m.get("run") == run_id)


def test_ask_returns_at_once_and_streams_the_answer(weather_agent):
    agent, _ = weather_agent
    view = TappedView(agent)
    t0 = time.monotonic()
    run = view.ask(QUERY)
    assert time.monotonic() - t0 < 0.5, "ask() must return at once"
    assert run.status == "running"
    assert run.wait(30) == ANSWER
    assert run.status == "done" and run.text == ANSWER
    # deltas carry only what is new: their concatenation is the answer, no repeats
    assert _text_from_messages(view, run.id) == ANSWER
    assert sum(1 for m in view.sent if m["type"] == "delta" and m.get("text")) >= 2, "the answer must arrive in parts"
    # message numbers are 1, 2, 3...: the browser can detect a gap
    assert [m["mseq"] for m in view.sent] == list(range(1, len(view.sent) + 1))
    assert view.sent[0]["type"] == "run_start" and view.sent[0]["run"]["query"] == QUERY


def test_final_state_is_in_the_trait(weather_agent):
    agent, _ = weather_agent
    view = TappedView(agent)
    run = view.ask(QUERY, wait=True, timeout=30)
    [state] = view.runs
    assert state["id"] == run.id and state["status"] == "done"
    assert state["text"] == ANSWER and state["result"] is None  # the result is the text: not stored twice
    kinds = [e["kind"] for e in state["entries"] if isinstance(e, dict) and e["event"] == "start"]
    assert kinds.count("llm") == 2 and kinds.count("tool") == 2 and kinds[0] == "agent"
    assert state["stats"]["tokens"] >= 10 and state["stats"]["ttft_ms"] > 0
    assert state["ended_at"] >= state["started_at"]


def test_trace_spans_nest_as_they_ran(weather_agent):
    agent, _ = weather_agent
    run = TappedView(agent).ask(QUERY, wait=True, timeout=30)
    spans = run.trace
    [root] = [s for s in spans if s.parent_id is None]
    assert root.kind == "agent" and root.status == "ok"
    assert [c.kind for c in root.children] == ["llm", "tool", "tool", "llm"]
    tools = [c for c in root.children if c.kind == "tool"]
    assert {t.input["location"] for t in tools} == {"Tokyo, Japan", "Paris, France"}
    assert all(t.parent_id == root.id for t in tools), "parallel tool calls are siblings under the agent"


def test_messages_are_coalesced_to_one_per_display_frame(scripted_server_factory):
    # 600 tokens as fast as the server can send them, then 1.5 s of 200 tokens/s
    server = scripted_server_factory([Reply(text="tok " * 600), Reply(text="x " * 300, delay=0.005)])
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True)
    view = TappedView(llm)
    run1 = view.ask("fast", wait=True, timeout=30)
    run2 = view.ask("steady", wait=True, timeout=30)
    frame = 1 / WIDGET_MAX_MESSAGES_PER_S
    for run in (run1, run2):
        deltas = [(m, t) for m, t in zip(view.sent, view.sent_at, strict=True)
                  if m["type"] == "delta" and m["run"] == run.id]
        assert _text_from_messages(view, run.id) == run.text
        # the first answer text goes out at once (time to first token); then at most one message per
        # display frame (some slack for timer jitter), but for the last: once the module returned, what
        # is left goes at once
        first_text = next(i for i, (m, _) in enumerate(deltas) if m.get("text"))
        times = [t for _, t in deltas[first_text:]]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        short = [(i, round(g, 4)) for i, g in enumerate(gaps[:-1]) if g < 0.8 * frame]
        assert not short, (f"deltas closer than a frame (index, gap) of {len(gaps)}: {short}",
                           [(round(t - times[0], 4), m.get("text", "")[-12:], len(m.get("entries") or []))
                            for m, t in deltas[-4:]])
        if run is run2:  # 1.5 s of a token every 5 ms (3 s seen under load): about one message per frame
            took = run.ended_at - run.started_at
            assert 15 <= len(gaps) <= 1.2 * took * WIDGET_MAX_MESSAGES_PER_S + 10, (len(gaps), took)
        assert first_text <= 1, "at most one message (trace entries) before the first text"
    assert len(run1.text) == len("tok " * 600) and run2.text == "x " * 300


def test_payload_grows_linearly_with_the_answer(scripted_server_factory):
    text = "word " * 5000
    server = scripted_server_factory([Reply(text=text, delay=0.0002)])
    view = TappedView(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True))
    view.ask("long", wait=True, timeout=60)
    deltas = [m for m in view.sent if m["type"] == "delta"]
    # deltas carry each character once, never the whole text again...
    assert sum(len(m.get("text", "")) for m in deltas) == len(text)
    # ...with a small, constant envelope per message (the trace entries are bounded separately)
    envelope = sum(len(json.dumps(m)) - len(m.get("text", "")) - len(json.dumps(m.get("entries", []))) for m in deltas)
    assert envelope / len(deltas) < 100


def test_concurrent_views_never_mix(scripted_server_factory):
    def responder(request):
        q = request["messages"][-1]["content"]
        return Reply(text=" ".join(f"{q}-{i}" for i in range(40)), delay=0.002)

    server = scripted_server_factory(responder=responder)
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True)
    views = [TappedView(llm) for _ in range(6)]
    runs = [v.ask(f"q{i}") for i, v in enumerate(views)]
    for i, (view, run) in enumerate(zip(views, runs, strict=True)):
        expected = " ".join(f"q{i}-{k}" for k in range(40))
        assert run.wait(30) == expected
        assert run.text == expected and _text_from_messages(view, run.id) == expected


def test_several_runs_in_one_view_stay_visible(weather_agent):
    agent, _ = weather_agent
    view = TappedView(agent)
    first = view.ask(QUERY)
    second = view.ask("What's the weather in Beijing?")  # while the first still streams
    first.wait(30)
    second.wait(30)
    assert [r["id"] for r in view.runs] == [first.id, second.id]
    assert all(r["status"] == "done" for r in view.runs)
    assert "Beijing" in view.runs[1]["text"] and view.runs[0]["text"] == ANSWER
    assert view.history == [first, second] and view.last_run is second


def test_cancel_closes_the_stream_and_keeps_the_partial_answer(scripted_server_factory):
    server = scripted_server_factory([Reply(text="slow " * 400, delay=0.02)])
    view = TappedView(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True))
    run = view.ask("go")
    deadline = time.monotonic() + 10
    while len(run.text) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    run.cancel()
    with pytest.raises(lsw.RunCancelled):
        run.wait(10)
    assert time.monotonic() - t0 < 3, "a cancel ends the run promptly"
    assert run.status == "cancelled" and 20 <= len(run.text) < len("slow " * 400)
    assert server.wait_for("disconnect", timeout=5), "the HTTP stream was closed"
    assert view.runs[-1]["status"] == "cancelled" and view.runs[-1]["text"] == run.text
    [llm_span] = run.trace
    assert llm_span.status == "cancelled"


def test_stop_message_from_the_browser_cancels(scripted_server_factory):
    server = scripted_server_factory([Reply(text="slow " * 400, delay=0.02)])
    view = TappedView(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True))
    run = view.ask("go")
    time.sleep(0.3)
    view._on_browser_message(view, {"type": "cancel", "run": run.id}, [])
    with pytest.raises(lsw.RunCancelled):
        run.wait(10)
    assert run.status == "cancelled"


def test_cancel_during_a_tool_call_starts_no_new_tool(scripted_server_factory):
    started: list[str] = []
    gate = threading.Event()

    @fc_register("tool", name="runner_slow_tool")
    def runner_slow_tool(step: int) -> str:
        """Waits a while.

        Args:
            step (int): which step.
        """
        started.append(f"step{step}")
        gate.wait(5)
        return "ok"

    script = [
        Reply(tool_calls=[ToolCall("runner_slow_tool", {"step": 1})]),
        Reply(tool_calls=[ToolCall("runner_slow_tool", {"step": 2})]),
        Reply(text="never"),
    ]
    server = scripted_server_factory(script)
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True)
    view = TappedView(FunctionCallAgent(llm, ["runner_slow_tool"]))
    run = view.ask("go")
    deadline = time.monotonic() + 10
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    run.cancel()
    with pytest.raises(lsw.RunCancelled):
        run.wait(10)
    gate.set()
    assert started == ["step1"], "no tool starts after the cancel"
    assert len(server.requests) == 1, "no new model request after the cancel"
    statuses = {s.kind: s.status for s in run.trace}
    assert statuses == {"agent": "cancelled", "llm": "ok", "tool": "cancelled"}


def test_a_failing_run_ends_in_error_and_raises(scripted_server_factory):
    server = scripted_server_factory([HTTPError(400, "bad request: model 'nope' does not exist")])
    view = TappedView(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True))
    with pytest.raises(lsw.ModelError, match="HTTP 400"):
        view.ask("hi", wait=True, timeout=10)
    run = view.last_run
    assert run.status == "error"
    with pytest.raises(lsw.ModelError):
        _ = run.result
    [state] = view.runs
    assert state["status"] == "error" and "400" in state["error"]["message"]
    [llm_span] = run.trace
    assert llm_span.status == "error"


def test_await_run(weather_agent):
    agent, _ = weather_agent
    view = TappedView(agent)

    async def main():
        return await view.ask(QUERY)

    assert asyncio.run(main()) == ANSWER


def test_wait_timeout_leaves_the_run_going(scripted_server_factory):
    server = scripted_server_factory([Reply(text="a b c d", delay=0.3)])
    run = TappedView(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True)).ask("go")
    with pytest.raises(TimeoutError, match="still running"):
        run.wait(0.2)
    assert run.wait(10) == "a b c d"


def test_a_module_that_ignores_cancel_is_abandoned():
    release = threading.Event()

    def stubborn(query):
        release.wait(20)
        return "late"

    view = TappedView(stubborn)
    run = view.ask("x")
    time.sleep(0.1)
    t0 = time.monotonic()
    run.cancel()
    with pytest.raises(lsw.RunCancelled):
        run.wait(10)
    assert time.monotonic() - t0 < 5
    assert view.runs[-1]["status"] == "cancelled"
    release.set()


def test_plain_function_result_is_kept_when_nothing_streamed():
    view = TappedView(lambda q: f"echo: {q}")
    run = view.ask("hi", wait=True, timeout=10)
    assert run.result == "echo: hi" and run.text == ""
    assert view.runs[0]["result"] == "echo: hi" and view.runs[0]["status"] == "done"


def test_bad_module_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="callable"):
        lsw.StreamView("not an agent", display=False)


def test_repr_is_stable_for_nbval(weather_agent):
    agent, _ = weather_agent
    assert repr(TappedView(agent)) == "StreamView(FunctionCallAgent)"


def test_notices_reach_the_browser_once_and_stay_in_the_final_state():
    release = threading.Event()

    def module(query):
        run = view.last_run
        run.add_notice("nothing was   streamed:\n pass stream=True")  # whitespace folds to one line
        run.add_notice("nothing was streamed: pass stream=True")  # the same notice again is kept once
        release.wait(5)
        return "done"

    view = TappedView(module)
    run = view.ask("q")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("notices" in m for m in view.sent):
        time.sleep(0.01)  # the notice goes out while the run is still going, not only with the final state
    release.set()
    run.wait(5)
    sent = [n for m in view.sent if m.get("type") == "delta" for n in m.get("notices", [])]
    assert sent == ["nothing was streamed: pass stream=True"]
    assert run.notices == sent
    assert view.runs[-1]["notices"] == sent
