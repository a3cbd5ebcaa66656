"""Notebook 07 in a real JupyterLab 4: a recorded run replays into the StreamView with no key and no model.

The notebook and its cassette are copied into the server's root; every cell runs. The widget must show the
kernel's final answers (the replayed ones), the replay notice above the answer, and the replayed reasoning in
its "Thinking" block; the question the recording never heard ends as an error run.
"""

from __future__ import annotations

import shutil

import pytest

from .jupyter import REPO, JupyterServer, NotebookPage, copy_notebook, wait_for
from .test_notebooks_in_browser import REPORT_CELL, _check_runs

pytestmark = pytest.mark.browser

NOTEBOOK = REPO / "notebooks" / "07-recorded-runs.ipynb"

JS_RUN_DETAILS = """() => Array.from(document.querySelectorAll('.lsw-run')).map(r => ({
  status: r.getAttribute('data-status'),
  notices: Array.from(r.querySelectorAll('.lsw-notice')).map(li => li.textContent),
  thinking: (r.querySelector('.lsw-thinking-text') || {}).textContent || '',
}))"""


def test_recorded_run_replays_in_jupyterlab(lab: JupyterServer, open_page) -> None:
    shutil.copytree(REPO / "notebooks" / "cassettes", lab.root / "cassettes", dirs_exist_ok=True)
    dest = copy_notebook(NOTEBOOK, lab.root, extra_cells=[REPORT_CELL])
    bp = open_page(viewport={"width": 1280, "height": 1100})
    nbp = NotebookPage(bp.page, lab, dest.name).open()
    nbp.run_all()
    try:
        nbp.wait_cells_done(timeout=180)
    finally:  # a cell that raises stops "run all": say which
        assert not nbp.error_outputs(), "error outputs:\n" + "\n".join(nbp.error_outputs())
    shown = _check_runs(nbp, len(nbp.outputs()) - 1)
    assert [r["status"] for r in shown] == ["done", "done", "error"], shown

    wait_for(lambda: all(d["notices"] for d in bp.page.evaluate(JS_RUN_DETAILS)), 30, "the replay notices")
    details = bp.page.evaluate(JS_RUN_DETAILS)
    assert details[0]["notices"] == [
        "Replaying recorded model traffic from cassette 07-deepseek-weather.json, at the recorded pace."]
    assert details[1]["notices"] == [
        "Replaying recorded model traffic from cassette 07-deepseek-weather.json, at 4x the recorded pace."]
    assert details[0]["thinking"].startswith("Okay, the user wants today's weather for two cities")
    assert details[0]["thinking"] == details[1]["thinking"]
    bp.assert_no_bundle_errors()
