"""A long session in one view: traffic per run end and the kept state stay bounded (finding 10 of the second review).

Before: ``StreamView.history`` and the ``runs`` trait were never trimmed, and each run's end re-sent the whole list
(ipywidgets sends a trait whole): after 200 asks in one view, every run end sent 200 runs. Now the last ``max_runs``
runs are kept in full, the 20 before them summarised, older ones counted in one entry, and ``history`` holds the last
``max_history`` handles. Bytes are measured on the real view (its trait updates, as they would go over the comm).
"""

from __future__ import annotations

import json

import pytest

import lazystream_widget as lsw
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.trace import span

ANSWER_CHARS = 2_000


def _answer(query: str) -> str:
    text = (f"[{query}] " + "lorem ipsum dolor sit amet " * 100)[:ANSWER_CHARS]
    with span("work", "module", {"q": query}):
        q = FileSystemQueue()
        for i in range(0, len(text), 100):
            q.enqueue(text[i : i + 100])
    return text


class MeteredView(lsw.StreamView):
    """The real view; records the size of every ``runs`` update it sends (the state part of the comm message)."""

    def __init__(self, *args, **kwargs):
        self.run_updates: list[int] = []
        super().__init__(*args, display=False, **kwargs)

    def _send(self, msg, buffers=None):
        state = msg.get("state", {}) if isinstance(msg, dict) else {}
        if "runs" in state:
            self.run_updates.append(len(json.dumps(state["runs"])))

    def send(self, content, buffers=None):  # live deltas: not what this test measures
        pass


def _ask_many(view: MeteredView, n: int, batch: int = 20) -> list[lsw.Run]:
    runs: list[lsw.Run] = []
    for start in range(0, n, batch):
        group = [view.ask(f"q{i}") for i in range(start, min(n, start + batch))]
        for run in group:
            assert run.wait(30) == _answer(run.query)
        runs += group
    return runs


@pytest.mark.slow
def test_two_hundred_asks_in_one_view_send_a_bounded_state_at_each_run_end(figures) -> None:
    view = MeteredView(_answer)
    runs = _ask_many(view, 220)
    early = view.run_updates[20 * 2 : 40 * 2]  # run starts and ends of asks 21-40
    late = view.run_updates[-40:]  # those of the last 20 asks
    ratio = max(late) / max(early)
    unbounded = len(json.dumps([r.state() for r in runs[-200:]]))  # what one update held before at 200 runs
    assert ratio <= 1.3, f"a run end at 220 runs sends {ratio:.1f}x what it sent at 40"
    assert max(late) * 5 < unbounded
    # what the view keeps
    assert len(view.history) == 200 and view.history == runs[-200:], "the last max_history handles"
    kept = view.runs
    full = [r for r in kept if r.get("entries")]
    assert [r["id"] for r in full] == [r.id for r in runs[-10:]], "the last 10 runs, in full"
    assert all(r["text"] == runs[-10 + i].text for i, r in enumerate(full))
    assert len(kept) == 1 + 20 + 10 and kept[0]["query"] == "190 earlier runs"
    for summary in kept[1:21]:
        assert summary["entries"] == [] and len(summary["text"]) <= 281 and summary["status"] == "done"
        assert any("view.history" in n for n in summary["notices"])
    figures.add("widget.long_session", runs=220, max_run_end_bytes=max(late), unbounded_run_end_bytes=unbounded,
                growth_40_to_220=round(ratio, 2))


def test_max_runs_and_max_history_are_configurable_and_validated() -> None:
    view = MeteredView(_answer, max_runs=3, max_history=5)
    runs = _ask_many(view, 8, batch=4)
    assert view.history == runs[-5:]
    kept = view.runs
    assert [r["id"] for r in kept] == [r.id for r in runs]  # 5 summaries, then 3 in full
    assert [bool(r["entries"]) for r in kept] == [False] * 5 + [True] * 3
    assert kept[0]["text"].startswith("[q0]") and kept[0]["text"].endswith("…")
    for bad in ({"max_runs": 0}, {"max_runs": "3"}, {"max_history": 2, "max_runs": 3}):
        with pytest.raises(ValueError, match="must be an int"):
            MeteredView(_answer, **bad)


def test_a_summarised_run_keeps_its_error_and_its_handle_keeps_everything() -> None:
    def fails(query: str) -> str:
        FileSystemQueue().enqueue("partial " * 100)
        raise ValueError(f"no answer for {query}\nsecond line")

    view = MeteredView(fails, max_runs=1)
    first = view.ask("first")
    with pytest.raises(ValueError):
        first.wait(30)
    second = view.ask("second")
    with pytest.raises(ValueError):
        second.wait(30)
    summary, latest = view.runs
    assert summary["id"] == first.id and summary["status"] == "error"
    assert summary["error"]["type"] == "ValueError" and summary["error"]["message"] == "no answer for first"
    assert latest["id"] == second.id and latest["text"] == second.text
    assert first.text == "partial " * 100, "the handle still holds the whole run"
