"""A run's streamed text: read from the queue's log while the run goes on, one copy in memory after."""

from __future__ import annotations

import os
import threading

from lazystream_widget.run_text import StreamedText
from lazystream_widget.runner import Run
from lazystream_widget.runtime.filestore import frame
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import get_backend, session
from lazystream_widget.runtime.textbuffer import TextBuffer


def test_text_buffer_round_trips_any_text():
    buf = TextBuffer()
    pieces = ["plain ", "ünïcödé ", "😀 ", "\ud800 lone surrogate ", ""]
    for p in pieces:
        buf.add(p)
    assert buf.text() == "".join(pieces) and buf.count == len(pieces)
    assert buf.take() == "".join(pieces) and not buf


def test_while_a_run_streams_its_text_is_read_from_the_log_and_grows():
    gate, seen = threading.Event(), []

    def module(q):
        for i in range(3):
            FileSystemQueue().enqueue(f"part{i} ")
        gate.wait(10)
        FileSystemQueue().enqueue("end")
        return "part0 part1 part2 end"

    run = Run(module, "q").start()
    import time

    deadline = time.monotonic() + 10
    while run.text != "part0 part1 part2 " and time.monotonic() < deadline:
        time.sleep(0.01)
    seen.append(run.text)
    gate.set()
    assert run.wait(10) == "part0 part1 part2 end"
    assert seen == ["part0 part1 part2 "], "run.text during the run: what was drained so far"
    assert run.text is run.result, "the module returned the streamed text: one string, not two copies"
    assert run.state()["text"] is run.result and run.state()["result"] is None


def test_text_that_differs_from_the_result_is_kept_too():
    def module(q):
        FileSystemQueue().enqueue("before a tool call; ")
        return {"answer": 42}

    run = Run(module, "q").start()
    assert run.wait(10) == {"answer": 42}
    assert run.text == "before a tool call; "
    assert not (get_backend().session_exists(run._session.id)), "the session (and its log) are gone"


def test_a_failed_run_keeps_what_it_streamed():
    def module(q):
        FileSystemQueue().enqueue("partial ")
        raise RuntimeError("boom")

    run = Run(module, "q").start()
    try:
        run.wait(10)
    except RuntimeError:
        pass
    assert run.status == "error" and run.text == "partial "


def test_torn_records_in_the_log_are_skipped_when_reading_it_back():
    backend = get_backend()
    with session() as sess:
        q = FileSystemQueue(session=sess)
        q.enqueue("one ")
        fd = os.open(os.path.join(backend.sessions_dir, sess.id, "q", "lazy_answer.log"), os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, frame(b"torn record")[:-3])  # a writer killed mid-write
        finally:
            os.close(fd)
        q.enqueue("two")
        assert q.dequeue() == ["one ", "two"]
        text = StreamedText(backend, sess.id, "lazy_answer")
        text.drained("one two")
        assert text.value() == "one two"
        text.finish("one two")
        assert text.value() == "one two"


def test_a_backend_that_cannot_read_its_log_back_keeps_the_text_in_memory():
    class NoRange:  # a backend without iter_range (e.g. a remote one)
        def consumed(self, *a):
            raise AssertionError("not asked: the text is in memory")

    text = StreamedText(NoRange(), "s" * 32, "lazy_answer")
    text.drained("a ")
    text.drained("b")
    assert text.value() == "a b"
    text.finish("a b")
    assert text.value() == "a b"


def _peak_while(fn) -> int:
    import tracemalloc

    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_trace_field_holding_a_long_answer_is_cut_without_copying_it():
    from lazystream_widget.runtime.trace import truncate_field

    answer = "word " * 4_000_000  # 20 MB: what an llm span's output holds after a long stream
    for value in (answer, {"content": answer, "role": "assistant"}, [{"content": answer}]):
        peak = _peak_while(lambda v=value: truncate_field(v))
        assert peak < 3_000_000, f"cutting a 20 MB field took {peak / 1e6:.1f} MB more memory"


def test_the_model_text_buffer_holds_its_text_about_once():
    buf = TextBuffer()
    pieces = [f"token{i} " for i in range(200_000)]  # ~2.2 MB of text

    def fill_and_take():
        for p in pieces:
            buf.add(p)
        buf.take()

    size = sum(map(len, pieces))
    assert _peak_while(fill_and_take) < 2.6 * size, "the buffer and the final string, no per-piece objects"
