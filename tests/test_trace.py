"""Trace spans in the ``lazy_trace`` queue: entry format, sequence numbers, nesting, truncation, errors, modules."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.limits import TRACE_FIELD_MAX_BYTES, TRUNCATION_MARKER
from lazystream_widget.protocol import TRACE_VERSION, parse_entry
from lazystream_widget.runtime.cancel import RunCancelled
from lazystream_widget.runtime.module import ModuleBase
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import session
from lazystream_widget.runtime.trace import error_info, set_trace_everything, span, start_span


def test_a_span_writes_a_start_and_an_end_entry(read_trace) -> None:
    with session():
        with span("work", "module", input={"question": "why?"}, attrs={"model": "m"}) as sp:
            sp.end({"answer": 42})
        entries = read_trace()
    assert [e["event"] for e in entries] == ["start", "end"]
    start, end = entries
    assert start["v"] == end["v"] == TRACE_VERSION
    assert start["span"] == end["span"] == sp.id and len(sp.id) == 16
    assert start["parent"] is None and start["name"] == "work" and start["kind"] == "module"
    assert start["input"] == {"question": "why?"} and start["attrs"] == {"model": "m"}
    assert end["output"] == {"answer": 42} and end["status"] == "ok" and end["error"] is None
    assert end["duration_ms"] >= 0 and end["ts"] >= start["ts"]
    assert end["seq"] == start["seq"] + 1


def test_an_entry_is_one_json_line_even_with_newlines_in_values() -> None:
    with session():
        with span("multi\nline", "module", input="a\nb\r\nc\u2028d\x85e\u2029f") as sp:
            sp.end("x\ny")
        raw = FileSystemQueue("lazy_trace").dequeue()
    assert len(raw) == 2
    for line in raw:
        assert line.endswith("\n") and line.count("\n") == 1
        entry = parse_entry(line)
        assert isinstance(entry, dict)
    # the seed's loop prints ''.join(value): that is one parseable line per entry
    assert [parse_entry(line)["event"] for line in "".join(raw).splitlines(keepends=True)] == ["start", "end"]


def test_seq_is_gap_free_and_increasing_across_threads(read_trace) -> None:
    n_threads, per_thread = 8, 40
    with session():
        with lazyllm.ThreadPoolExecutor(n_threads) as pool:
            barrier = threading.Barrier(n_threads)

            def work(t: int) -> None:
                barrier.wait()
                for i in range(per_thread):
                    with span(f"t{t}-{i}", "module"):
                        pass

            for f in [pool.submit(work, t) for t in range(n_threads)]:
                f.result()
        entries = read_trace()
    assert len(entries) == n_threads * per_thread * 2
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))


def test_seq_stays_gap_free_with_a_second_process_writing(read_trace, child_env) -> None:
    code = """
from lazystream_widget.runtime.trace import span
for i in range(150):
    with span(f"child-{i}", "module"):
        pass
"""
    with session() as s:
        child = subprocess.Popen([sys.executable, "-c", code], env=child_env(s.id), stderr=subprocess.PIPE, text=True)
        mine = 0
        while child.poll() is None or mine < 150:
            with span(f"parent-{mine}", "module"):
                pass
            mine += 1
        assert child.wait(30) == 0, child.stderr.read()
        entries = read_trace()
    names = {e["name"].split("-")[0] for e in entries}
    assert names == {"child", "parent"}
    assert len(entries) == 2 * (150 + mine)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))


def test_spans_nest_across_pool_threads(read_trace, spans) -> None:
    def leaf() -> None:
        with span("leaf", "module"):
            pass

    def branch(pool: lazyllm.ThreadPoolExecutor) -> None:
        with span("branch", "module"):
            pool.submit(leaf).result()

    with session():
        with span("root", "flow") as root, lazyllm.ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(branch, pool) for _ in range(2)]:
                f.result()
        by_id = spans(read_trace())
    by_name: dict[str, list[dict]] = {}
    for s in by_id.values():
        assert s["start"] is not None and s["end"] is not None
        by_name.setdefault(s["start"]["name"], []).append(s["start"])
    branches = by_name["branch"]
    assert len(branches) == 2 and all(b["parent"] == root.id for b in branches)
    assert sorted(leaf["parent"] for leaf in by_name["leaf"]) == sorted(b["span"] for b in branches)
    assert by_name["root"][0]["parent"] is None


def test_large_fields_are_truncated_at_8_kib_with_the_marker(read_trace) -> None:
    big = "x" * 20_000
    wide = "é" * 10_000  # 2 bytes each: the cut must not split a character
    with session():
        with span("big", "module", input=big, attrs={"blob": big}) as sp:
            sp.end({"rows": [big, big]})
        with span("wide", "module", input=wide):
            pass
        entries = read_trace()
    start, end, wide_start, _ = entries
    marker = TRUNCATION_MARKER.format(size=20_000)
    assert start["input"] == "x" * TRACE_FIELD_MAX_BYTES + marker
    # structured values keep their shape: their leaf strings are cut (so a message list stays parseable)
    assert set(start["attrs"]) == {"blob"} and start["attrs"]["blob"].endswith(marker)
    rows = end["output"]["rows"]
    assert len(rows) == 2 and all(r.startswith("x" * 1000) and r.endswith(marker) for r in rows)
    for value in (start["attrs"], end["output"]):
        assert len(json.dumps(value, ensure_ascii=False).encode()) <= TRACE_FIELD_MAX_BYTES + 2 * len(marker.encode())
    # a structure too big even with every string cut short falls back to its cut JSON text
    with session():
        with span("many", "module", input=list(range(20_000))):
            pass
        many = read_trace()[0]["input"]
    assert isinstance(many, str) and many.startswith("[0, 1, 2") and many.endswith(" bytes in all]")
    assert wide_start["input"] == "é" * (TRACE_FIELD_MAX_BYTES // 2) + TRUNCATION_MARKER.format(size=20_000)
    small = {"k": "v" * 100}
    with session():
        with span("small", "module", input=small):
            pass
        assert read_trace()[0]["input"] == small  # below the limit: untouched


def test_the_return_value_is_never_truncated(read_trace) -> None:
    class Big(ModuleBase):
        def forward(self, n: int) -> str:
            return "y" * n

    with session():
        out = Big(return_trace=True)(50_000)
        assert out == "y" * 50_000
        end = read_trace()[-1]
        assert end["output"].endswith(TRUNCATION_MARKER.format(size=50_000))


def test_an_error_is_one_clean_line_with_the_traceback_in_detail(read_trace) -> None:
    def fail() -> None:
        raise ValueError("\x1b[31mbad\x1b[0m thing\nsecond line of the message")

    with session():
        with pytest.raises(ValueError):
            with span("boom", "tool"):
                fail()
        end = read_trace()[-1]
    assert end["event"] == "end" and end["status"] == "error"
    error = end["error"]
    assert error["type"] == "ValueError"
    assert error["message"] == "bad thing"
    assert "\x1b" not in str(error)
    assert "Traceback (most recent call last)" in error["detail"]
    assert "in fail" in error["detail"] and "second line of the message" in error["detail"]


def test_a_cancelled_span_ends_with_status_cancelled(read_trace) -> None:
    with session():
        with pytest.raises(RunCancelled):
            with span("stopped", "llm"):
                raise RunCancelled("stop button")
        end = read_trace()[-1]
    assert end["status"] == "cancelled"
    assert end["error"] == {"type": "RunCancelled", "message": "stop button"}


def test_a_span_ends_once() -> None:
    with session():
        sp = start_span("once", "module")
        assert sp.end("a") is True
        assert sp.end("b") is False
        assert len(FileSystemQueue("lazy_trace").dequeue()) == 2


def test_tracing_into_a_closed_session_does_not_break_the_work() -> None:
    with session() as s:
        sp = start_span("late", "module")
    assert s.closed
    assert sp.end("still fine") is True  # nothing to write to, and no exception


# --------------------------------------------------------------------------- ModuleBase


class Double(ModuleBase):
    def forward(self, x: int) -> int:
        return 2 * x


class AddThenDouble(ModuleBase):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.double = Double(return_trace=True)

    def forward(self, x: int, y: int = 0) -> int:
        return self.double(x + y)


def test_a_user_module_is_traced_with_return_trace_and_not_without(read_trace) -> None:
    with session():
        assert Double()(3) == 6
        assert read_trace() == []
        assert Double(return_trace=True)(4) == 8
        start, end = read_trace()
    assert start["name"] == "Double" and start["kind"] == "module" and start["input"] == 4
    assert end["output"] == 8 and end["status"] == "ok"


def test_nested_modules_nest_their_spans(read_trace, spans) -> None:
    with session():
        assert AddThenDouble(return_trace=True, name="outer")(1, y=2) == 6
        entries = read_trace()
    outer = next(e for e in entries if e["name"] == "outer" and e["event"] == "start")
    inner = next(e for e in entries if e["name"] == "Double" and e["event"] == "start")
    assert outer["input"] == {"args": [1], "kwargs": {"y": 2}}
    assert inner["parent"] == outer["span"] and inner["input"] == 3
    assert [e["event"] for e in entries] == ["start", "start", "end", "end"]


def test_a_module_that_raises_ends_its_span_with_the_error(read_trace) -> None:
    class Broken(ModuleBase):
        def forward(self) -> None:
            raise KeyError("missing")

    with session():
        with pytest.raises(KeyError):
            Broken(return_trace=True)()
        end = read_trace()[-1]
    assert end["status"] == "error" and end["error"]["type"] == "KeyError"


def test_trace_everything_traces_modules_without_return_trace(read_trace) -> None:
    with session():
        token = set_trace_everything(True)
        try:
            Double()(1)
        finally:
            from lazystream_widget.runtime.trace import _trace_all

            _trace_all.reset(token)
        assert [e["event"] for e in read_trace()] == ["start", "end"]
        Double()(1)
        assert read_trace() == []


def test_a_module_without_forward_says_so() -> None:
    class Empty(ModuleBase):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement forward"):
        Empty()()


def test_an_error_whose_first_line_ends_with_a_colon_keeps_its_point_in_the_headline(read_trace) -> None:
    """QA 1 finding 3: a mismatch error says what differs on its second line; the headline (what the widget
    shows) joins it on, and the whole message travels in ``full`` (not only at the end of the traceback)."""
    text = ("cassette 'c.json' (replay) has no recorded answer for this request:\n"
            "  messages[1].content: recorded 'Tokyo' ≠ now 'Berlin'\n"
            "Closest recorded request: entry 0 (run 0)\n"
            "Record it anew with cassette_mode='record'.")
    with session():
        with pytest.raises(LookupError):
            with span("llm", "llm"):
                raise LookupError(text)
        error = read_trace()[-1]["error"]
    assert error["message"] == ("cassette 'c.json' (replay) has no recorded answer for this request: "
                                "messages[1].content: recorded 'Tokyo' ≠ now 'Berlin'")
    assert error["full"] == text
    one_line = error_info(ValueError("just one line"))
    assert one_line["message"] == "just one line" and "full" not in one_line
