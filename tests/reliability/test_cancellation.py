"""Cancellation: during the first token, mid-answer, during a tool call, during parallel tool calls.

A cancelled run closes its HTTP stream (the scripted server records the client's hang-up), starts no new tool and no
new model request, closes every span it opened, and ends as ``cancelled`` promptly with its partial answer kept.
Bounds are generous (seconds): the contract is about behaviour, not speed.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import lazystream_widget as lsw
from lazystream_widget.runner import CANCEL_GRACE_S, Run
from lazystream_widget.testing import HTTPError, Reply, ToolCall
from lazystream_widget.tools import FunctionCallAgent, fc_register

from .helpers import RecordingSink, wait_until

PROMPT_S = 3.0  # "promptly": a cancelled run has ended within this many seconds

_started: list[str] = []
_release = threading.Event()


@fc_register("tool", name="rel_blocking")
def rel_blocking(step: str) -> str:
    """Blocks until released.

    Args:
        step (str): a label.
    """
    _started.append(step)
    _release.wait(20)
    return f"{step} done"


@pytest.fixture(autouse=True)
def _reset_tools():
    _started.clear()
    _release.clear()
    yield
    _release.set()  # let abandoned tool threads end


def _cancel_and_wait(run: Run, sink: RecordingSink) -> float:
    t0 = time.monotonic()
    assert run.cancel() is True
    with pytest.raises(lsw.RunCancelled):
        run.wait(10)
    elapsed = time.monotonic() - t0
    assert run.status == "cancelled" and sink.finished.is_set()
    assert run.state()["status"] == "cancelled"
    assert elapsed < PROMPT_S, f"the cancel took {elapsed:.2f} s"
    for span in run.trace:
        assert span.status != "running", f"span {span.name} ({span.kind}) left open by the cancel"
    return elapsed


def _agent(server, tools=("rel_blocking",)):
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True)
    return FunctionCallAgent(llm, list(tools))


def test_cancel_while_waiting_for_the_first_token_closes_the_stream(scripted_server_factory, figures) -> None:
    server = scripted_server_factory([Reply(text="too late", first_delay=15)])
    sink = RecordingSink()
    run = Run(_agent(server), "go").start(sink)
    wait_until(lambda: len(server.requests) == 1)
    time.sleep(0.5)  # the response headers are in; the first token is 15 s away
    elapsed = _cancel_and_wait(run, sink)
    assert server.wait_for("disconnect", timeout=5), "the HTTP stream was not closed"
    assert run.text == "" and len(server.requests) == 1
    assert {s.kind: s.status for s in run.trace} == {"agent": "cancelled", "llm": "cancelled"}
    figures.add("cancel.first_token", runs=1, max_s=elapsed)


def test_cancel_mid_answer_keeps_the_partial_answer_and_closes_the_stream(scripted_server_factory, figures) -> None:
    server = scripted_server_factory([Reply(text="word " * 500, delay=0.01)])
    sink = RecordingSink()
    run = Run(_agent(server), "go").start(sink)
    wait_until(lambda: len(run.text) >= 50)
    elapsed = _cancel_and_wait(run, sink)
    assert server.wait_for("disconnect", timeout=5)
    assert 50 <= len(run.text) < len("word " * 500) and ("word " * 500).startswith(run.text)
    assert "".join(sink.text) == run.text
    figures.add("cancel.mid_answer", runs=1, max_s=elapsed)


def test_cancel_during_a_tool_call_starts_no_new_tool_and_no_new_request(scripted_server_factory, figures) -> None:
    script = [Reply(text="Step one. ", tool_calls=[ToolCall("rel_blocking", {"step": "one"})]),
              Reply(tool_calls=[ToolCall("rel_blocking", {"step": "two"})]),
              Reply(text="never")]
    server = scripted_server_factory(script)
    sink = RecordingSink()
    run = Run(_agent(server), "go").start(sink)
    wait_until(lambda: _started)
    elapsed = _cancel_and_wait(run, sink)
    _release.set()
    time.sleep(0.3)  # give a wrongly continuing run the chance to start something
    assert _started == ["one"], "a tool started after the cancel"
    assert len(server.requests) == 1, "a model request was sent after the cancel"
    assert run.text == "Step one. "
    statuses = sorted((s.kind, s.status) for s in run.trace)
    assert statuses == [("agent", "cancelled"), ("llm", "ok"), ("tool", "cancelled")]
    figures.add("cancel.during_tool", runs=1, max_s=elapsed)


def test_cancel_during_parallel_tool_calls_closes_every_tool_span(scripted_server_factory, figures) -> None:
    calls = [ToolCall("rel_blocking", {"step": f"p{i}"}) for i in range(4)]
    script = [Reply(tool_calls=calls), Reply(tool_calls=[ToolCall("rel_blocking", {"step": "later"})]),
              Reply(text="never")]
    server = scripted_server_factory(script)
    sink = RecordingSink()
    run = Run(_agent(server), "go").start(sink)
    wait_until(lambda: len(_started) == 4)
    elapsed = _cancel_and_wait(run, sink)
    _release.set()
    time.sleep(0.3)
    assert sorted(_started) == ["p0", "p1", "p2", "p3"], "a tool started after the cancel"
    assert len(server.requests) == 1
    tools = [s for s in run.trace if s.kind == "tool"]
    assert len(tools) == 4 and all(s.status == "cancelled" for s in tools)
    figures.add("cancel.parallel_tools", runs=1, tools_closed=4, max_s=elapsed)


def test_cancel_between_two_tool_turns_sends_nothing_more(scripted_server_factory) -> None:
    """A cancel that lands while the second model turn streams: that stream closes, its tool call never runs."""
    script = [Reply(tool_calls=[ToolCall("rel_blocking", {"step": "one"})]),
              Reply(text="thinking " * 300, delay=0.01, tool_calls=[ToolCall("rel_blocking", {"step": "two"})])]
    server = scripted_server_factory(script)
    _release.set()  # the first tool returns at once
    sink = RecordingSink()
    run = Run(_agent(server), "go").start(sink)
    wait_until(lambda: len(server.requests) == 2 and len(run.text) > 20)
    _cancel_and_wait(run, sink)
    assert server.wait_for("disconnect", timeout=5)
    assert _started == ["one"] and len(server.requests) == 2


def test_a_kernel_interrupt_while_waiting_cancels_the_run(scripted_server_factory) -> None:
    """A kernel interrupt (SIGINT) while a cell blocks in ``run.wait()`` cancels the run cleanly, then re-raises."""
    server = scripted_server_factory([Reply(text="word " * 500, delay=0.01)])
    sink = RecordingSink()
    run = Run(_agent(server), "go").start(sink)
    wait_until(lambda: run.text)
    armed = threading.Event()

    def on_sigint(signum, frame):  # raise only inside the block below, never into pytest itself
        if armed.is_set():
            armed.clear()
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    timer = threading.Timer(0.2, os.kill, args=(os.getpid(), signal.SIGINT))
    try:
        with pytest.raises(KeyboardInterrupt):
            armed.set()
            timer.start()
            run.wait(20)
    finally:
        armed.clear()
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert run.done() and run.status == "cancelled" and sink.finished.is_set()
    assert server.wait_for("disconnect", timeout=5)
    assert 0 < len(run.text) < len("word " * 500)


@pytest.mark.xfail(strict=True, reason=(
    "known limitation: a cancel that lands before the model's response headers arrive cannot interrupt the "
    "blocked HTTP request (the openai/httpx sync client offers no per-request abort and the socket is not reachable "
    "yet); the run still ends as cancelled within CANCEL_GRACE_S, but the connection stays open until the server "
    "answers or the read timeout passes"))
def test_cancel_before_the_response_headers_closes_the_connection(scripted_server_factory) -> None:
    server = scripted_server_factory([HTTPError(503, first_delay=8)])  # headers held back 8 s
    sink = RecordingSink()
    run = Run(_agent(server), "go").start(sink)
    wait_until(lambda: len(server.requests) == 1)
    t0 = time.monotonic()
    run.cancel()
    with pytest.raises(lsw.RunCancelled):
        run.wait(10)
    assert time.monotonic() - t0 < CANCEL_GRACE_S + 1.5 and run.status == "cancelled"  # this part holds
    assert server.wait_for("disconnect", timeout=1), "the connection is still open"  # this part does not
