"""StreamConsole and the demo's terminal output: the answer streams as flowing text, the trace prints as a tree.

Real scripted model over HTTP, the seed's weather agent; output captured from a stream that records each write.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest
from test_seed_examples import SEED_ANSWER, TimedStdout

import lazystream_widget as lazyllm
from lazystream_widget.console import StreamConsole, plain_tree
from lazystream_widget.testing import weather_responder

QUERY = "What's the weather like today in celsius in Tokyo and Paris."


@pytest.fixture
def agent(scripted_server_factory):
    import lazystream_widget.demo  # noqa: F401  (registers the seed's weather tools)
    from lazystream_widget.tools import FunctionCallAgent

    server = scripted_server_factory(responder=weather_responder, token_delay=0.02)
    llm = lazyllm.OnlineChatModule(stream=True, base_url=server.base_url, model="scripted")
    return FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"])


def test_the_answer_streams_then_the_tree_and_status_print(agent) -> None:
    out = TimedStdout()
    console = StreamConsole(agent, file=out)
    run = console.ask(QUERY)
    assert isinstance(run, lazyllm.Run) and run.status == "done" and run.text == SEED_ANSWER
    printed = "".join(text for _, text in out.writes)
    lines = printed.splitlines()
    assert lines[0] == f"» {QUERY}"
    assert lines[1] == SEED_ANSWER
    # the answer arrived in several pieces over time, not in one block at the end
    answer_writes = [(t, s) for t, s in out.writes if s and s in SEED_ANSWER and s.strip()]
    assert len(answer_writes) >= 3 and answer_writes[-1][0] - answer_writes[0][0] > 0.1, answer_writes
    tree = lines[lines.index("") + 1 : -1]
    assert tree[0].startswith("agent FunctionCallAgent")
    assert tree[1].startswith("├─ llm scripted") and "asks for get_current_weather ×2" in tree[1]
    assert tree[2].startswith("├─ tool get_current_weather(location='Tokyo, Japan', unit='celsius')")
    assert '→ {"location": "Tokyo", "temperature": "10", "unit": "celsius"}' in tree[2]
    assert tree[3].startswith("├─ tool get_current_weather(location='Paris, France'")
    assert tree[4].startswith("└─ llm scripted")
    assert lines[-1].startswith("done · ") and "22 tokens" in lines[-1]


def test_a_failing_run_prints_its_error_and_raises(scripted_server_factory) -> None:
    from lazystream_widget.testing import HTTPError

    server = scripted_server_factory([HTTPError(400, "model 'nope' does not exist")])
    llm = lazyllm.OnlineChatModule(stream=True, base_url=server.base_url, model="nope")
    out = io.StringIO()
    with pytest.raises(lazyllm.ModelError, match="HTTP 400") as info:
        StreamConsole(llm, file=out).ask("hi")
    printed = out.getvalue()
    assert "error · " in printed and "ModelError: " in printed and "does not exist" in printed
    assert info.value is not None


def test_wait_false_returns_at_once_and_prints_in_the_background(agent) -> None:
    out = io.StringIO()
    console = StreamConsole(agent, file=out, trace=False)
    started = time.monotonic()
    run = console.ask(QUERY, wait=False)
    assert time.monotonic() - started < 1.0 and run.status == "running"
    assert run.wait(60) == SEED_ANSWER
    time.sleep(0.2)  # run_finished prints just before wait() returns; give the pump thread a moment
    assert out.getvalue().splitlines()[-1].startswith("done · ") and console.last_run is run


def test_rich_output_without_a_terminal_and_plain_fallback(agent) -> None:
    pytest.importorskip("rich")
    out = io.StringIO()
    StreamConsole(agent, file=out, rich=True).ask(QUERY)
    printed = out.getvalue()
    assert "\x1b[" not in printed  # rich writes no colour codes into a file
    assert "agent FunctionCallAgent" in printed and "tool get_current_weather" in printed


def test_a_plain_function_module_and_bad_arguments() -> None:
    out = io.StringIO()
    run = StreamConsole(lambda q: f"echo {q}", file=out).ask("x")
    assert run.result == "echo x" and "echo x\n" in out.getvalue()
    with pytest.raises(TypeError, match="StreamConsole needs something callable"):
        StreamConsole("not a module")


def test_plain_tree_of_no_spans_is_empty() -> None:
    assert plain_tree([]) == ""


def test_the_demo_shows_a_streaming_answer_and_a_tree(child_env) -> None:
    proc = subprocess.run([sys.executable, "-m", "lazystream_widget.demo", "--token-delay", "0"],
                          capture_output=True, text=True, timeout=90, env=child_env())
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# no endpoint configured: using the embedded scripted model at http://127.0.0.1:")
    assert lines[1] == f"» {QUERY}" and lines[2] == SEED_ANSWER
    assert any(line.startswith("├─ tool get_current_weather(") for line in lines)
    assert lines[-1].startswith("done · ")
    assert not any(line.startswith(("output: ", "trace: {")) for line in lines)  # that is --raw's format
