"""The seed's two examples (``lazystream_widget/demo.py``: the seed's code with only the imports changed), run as
written against the scripted model, in the OnlineChatModule and the TrainableModule forms."""

from __future__ import annotations

import contextlib
import json
import shlex
import subprocess
import sys
import time

import pytest

from lazystream_widget.testing import weather_responder

pytestmark = pytest.mark.backends("file", "redis")  # the runtime suite on both queue backends

SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."
TOKEN_DELAY = 0.02


class TimedStdout:
    """A stdout that records when each piece of text was written."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        self.writes.append((time.monotonic(), text))
        return len(text)

    def flush(self) -> None:
        pass

    def lines(self) -> list[tuple[float, str]]:
        """(time the line was finished, line) for each line printed."""
        out: list[tuple[float, str]] = []
        pending = ""
        for at, text in self.writes:
            pending += text
            while "\n" in pending:
                line, pending = pending.split("\n", 1)
                out.append((at, line))
        return out


def run_example(name: str, form: str) -> list[tuple[float, str]]:
    import lazystream_widget.demo as demo

    stdout = TimedStdout()
    with contextlib.redirect_stdout(stdout):
        getattr(demo, name)(form)
    return stdout.lines()


def parse(lines: list[tuple[float, str]]) -> tuple[list[tuple[float, str]], list[list[str]], list[str]]:
    """Split the printed lines into (timed output tokens, trace prints as their lines, ret lines)."""
    outputs: list[tuple[float, str]] = []
    traces: list[list[str]] = []
    rets: list[str] = []
    current: list[str] | None = None
    for at, line in lines:
        if line.startswith("output: "):
            outputs.append((at, line[len("output: "):]))
            current = None
        elif line.startswith("trace: "):
            current = [line[len("trace: "):]]
            traces.append(current)
        elif line.startswith("ret: "):
            rets.append(line[len("ret: "):])
            current = None
        elif current is not None:  # the rest of a trace print: its other entries, then a blank line
            current.append(line)
        else:
            raise AssertionError(f"unexpected line {line!r}")
    return outputs, traces, rets


@pytest.fixture(params=["online", "trainable"])
def form(request, scripted_server_factory, monkeypatch) -> str:
    if request.param == "online":
        server = scripted_server_factory(responder=weather_responder, token_delay=TOKEN_DELAY)
        monkeypatch.setenv("LAZYSTREAM_OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("LAZYSTREAM_OPENAI_API_KEY", "test-key")
    else:
        cmd = (f"{shlex.quote(sys.executable)} -m lazystream_widget.testing serve --port {{port}} "
               f"--responder weather --token-delay {TOKEN_DELAY}")
        monkeypatch.setenv("LAZYSTREAM_TRAINABLE_CMD", cmd)
    return request.param


def check_streamed_answer(outputs: list[tuple[float, str]], rets: list[str], ret_at: float) -> None:
    assert rets == [SEED_ANSWER]
    tokens = [text for _, text in outputs]
    assert "".join(tokens) == SEED_ANSWER
    assert len(tokens) >= 10  # several output lines, as in the seed's transcript
    # streamed while the agent ran: the lines came over time, not in one burst at the end
    times = [at for at, _ in outputs]
    assert times[-1] - times[0] > 0.2, "the output lines all came at once"
    assert sum(1 for at in times if at < ret_at - 0.15) >= 5


def test_quick_start(form: str) -> None:
    lines = run_example("quick_start", form)
    outputs, traces, rets = parse(lines)
    assert traces == []
    ret_at = next(at for at, line in lines if line.startswith("ret: "))
    check_streamed_answer(outputs, rets, ret_at)


def test_intermediate_log_output(form: str) -> None:
    lines = run_example("intermediate_log_output", form)
    outputs, traces, rets = parse(lines)
    ret_at = next(at for at, line in lines if line.startswith("ret: "))
    check_streamed_answer(outputs, rets, ret_at)
    assert traces, "no trace: lines"
    entries = []
    for printed in traces:
        lines_of_print = [line for line in printed if line]
        assert lines_of_print
        for line in lines_of_print:
            entry = json.loads(line)  # every line of every trace print is one JSON entry
            assert isinstance(entry, dict)
            entries.append(entry)
    assert {e["kind"] for e in entries} == {"agent", "llm", "tool"}
    assert sorted(e["seq"] for e in entries) == list(range(1, len(entries) + 1))  # none lost
    ends = [e for e in entries if e["event"] == "end"]
    assert len(ends) == len([e for e in entries if e["event"] == "start"]) == 5  # agent, 2 llm, 2 tools
    agent_end = next(e for e in ends if e["kind"] == "agent")
    assert agent_end["output"] == SEED_ANSWER and agent_end["status"] == "ok"
    tools = [e for e in entries if e["kind"] == "tool" and e["event"] == "start"]
    assert [t["input"]["location"] for t in tools] == ["Tokyo, Japan", "Paris, France"]


def test_the_demo_runs_as_a_script() -> None:
    proc = subprocess.run([sys.executable, "-m", "lazystream_widget.demo", "--raw", "--token-delay", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rets = [line for line in proc.stdout.splitlines() if line.startswith("ret: ")]
    assert rets == [f"ret: {SEED_ANSWER}"] * 2
    assert any(line.startswith("trace: {") for line in proc.stdout.splitlines())
