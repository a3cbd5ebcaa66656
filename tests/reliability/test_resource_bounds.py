"""Resource bounds: trace fields are cut at 8 KiB with a marker, oversized queue items are refused, and the answer
and result of a run are never cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget.limits import TRACE_FIELD_MAX_BYTES, TRUNCATION_MARKER
from lazystream_widget.runner import Run
from lazystream_widget.runtime import filestore
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.trace import start_span
from lazystream_widget.testing import Reply

from .helpers import RecordingSink

MARKER_HEAD = TRUNCATION_MARKER.split("{")[0]


def _bytes(value) -> int:
    return len((value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)).encode("utf-8"))


@pytest.mark.parametrize("payload", [
    "a" * 100_000,                      # ASCII
    "é€😀" * 30_000,                     # multi-byte: the cut must not split a character
    {"rows": [{"i": i, "text": "x" * 50} for i in range(2000)]},  # structured
    ["y" * 10_000],
])
def test_every_trace_field_is_cut_at_8_kib_with_the_marker(payload, figures) -> None:
    with lsw.session():
        sp = start_span("big", "module", payload, {"big_attr": payload})
        sp.event("big_event", detail=payload)
        try:
            raise ValueError(json.dumps(payload, ensure_ascii=False) if not isinstance(payload, str) else payload)
        except ValueError as exc:
            sp.end(payload, status="error", error=exc)
        lines = FileSystemQueue("lazy_trace").dequeue()
    entries = [json.loads(line) for line in lines]  # each still one valid JSON line
    start, event, end = entries
    fields = {"input": start["input"], "start attrs": start["attrs"], "event attrs": event["attrs"],
              "output": end["output"], "error message": end["error"]["message"],
              "error detail": end["error"]["detail"], "end attrs": end["attrs"]}
    worst = 0
    for name, value in fields.items():
        size = _bytes(value)
        worst = max(worst, size)
        assert size <= TRACE_FIELD_MAX_BYTES + len(TRUNCATION_MARKER) + 20, f"{name}: {size} bytes"
        assert MARKER_HEAD in json.dumps(value, ensure_ascii=False), f"{name} was cut without the marker"
        assert "\ufffd" not in json.dumps(value, ensure_ascii=False), f"{name}: a character was split"
    out = end["output"]
    if isinstance(out, str):  # a string, or a structure too big to keep its shape: its text was cut
        assert f"{_bytes(payload)} bytes in all" in out, "the marker gives the original size"
    else:  # the structure kept its shape (it stays parseable); each cut string names its own size
        assert f"{_bytes(payload[0])} bytes in all" in json.dumps(out, ensure_ascii=False), "the leaf's size"
    figures.add("bounds.trace_fields", cases=1, max_field_bytes=worst, bound=TRACE_FIELD_MAX_BYTES)


def test_small_fields_are_left_as_they_are() -> None:
    with lsw.session():
        sp = start_span("small", "module", {"q": "hi"}, {"k": 1})
        sp.end(["ok", 1])
        start, end = [json.loads(x) for x in FileSystemQueue("lazy_trace").dequeue()]
    assert start["input"] == {"q": "hi"} and start["attrs"] == {"k": 1} and end["output"] == ["ok", 1]


def test_an_item_over_the_size_limit_is_refused_clearly_and_nothing_is_written(queue_home: Path, figures) -> None:
    with lsw.session() as s:
        q = FileSystemQueue()
        q.enqueue("before")
        log = queue_home / "sessions" / s.id / "q" / "lazy_answer.log"
        size = log.stat().st_size
        too_big = "x" * (filestore.MAX_ITEM_BYTES + 1)
        with pytest.raises(ValueError, match=r"over the .*-byte limit") as info:
            q.enqueue(too_big)
        assert "by reference" in str(info.value), "the error says what to do instead"
        del too_big
        assert log.stat().st_size == size, "a refused item must leave no bytes behind"
        at_limit = "y" * filestore.MAX_ITEM_BYTES
        q.enqueue(at_limit)
        q.enqueue("after")
        got = []
        while batch := q.dequeue():  # one call hands over about DEQUEUE_MAX_BYTES; the rest comes next
            got += batch
        assert len(got) == 3 and got[0] == "before" and got[1] == at_limit and got[2] == "after"
    figures.add("bounds.max_item", limit_bytes=filestore.MAX_ITEM_BYTES, refused_over_limit=1)


def test_a_ten_megabyte_answer_and_result_are_never_cut(figures) -> None:
    chunk = "".join(chr(0x41 + i % 26) for i in range(65_536))
    n_chunks = 160  # 10 MiB

    class Big(lsw.ModuleBase):  # a module: its span's output is the 10 MiB result, cut in the trace only
        def forward(self, q: str) -> str:
            out = FileSystemQueue()
            for i in range(n_chunks):
                out.enqueue(f"{i:05d}" + chunk[5:])
            return "R" * (10 * 1024 * 1024)

    run = Run(Big(), "q").start(RecordingSink())
    result = run.wait(60)
    expected = "".join(f"{i:05d}" + chunk[5:] for i in range(n_chunks))
    assert run.text == expected and len(run.text) == n_chunks * 65_536
    assert result == "R" * (10 * 1024 * 1024) and run.state()["result"] == result
    assert run.state()["text"] == expected
    [span] = run.trace
    assert _bytes(span.output) <= TRACE_FIELD_MAX_BYTES + len(TRUNCATION_MARKER) + 20
    assert MARKER_HEAD in span.output
    figures.add("bounds.run_text_not_cut", runs=1, answer_bytes=len(expected), result_bytes=len(result))


def test_a_long_streamed_answer_over_http_arrives_whole(scripted_server_factory, figures) -> None:
    chunks = [f"<{i}:" + "z" * 1000 + ">" for i in range(2000)]  # ~2 MB in 2,000 deltas
    server = scripted_server_factory([Reply(chunks=chunks)])
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True)
    sink = RecordingSink()
    run = Run(llm, "go").start(sink)
    assert run.wait(60) == "".join(chunks)
    assert run.text == "".join(chunks) and "".join(sink.text) == run.text and run.tokens == 2000
    figures.add("bounds.long_http_answer", runs=1, tokens_checked=2000, tokens_lost=0, answer_bytes=len(run.text))


# --------------------------------------------------------------------------- memory of one call (finding 9, round 2)


def test_size_counts_huge_items_without_reading_them_and_one_dequeue_takes_a_bounded_amount(figures) -> None:
    """Five items near the 64 MiB limit: ``size()`` decoded them all (792 MB peak in one ``dequeue()`` before)."""
    import tracemalloc

    from lazystream_widget import limits

    DEQUEUE_READ_CHUNK = limits.DEQUEUE_READ_CHUNK
    DEQUEUE_MAX_BYTES = getattr(limits, "DEQUEUE_MAX_BYTES", 16 * 1024 * 1024)  # getattr: also runs on old code

    n, item_bytes = 5, filestore.MAX_ITEM_BYTES - 1024
    with lsw.session():
        q = FileSystemQueue()
        for i in range(n):
            q.enqueue(chr(ord("a") + i) * item_bytes)
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            assert q.size() == n
            size_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            first = q.dequeue()
            dequeue_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert size_peak < DEQUEUE_READ_CHUNK + 1024 * 1024, f"size() took {size_peak / 2**20:.0f} MiB"
        assert 1 <= len(first) < n, "one dequeue() must leave the rest for the next call"
        taken = sum(len(x) for x in first)
        assert taken <= DEQUEUE_MAX_BYTES + item_bytes
        # the raw bytes and the decoded text of what it returns, plus one read chunk: no whole-queue copies
        assert dequeue_peak < 2 * taken + 2 * DEQUEUE_READ_CHUNK, f"dequeue() took {dequeue_peak / 2**20:.0f} MiB"
        rest: list[str] = []
        while batch := q.dequeue():
            rest += batch
        assert [x[0] for x in first + rest] == list("abcde")[:n]
        assert all(len(x) == item_bytes for x in first + rest), "every item intact"
    figures.add("bounds.memory_per_call", items=n, item_mib=round(item_bytes / 2**20, 1),
                size_peak_mib=round(size_peak / 2**20, 1), dequeue_peak_mib=round(dequeue_peak / 2**20, 1),
                first_dequeue_items=len(first))
