"""What the trace carries for the widget: streamed tool-call arguments (coalesced), the places in
``run.text`` each llm span wrote, prices and per-message token counts; roll-ups on the Python side."""

from __future__ import annotations

import json
import threading
import time

import pytest

import lazystream_widget as lsw
from lazystream_widget import FileSystemQueue, ThreadPoolExecutor, session
from lazystream_widget.limits import TOOL_CALL_EVENT_INTERVAL_S, TOOL_CALL_STREAM_MAX_CHARS
from lazystream_widget.protocol import ATTR_TEXT_RANGES, ATTR_THINKING_RANGES, TOOL_CALL_EVENT
from lazystream_widget.runner import Run
from lazystream_widget.runtime.text_offsets import TextRanges
from lazystream_widget.testing import Reply, ScriptedServer, ToolCall
from lazystream_widget.tools import FunctionCallAgent, fc_register


@fc_register("tool")
def look_up(city: str, note: str = "") -> str:
    """
    Look a city up.

    Args:
        city (str): The city.
        note (str): A note.
    """
    return f"{city}: sunny"


def agent_on(server: ScriptedServer) -> FunctionCallAgent:
    llm = lsw.OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
    return FunctionCallAgent(llm, ["look_up"])


def test_tool_call_arguments_stream_as_a_few_coalesced_events_per_call() -> None:
    note = "n" * 400  # ~40 fragments of 10 characters, 20 ms apart: ~0.8 s of streaming per call
    replies = [
        Reply(tool_calls=[ToolCall("look_up", {"city": "Paris", "note": note}, id="c1"),
                          ToolCall("look_up", {"city": "Tokyo", "note": note}, id="c2")], delay=0.02),
        Reply(text="Both sunny.", delay=0.0),
    ]
    with ScriptedServer(replies) as server:
        run = Run(agent_on(server), "weather?").start()
        assert run.wait(60) == "Both sunny."
    events = [e for e in run.entries if isinstance(e, dict) and e.get("name") == TOOL_CALL_EVENT]
    for call_id, city in (("c1", "Paris"), ("c2", "Tokyo")):
        mine = [e for e in events if e["attrs"]["call_id"] == call_id]
        # the argument text, rebuilt from the events, is exactly what the model sent
        text = ""
        for e in mine:
            assert e["attrs"]["offset"] == len(text), "each event continues where the previous ended"
            text += e["attrs"]["delta"]
        assert json.loads(text) == {"city": city, "note": note}
        assert mine[-1]["attrs"].get("done") is True and all(not e["attrs"].get("done") for e in mine[:-1])
        assert mine[0]["attrs"]["tool"] == "look_up" and mine[0]["kind"] == "llm"
        # coalesced: ~0.8 s of fragments at most one event per interval (+ the first and the last)
        span = mine[-1]["ts"] - mine[0]["ts"]
        assert 2 <= len(mine) <= span / TOOL_CALL_EVENT_INTERVAL_S + 3, (len(mine), span)
        assert len(mine) < 40 / 3, "far fewer events than fragments"
    # the tool spans that ran the calls carry the same call ids (the widget merges the nodes)
    tools = [s for s in run.trace if s.kind == "tool"]
    assert sorted(s.attrs["call_id"] for s in tools) == ["c1", "c2"]


def test_very_long_arguments_stop_streaming_at_the_bound_and_say_so() -> None:
    big = "x" * (TOOL_CALL_STREAM_MAX_CHARS + 5000)
    replies = [Reply(tool_calls=[ToolCall("look_up", {"city": "Rome", "note": big}, id="c1")], delay=0.0),
               Reply(text="ok", delay=0.0)]
    with ScriptedServer(replies) as server:
        run = Run(agent_on(server), "q").start()
        run.wait(60)
    events = [e for e in run.entries if isinstance(e, dict) and e.get("name") == TOOL_CALL_EVENT]
    assert sum(len(e["attrs"]["delta"]) for e in events) == TOOL_CALL_STREAM_MAX_CHARS
    last = events[-1]["attrs"]
    assert last["done"] and last["cut"] and last["total"] == len(json.dumps({"city": "Rome", "note": big}))


@pytest.mark.parametrize("unit", ["x", "é\n\x01€"], ids=["ascii", "multi-byte-and-escaped"])
def test_arguments_that_piled_up_go_as_several_whole_events_never_one_cut_event(read_trace, unit: str) -> None:
    """All the argument text arrives between two events (a fast stream, or a client behind on a busy machine):
    each event must still fit the trace's field bound, or the bound cuts its delta and the rebuilt text is
    wrong. Regression: one ~8 KiB event was cut, 50 characters lost and a marker put in their place."""
    from lazystream_widget.runtime.tool_stream import ToolCallStream
    from lazystream_widget.runtime.trace import Span

    arguments = json.dumps({"note": unit * TOOL_CALL_STREAM_MAX_CHARS}, ensure_ascii=False)
    with session() as s:
        span = Span("llm", "llm", None, s.id)
        span.start()
        calls = ToolCallStream(span)
        # the stream's tool-call deltas as the SSE decoder hands them over (dicts of the wire JSON)
        calls.feed([{"index": 0, "id": "c1", "function": {"name": "look_up"}}])
        calls.feed([{"index": 0, "function": {"arguments": arguments}}])
        calls.close()
        events = [e["attrs"] for e in read_trace() if e.get("name") == TOOL_CALL_EVENT]
    text = ""
    for attrs in events:
        assert attrs["offset"] == len(text) and "[truncated" not in attrs["delta"]
        text += attrs["delta"]
    assert text == arguments[:TOOL_CALL_STREAM_MAX_CHARS]
    assert [bool(a.get("done")) for a in events] == [False] * (len(events) - 1) + [True]
    assert events[-1]["cut"] is True and events[-1]["total"] == len(arguments)


def test_the_seed_loop_prints_a_few_readable_lines_per_tool_call(scripted_server_factory) -> None:
    """The seed's own consumer loop: tool-call arguments add a handful of trace lines, each one JSON object."""
    server = scripted_server_factory([
        Reply(tool_calls=[ToolCall("look_up", {"city": "Oslo", "note": "m" * 300}, id="c1")], delay=0.01),
        Reply(text="Cold.", delay=0.0),
    ])
    llm = lsw.OnlineChatModule(base_url=server.base_url, model="scripted", stream=True, return_trace=True)
    agent = FunctionCallAgent(llm, ["look_up"], return_trace=True)
    lines: list[str] = []
    with ThreadPoolExecutor(1) as executor:
        future = executor.submit(agent, "weather in Oslo?")
        while True:
            if FileSystemQueue().dequeue():
                continue
            elif value := FileSystemQueue().get_instance("lazy_trace").dequeue():
                lines.extend("".join(value).splitlines())
            elif future.done():
                break
    assert future.result() == "Cold."
    parsed = [json.loads(line) for line in lines]
    calls = [e for e in parsed if e.get("name") == TOOL_CALL_EVENT]
    assert 2 <= len(calls) <= 6, [c["attrs"]["offset"] for c in calls]
    assert all(len(line) < 2000 for line in lines)


def test_llm_spans_record_where_their_text_sits_in_run_text() -> None:
    replies = [
        Reply(text="Let me look. ", reasoning="Think about Paris. ",
              tool_calls=[ToolCall("look_up", {"city": "Paris"})], delay=0.0),
        Reply(text="Paris is sunny, 😀 as always.", reasoning="Now answer.", delay=0.0),
    ]
    with ScriptedServer(replies) as server:
        run = Run(agent_on(server), "q").start()
        run.wait(60)
    llms = [s for s in run.trace if s.kind == "llm"]
    text, thinking = run.text, run.thinking
    assert text == "Let me look. Paris is sunny, 😀 as always."
    got = ["".join(text[a:b] for a, b in s.attrs[ATTR_TEXT_RANGES]) for s in llms]
    assert got == ["Let me look. ", "Paris is sunny, 😀 as always."]
    thought = ["".join(thinking[a:b] for a, b in s.attrs[ATTR_THINKING_RANGES]) for s in llms]
    assert thought == ["Think about Paris. ", "Now answer."]


def test_offsets_stay_right_with_several_writers_in_one_session() -> None:
    """Threads writing to one session's answer stream at once: each writer's recorded ranges hold its own text."""
    results: dict[int, TextRanges] = {}
    q: FileSystemQueue

    barrier = threading.Barrier(4)

    def writer(i: int) -> None:
        at = TextRanges()
        barrier.wait()
        for k in range(200):
            piece = f"<{i}:{k}>"
            at.add(q.enqueue_at(piece), len(piece))
            if k % 20 == 19:
                time.sleep(0.001)  # let the others in: the writes interleave
        results[i] = at

    with session() as s:
        q = FileSystemQueue(session=s)  # plain threads have no session of their own: bind the queue to it
        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        text = "".join(q.dequeue())
    checked = 0
    for i, at in results.items():
        ranges = at.ranges()
        if ranges is None:  # interleaved more than TEXT_RANGES_MAX times: no offsets rather than wrong ones
            continue
        checked += 1
        assert "".join(text[a:b] for a, b in ranges) == "".join(f"<{i}:{k}>" for k in range(200))
    print(f"writers with offsets: {checked} of 4, {[len(r.ranges() or []) for r in results.values()]} ranges each")
    assert checked >= 1
    assert max(len(r.ranges() or [[0, 0]] * 99) for r in results.values()) > 1, "the writes did not interleave"
    assert len(results) == 4 and len(text) == sum(len(f"<{i}:{k}>") for i in range(4) for k in range(200))


def test_text_ranges_merge_neighbours_and_give_up_past_the_bound() -> None:
    r = TextRanges()
    r.add(0, 3)
    r.add(3, 2)
    r.add(10, 1)
    assert r.ranges() == [[0, 5], [10, 11]]
    r2 = TextRanges()
    for i in range(100):
        r2.add(i * 2, 1)
    assert r2.ranges() is None


def test_the_run_state_carries_prices_and_currency_for_the_widget() -> None:
    lsw.configure(prices={"scripted": (1.0, 2.0)}, currency="€")
    with ScriptedServer([Reply(text="hi", delay=0.0)]) as server:
        llm = lsw.OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
        run = Run(llm, "q").start()
        run.wait(30)
    state = run.state()
    assert state["prices"] == {"scripted": [1.0, 2.0]} and state["currency"] == "€"
    usage = run.usage
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert run.cost == pytest.approx((usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 2.0) / 1e6)
    lsw.configure(prices=None)
    with ScriptedServer([Reply(text="hi", delay=0.0)]) as server:
        llm = lsw.OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
        run2 = Run(llm, "q").start()
        run2.wait(30)
    assert "prices" not in run2.state() and run2.cost is None


def test_a_cancelled_runs_elapsed_time_ends_when_its_work_ended() -> None:
    """The run's end is the end of its work, not the moment the pump next looked (up to its wait later)."""
    with ScriptedServer([Reply(text=" ".join(["w"] * 400), delay=0.02)]) as server:
        llm = lsw.OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
        run = Run(llm, "q").start()
        deadline = time.monotonic() + 20
        while not run.text and time.monotonic() < deadline:
            time.sleep(0.02)
        run.cancel()
        with pytest.raises(lsw.RunCancelled):
            run.wait(20)
    top = run.trace[0]
    assert top.status == "cancelled"
    # the run ends within a short moment of its top span (generous: a busy 2-core machine)
    assert 0 <= run.ended_at - top.ended_at < 0.15, run.ended_at - top.ended_at
