"""Tool faults: a tool that raises, hangs, returns what JSON cannot hold, returns 10 MB, or prints.

What must hold: the model gets a short, clean error or a bounded result (checked in what the scripted server
received), the trace keeps the detail (bounded by the 8 KiB field limit, with the truncation marker), the run
completes, and nothing a tool prints reaches the answer.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import lazystream_widget as lsw
from lazystream_widget.limits import (
    TOOL_ERROR_MAX_CHARS,
    TOOL_RESULT_MAX_CHARS,
    TRACE_FIELD_MAX_BYTES,
    TRUNCATION_MARKER,
)
from lazystream_widget.runner import Run
from lazystream_widget.testing import Reply, ToolCall
from lazystream_widget.tools import FunctionCallAgent, fc_register

from .helpers import RecordingSink, all_bytes, child_env, run_child, wait_until

MARKER_HEAD = TRUNCATION_MARKER.split("{")[0]
ANSWER = "All done."


def _run_tool(server_factory, tool: str, *, args: dict | None = None, timeout: float = 20) -> tuple[Run, Any]:
    """One run of an agent whose model calls ``tool`` once, then answers ANSWER."""
    server = server_factory([Reply(text="Checking. ", tool_calls=[ToolCall(tool, args or {"n": 1})]),
                             Reply(text=ANSWER)])
    agent = FunctionCallAgent(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True), [tool])
    run = Run(agent, "go").start(RecordingSink())
    assert run.wait(timeout) == ANSWER
    assert run.status == "done" and run.text == "Checking. " + ANSWER, "the run must complete"
    return run, server


def _tool_message(server) -> str:
    assert len(server.requests) == 2
    [msg] = [m for m in server.requests[1]["messages"] if m.get("role") == "tool"]
    return msg["content"]


def _tool_span(run: Run):
    [span] = [s for s in run.trace if s.kind == "tool"]
    return span


def _field_bytes(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return len(text.encode("utf-8"))


def _assert_bounded(value: Any) -> None:
    """A trace field is at most 8 KiB plus the marker, and carries the marker when it was cut."""
    marker_room = len(TRUNCATION_MARKER) + 20
    assert _field_bytes(value) <= TRACE_FIELD_MAX_BYTES + marker_room


def _assert_entries_bounded(run: Run) -> None:
    for entry in run.entries:
        # a handful of fields, each bounded: an entry can never carry a tool's megabytes
        assert len(json.dumps(entry, ensure_ascii=False)) < 8 * (TRACE_FIELD_MAX_BYTES + 200)


# --------------------------------------------------------------------------- raises


@fc_register("tool", name="rel_raises")
def rel_raises(n: int) -> str:
    """Fails loudly.

    Args:
        n (int): ignored.
    """
    raise ValueError("\x1b[31mdatabase exploded\x1b[0m: " + "x" * 20_000 + "\nsecond line of the message")


def test_a_raising_tool_gives_the_model_a_short_clean_error_and_the_trace_the_detail(scripted_server_factory,
                                                                                      figures) -> None:
    run, server = _run_tool(scripted_server_factory, "rel_raises")
    content = _tool_message(server)
    assert content.startswith("Error: ValueError: database exploded: xxx")
    assert len(content) <= len("Error: ") + TOOL_ERROR_MAX_CHARS
    assert "\x1b" not in content and "\n" not in content and "Traceback" not in content
    span = _tool_span(run)
    assert span.status == "error" and span.error["type"] == "ValueError"
    assert "Traceback" in span.error["detail"] and "rel_raises" in span.error["detail"]
    assert "\x1b" not in span.error["detail"] + span.error["message"]
    for field in ("message", "detail"):
        _assert_bounded(span.error[field])
        assert MARKER_HEAD in span.error[field], f"the error {field} was cut without the marker"
    _assert_entries_bounded(run)
    figures.add("tool_faults.raises", runs=1, model_error_chars=len(content),
                max_trace_field_bytes=max(_field_bytes(span.error["detail"]), _field_bytes(span.error["message"])))


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("even the message is broken")


@fc_register("tool", name="rel_raises_unprintable")
def rel_raises_unprintable(n: int) -> str:
    """Fails with an exception whose message cannot be computed.

    Args:
        n (int): ignored.
    """
    raise _Unprintable()


def test_a_tool_raising_an_unprintable_exception_does_not_crash_the_run(scripted_server_factory) -> None:
    run, server = _run_tool(scripted_server_factory, "rel_raises_unprintable")
    assert _tool_message(server).startswith("Error: _Unprintable")
    assert _tool_span(run).status == "error"


# --------------------------------------------------------------------------- hangs


@fc_register("tool", name="rel_hangs", timeout=0.5)
def rel_hangs(n: int) -> str:
    """Never answers.

    Args:
        n (int): ignored.
    """
    time.sleep(30)
    return "too late"


def test_a_hanging_tool_is_abandoned_after_its_timeout_and_the_run_completes(scripted_server_factory,
                                                                              figures) -> None:
    t0 = time.monotonic()
    run, server = _run_tool(scripted_server_factory, "rel_hangs")
    elapsed = time.monotonic() - t0
    assert _tool_message(server) == "Error: rel_hangs timed out after 0.5 s and was abandoned"
    span = _tool_span(run)
    assert span.status == "error" and span.error["type"] == "TimeoutError"
    assert 0.5 <= elapsed < 5, f"the run took {elapsed:.1f} s with a 0.5 s tool timeout"
    figures.add("tool_faults.hangs", runs=1, tool_timeout_s=0.5, max_run_s=elapsed)


def test_a_process_with_an_abandoned_hanging_tool_still_exits_promptly(queue_home: Path, scripted_server_factory,
                                                                       figures) -> None:
    """The seed's ``with ThreadPoolExecutor`` block and the interpreter's exit do not wait for an abandoned tool."""
    server = scripted_server_factory([Reply(tool_calls=[ToolCall("stuck", {"n": 1})]), Reply(text="bye")])
    code = f"""
import time
import lazystream_widget as lazyllm
from lazystream_widget.tools import fc_register, FunctionCallAgent

@fc_register("tool", timeout=0.5)
def stuck(n: int) -> str:
    '''Hangs for a minute.

    Args:
        n (int): ignored.
    '''
    time.sleep(60)

llm = lazyllm.OnlineChatModule(base_url={server.base_url!r}, api_key="t", stream=True)
agent = FunctionCallAgent(llm, ["stuck"])
with lazyllm.ThreadPoolExecutor(1) as executor:
    future = executor.submit(agent, "go")
    while True:
        if value := lazyllm.FileSystemQueue().dequeue():
            print("".join(value), end="")
        elif future.done():
            break
print()
"""
    t0 = time.monotonic()
    proc = run_child(code, child_env(queue_home), timeout=30)
    elapsed = time.monotonic() - t0
    assert proc.stdout.strip() == "bye"
    assert elapsed < 15, f"the process took {elapsed:.1f} s to exit: it waited for the abandoned tool"
    figures.add("tool_faults.hang_at_exit", runs=1, max_process_s=elapsed)


# --------------------------------------------------------------------------- abandoned tools are counted

_RELEASE_HUNG = threading.Event()


@fc_register("tool", name="rel_hangs_until_released", timeout=0.3)
def rel_hangs_until_released(n: int) -> str:
    """Hangs until the test lets it go.

    Args:
        n (int): ignored.
    """
    _RELEASE_HUNG.wait(60)
    return "released"


def test_abandoned_tool_threads_are_counted_in_the_trace_and_the_run_notices(scripted_server_factory,
                                                                              monkeypatch, figures) -> None:
    from lazystream_widget import limits

    _RELEASE_HUNG.clear()
    monkeypatch.setattr(limits, "TOOL_ABANDONED_WARN_AT", 2, raising=False)  # two abandoned threads: a warning
    mine = "rel_hangs_until_released"
    calls = [ToolCall(mine, {"n": i}) for i in range(2)]
    server = scripted_server_factory([Reply(tool_calls=calls), Reply(text=ANSWER)])
    agent = FunctionCallAgent(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True), [mine])
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = Run(agent, "go").start(RecordingSink())
            assert run.wait(20) == ANSWER
        # the trace: each abandoned tool's span says so, with the process-wide count at that moment
        spans = [s for s in run.trace if s.kind == "tool"]
        assert len(spans) == 2
        for sp in spans:
            assert sp.status == "error" and sp.attrs.get("abandoned") is True
            assert [e["name"] for e in sp.events] == ["abandoned"]
        first, second = sorted(s.attrs["abandoned_tool_threads"] for s in spans)
        assert first >= 1 and second >= 2
        # the widget: the run's notices (sent live, kept in its final state)
        abandon_notes = [n for n in run.notices if "was abandoned" in n]
        assert len(abandon_notes) == 2 and all(mine in n for n in abandon_notes)
        assert run.state()["notices"] == run.notices
        assert any("subprocess" in n and "killable-tools" in n for n in run.notices), "past the bound: the advice"
        from lazystream_widget.runtime import abandoned

        assert any(issubclass(w.category, abandoned.AbandonedToolsWarning) for w in caught)
        assert abandoned.running_tools().count(mine) == 2, "both hung tools are counted while their threads live"
    finally:
        _RELEASE_HUNG.set()
    wait_until(lambda: mine not in abandoned.running_tools(), timeout=10)  # they returned: no longer counted
    figures.add("tool_faults.abandoned_counted", runs=1, abandoned=2, warned=1)


def test_the_killable_tool_example_of_the_docs_stops_a_hung_child(scripted_server_factory) -> None:
    """The subprocess pattern of docs/killable-tools.md, run as written, with a child that hangs."""
    from lazystream_widget.runtime import abandoned

    doc = (Path(__file__).resolve().parents[2] / "docs" / "killable-tools.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(example, "docs/killable-tools.md", "exec"), namespace)
    marker = f"lsw-hung-child-{os.getpid()}"
    namespace["LOOKUP_CMD"] = [sys.executable, "-c", "import time, sys; time.sleep(60)", marker]
    namespace["LOOKUP_TIMEOUT_S"] = 0.5
    total_before = abandoned.total()
    server = scripted_server_factory([Reply(tool_calls=[ToolCall("slow_lookup", {"city": "Paris"})]),
                                      Reply(text=ANSWER)])
    agent = FunctionCallAgent(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True),
                              ["slow_lookup"])
    t0 = time.monotonic()
    run = Run(agent, "go").start(RecordingSink())
    assert run.wait(20) == ANSWER
    assert time.monotonic() - t0 < 10
    assert _tool_message(server) == "Error: the lookup took longer than 0.5 s and was stopped"
    assert abandoned.total() == total_before and "slow_lookup" not in abandoned.running_tools(), \
        "nothing was abandoned: the tool returned in time"
    assert not [p for p in Path("/proc").glob("[0-9]*") if marker.encode() in _cmdline(p)], "the child is gone"


def _cmdline(proc_dir: Path) -> bytes:
    try:
        return (proc_dir / "cmdline").read_bytes()
    except OSError:
        return b""


# --------------------------------------------------------------------------- odd results


class _Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


class _Exploding:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    __str__ = __repr__


_cyclic: list[Any] = []
_cyclic.append(_cyclic)

ODD_RESULTS = {
    "set_and_object": ({"ids": {3}, "thing": _Opaque()}, '{"ids": "{3}", "thing": "<Opaque thing>"}'),
    "bytes": (b"\xff\x00raw", "\"b'\\\\xff\\\\x00raw'\""),
    "datetime": (datetime.datetime(2024, 5, 1, 12, 0), '"2024-05-01 12:00:00"'),
    "none": (None, "null"),
    "nan": (float("nan"), "NaN"),
    "cyclic": (_cyclic, "[[...]]"),
    "unprintable": (_Exploding(), "<unprintable _Exploding result>"),
    "lone_surrogate": ("ok \ud800 then", "ok ? then"),  # would make the next request fail to encode
}
_ODD: list[Any] = [None]


@fc_register("tool", name="rel_odd")
def rel_odd(n: int) -> Any:
    """Returns something odd.

    Args:
        n (int): ignored.
    """
    return _ODD[0]


@pytest.mark.parametrize("case", list(ODD_RESULTS))
def test_a_tool_result_json_cannot_hold_reaches_the_model_as_text_and_the_run_completes(scripted_server_factory,
                                                                                      case: str) -> None:
    value, expected = ODD_RESULTS[case]
    _ODD[0] = value
    run, server = _run_tool(scripted_server_factory, "rel_odd")
    content = _tool_message(server)
    assert content == expected
    span = _tool_span(run)
    assert span.status == "ok"
    json.dumps(span.output)  # the trace holds plain JSON


# --------------------------------------------------------------------------- 10 MB


@fc_register("tool", name="rel_huge")
def rel_huge(n: int) -> str:
    """Returns ten megabytes.

    Args:
        n (int): ignored.
    """
    return "0123456789" * 1_048_576


def test_a_ten_megabyte_result_is_bounded_for_the_model_and_the_trace(scripted_server_factory, queue_home: Path,
                                                                      figures) -> None:
    run, server = _run_tool(scripted_server_factory, "rel_huge")
    content = _tool_message(server)
    assert content.startswith("0123456789" * 100)
    assert TOOL_RESULT_MAX_CHARS <= len(content) <= TOOL_RESULT_MAX_CHARS + 100
    assert "10485760 characters" in content, "the model is told the result was cut"
    span = _tool_span(run)
    _assert_bounded(span.output)
    assert MARKER_HEAD in span.output and "10485760 bytes in all" in span.output
    _assert_entries_bounded(run)
    llm_inputs = [s.input for s in run.trace if s.kind == "llm"]
    for value in llm_inputs:
        _assert_bounded(value)
    figures.add("tool_faults.ten_megabytes", runs=1, result_bytes=10 * 1_048_576, to_model_chars=len(content),
                max_trace_field_bytes=_field_bytes(span.output))


# --------------------------------------------------------------------------- prints


@fc_register("tool", name="rel_chatty")
def rel_chatty(n: int) -> str:
    """Prints a lot.

    Args:
        n (int): ignored.
    """
    print("TOOL-STDOUT-LINE " * 20)
    print("TOOL-STDERR-LINE \x1b[31mred\x1b[0m", file=sys.stderr)
    sys.stdout.flush()
    return "quiet result"


def test_what_a_tool_prints_never_reaches_the_answer_the_model_or_the_queues(scripted_server_factory, capfd,
                                                                            queue_home: Path) -> None:
    server = scripted_server_factory([Reply(text="Checking. ", tool_calls=[ToolCall("rel_chatty", {"n": 1})]),
                                      Reply(text=ANSWER, delay=0.01)])
    agent = FunctionCallAgent(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True),
                              ["rel_chatty"])
    seen_on_disk = bytearray()
    run = Run(agent, "go").start(RecordingSink())
    while not run.done():  # look at the queue files while they exist
        seen_on_disk += all_bytes(queue_home)
        time.sleep(0.005)
    assert run.wait(10) == ANSWER
    assert run.text == "Checking. " + ANSWER
    assert _tool_message(server) == "quiet result"
    everything = json.dumps(run.state()) + json.dumps(server.requests)
    assert "TOOL-STDOUT" not in everything and "TOOL-STDERR" not in everything
    assert b"TOOL-STD" not in bytes(seen_on_disk)
    out, err = capfd.readouterr()
    assert "TOOL-STDOUT-LINE" in out and "TOOL-STDERR-LINE" in err, "prints go where the process prints, unchanged"
