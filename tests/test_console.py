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
    assert lines[1:3] == ["… calling get_current_weather"] * 2
    assert lines[3] == SEED_ANSWER
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
    assert lines[1] == f"» {QUERY}" and lines[4] == SEED_ANSWER
    assert any(line.startswith("├─ tool get_current_weather(") for line in lines)
    assert lines[-1].startswith("done · ")
    assert not any(line.startswith(("output: ", "trace: {")) for line in lines)  # that is --raw's format


def test_the_demo_fails_with_one_line_and_status_1(child_env) -> None:
    """A wrong endpoint: the tree and the status line say it once each; no Python traceback, exit status 1."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    proc = subprocess.run([sys.executable, "-m", "lazystream_widget.demo"], capture_output=True, text=True,
                          timeout=90, env=child_env(LAZYSTREAM_OPENAI_BASE_URL=refused, LAZYSTREAM_OPENAI_API_KEY="k"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    shown = proc.stdout + proc.stderr
    assert "Traceback" not in shown and "/lazystream_widget/" not in shown, shown
    assert f"cannot reach the model at {refused}" in shown
    assert shown.count("cannot reach the model") <= 2, shown  # the failing llm row and the status line
    assert proc.stdout.splitlines()[-1] == "ModelError: " + shown.split("ModelError: ")[-1].strip()

    full = subprocess.run([sys.executable, "-m", "lazystream_widget.demo", "--traceback"], capture_output=True,
                          text=True, timeout=90, env=child_env(LAZYSTREAM_OPENAI_BASE_URL=refused))
    assert full.returncode == 1 and "Traceback (most recent call last)" in full.stderr, full.stderr


def test_the_demo_names_lazystream_home_when_it_cannot_be_used(child_env, tmp_path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = subprocess.run([sys.executable, "-m", "lazystream_widget.demo", "--token-delay", "0"],
                          capture_output=True, text=True, timeout=90,
                          env=child_env(LAZYSTREAM_HOME=str(blocker / "home")))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("python -m lazystream_widget.demo: QueueHomeError: cannot create the queue home")
    assert "set LAZYSTREAM_HOME to a private directory" in lines[0] and lines[0].endswith("(--traceback shows where)")


def _hide_rich(monkeypatch) -> None:
    """As if rich were not installed: importing it raises ImportError."""
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")] + ["rich", "rich.console"]:
        monkeypatch.setitem(sys.modules, name, None)


def test_rich_true_without_rich_fails_at_construction(monkeypatch) -> None:
    _hide_rich(monkeypatch)
    with pytest.raises(ImportError, match=r'needs rich: pip install "lazystream-widget\[console\]"'):
        StreamConsole(lambda q: q, rich=True)
    StreamConsole(lambda q: q, rich=None, file=io.StringIO()).ask("x")  # optional rich: plain text, no error


def test_a_printer_that_cannot_start_is_the_error_shown_not_a_key_error(monkeypatch) -> None:
    console = StreamConsole(lambda q: "answer", rich=True, file=io.StringIO())
    _hide_rich(monkeypatch)  # rich went away after construction: the first run's printer cannot start
    with pytest.raises(Exception) as info:
        console.ask("x", timeout=30)
    shown = f"{info.value} {info.value.__cause__}"
    assert "needs rich" in shown and "KeyError" not in shown, shown


def test_a_narrow_rich_terminal_wraps_tool_rows_instead_of_cropping_them(agent, monkeypatch) -> None:
    pytest.importorskip("rich")
    monkeypatch.setenv("COLUMNS", "60")
    out = io.StringIO()
    StreamConsole(agent, file=out, rich=True).ask("Give me a 3-day forecast for Tokyo and Paris in celsius.")
    lines = out.getvalue().split("\n\n", 1)[1].splitlines()  # the tree (the answer above flows: the terminal wraps it)
    assert all(len(line) <= 60 for line in lines), [line for line in lines if len(line) > 60]
    tree = " ".join(line.lstrip("│├└─ ").strip() for line in lines)
    for whole in ("location='Paris, France'", "num_days=3", '"temperature": "25"', '"num_days": 3}'):
        assert whole.replace(" ", "") in tree.replace(" ", ""), (whole, out.getvalue())


def test_the_console_says_which_tool_is_called_while_the_model_writes_the_call(agent) -> None:
    out = io.StringIO()
    run = StreamConsole(agent, file=out, rich=False).ask(QUERY)
    lines = out.getvalue().splitlines()
    assert lines[1:3] == ["… calling get_current_weather"] * 2, lines  # one line per call, before the answer
    assert lines[3] == run.text == SEED_ANSWER
    llm = next(s for s in run.trace if s.kind == "llm")
    assert any(e.get("name") == "tool_call" for e in llm.events)  # what the lines come from
