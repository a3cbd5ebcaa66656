"""A long session in one view, in a real JupyterLab page: summarised runs render (finding 10, round 2).

The kernel keeps the last ``max_runs`` runs of a view in full, summarises the 20 before them and counts older ones in
one entry (``lazystream_widget/run_list.py``); the front end is unchanged, so this checks that it shows those states
as they are: every kept run once, the full ones with their whole answer, the summaries cut with their notice, and no
error from our bundle (the page fixture fails the test on one).
"""

from __future__ import annotations

import pytest

from .jupyter import NotebookPage, normalize_ws, wait_for, write_notebook

pytestmark = pytest.mark.browser

_SETUP = """
from lazystream_widget import StreamView
from lazystream_widget.runtime.queue import FileSystemQueue

def answer(query):
    text = f"[{query}] " + "lorem ipsum dolor sit amet " * 20
    FileSystemQueue().enqueue(text)
    return text

view = StreamView(answer, max_runs=2)
for i in range(25):
    view.ask(f"q{i}", wait=True)
print("kept", len(view.runs), "history", len(view.history))
"""

JS_NOTICES = """() => Array.from(document.querySelectorAll('.lsw-run')).map(r => ({
  id: r.getAttribute('data-run-id'),
  notices: Array.from(r.querySelectorAll('.lsw-notices li')).map(li => li.textContent),
}))"""


def test_a_long_session_shows_full_runs_summaries_and_the_earlier_count(lab, open_page) -> None:
    name = "long_view.ipynb"
    write_notebook(lab.root / name, [_SETUP])
    bp = open_page()
    nbp = NotebookPage(bp.page, lab, name).open()
    nbp.run_cell(0)
    nbp.wait_cells_done()
    assert "kept 23 history 25" in nbp.cell_text(0), nbp.cell_text(0)  # 1 earlier entry, 20 summaries, 2 full
    wait_for(lambda: len(nbp.runs()) == 23 and all(r["status"] == "done" for r in nbp.runs()), 60,
             "the 23 kept entries to show as done")
    runs = nbp.runs()
    full = "[q24] " + "lorem ipsum dolor sit amet " * 20
    assert normalize_ws(runs[-1]["answer"]) == normalize_ws(full), "the last run in full"
    summary = normalize_ws(runs[1]["answer"])
    assert summary.startswith("[q3]") and summary.endswith("…") and len(summary) <= 281, summary
    notices = {r["id"]: r["notices"] for r in bp.page.evaluate(JS_NOTICES)}
    assert any("earlier runs of this view are not shown" in n for n in notices["earlier-runs"])
    assert any("Summarised" in n and "view.history" in n for n in notices[runs[1]["id"]])
    assert not nbp.error_outputs(), nbp.error_outputs()
