"""The project's notebooks, run cell by cell in a real JupyterLab 4 and a real Notebook 7.

Each notebook is copied (outputs cleared) into the server's root with one extra cell at the end that prints
the kernel's view of every StreamView run (id, status, text); all cells run through
``notebook:run-all-cells``. The test asserts that no cell has an error output, every run the page shows
has ended with the kernel's status, and each finished run shows the kernel's final answer.

With ``LSW_SCREENSHOTS=1`` the quick start's widget is photographed into ``docs/screenshots/`` (JupyterLab
light and dark theme, and Notebook 7); ``scripts/screenshots.py`` does that. Ordinary runs write nothing in
the tree.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from .jupyter import REPO, JupyterServer, NotebookPage, click_until_none, copy_notebook, set_theme, wait_for

pytestmark = pytest.mark.browser

NOTEBOOKS = ["01-quick-start.ipynb", "02-anatomy-of-a-stream.ipynb"]
SCREENSHOTS = REPO / "docs" / "screenshots"
TAKE_SCREENSHOTS = os.environ.get("LSW_SCREENSHOTS") == "1"

REPORT_CELL = '''
# added by the browser test: the kernel's view of every StreamView's runs
import gc as _gc, json as _json
from lazystream_widget import StreamView as _SV
_views = [o for o in _gc.get_objects() if isinstance(o, _SV)]
for _v in _views:
    for _r in _v.history:
        try:
            _r.wait(60)
        except BaseException:
            pass
print("LSW-RUNS " + _json.dumps([{"id": _r.id, "status": _r.status, "text": _r.text}
                                 for _v in _views for _r in _v.history]))
'''


def _source(name: str) -> Path:
    path = REPO / "notebooks" / name
    if not path.exists():
        pytest.skip(f"notebooks/{name} does not exist (yet): nothing to run")
    return path


def _rendered_words(markdown: str) -> list[str]:
    """The words a reader sees once ``markdown`` is rendered: link and image targets, fence info strings and
    emphasis markers are not shown."""
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", markdown)  # images: alt text (a link labelled with it)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"^(\s*)(```|~~~)[^\n]*", r"\1", text, flags=re.M)  # fence info strings
    return re.findall(r"[^\W_]+", text)


def _check_runs(nbp: NotebookPage, report_cell: int) -> list[dict[str, Any]]:
    out = nbp.cell_text(report_cell)
    assert "LSW-RUNS " in out, f"the report cell printed nothing useful: {out!r}"
    kernel_runs = {r["id"]: r for r in json.loads(out.split("LSW-RUNS ", 1)[1].splitlines()[0])}
    assert kernel_runs, "the notebook made no StreamView run"
    try:
        wait_for(lambda: nbp.runs() and all(r["status"] != "running" for r in nbp.runs()), 60,
                 "every run shown to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n page: {nbp.runs()}\n kernel: {list(kernel_runs.values())}") from None
    shown = nbp.runs()
    assert shown, "no .lsw-run in the page"
    for r in shown:
        k = kernel_runs.get(r["id"])
        assert k is not None, f"the page shows run {r['id']} that the kernel does not know: {sorted(kernel_runs)}"
        assert r["status"] == k["status"], f"run {r['id']}: page says {r['status']}, kernel says {k['status']}"
        if k["status"] == "done":
            seen = re.findall(r"[^\W_]+", r["answer"] or "")
            assert seen == _rendered_words(k["text"]), (
                f"run {r['id']}: the page does not show the final answer\n page:   {r['answer']!r}\n"
                f" kernel: {k['text']!r}")
    assert any(r["status"] == "done" and r["answer"] for r in shown), "no finished run with an answer"
    return shown


def _run_notebook(server: JupyterServer, page: Any, name: str) -> NotebookPage:
    src = _source(name)
    dest = copy_notebook(src, server.root, extra_cells=[REPORT_CELL])
    nbp = NotebookPage(page, server, dest.name).open()
    nbp.run_all()
    nbp.wait_cells_done(timeout=180)
    errors = nbp.error_outputs()
    assert not errors, "error outputs:\n" + "\n".join(errors)
    _check_runs(nbp, len(nbp.outputs()) - 1)
    return nbp


def _widget_cell(page: Any) -> Any:
    """The code cell showing the first widget (code and output: what a reader of the README sees)."""
    return page.locator(".jp-Cell", has=page.locator(".lsw-root")).first


def _shoot(nbp: NotebookPage, cell: Any, path: Path, *, whole_page: bool = False) -> None:
    """Photograph the widget's cell (or, with ``whole_page``, the viewport scrolled to it) with every run's
    trace and top-level span open (by default only the newest run's are)."""
    page = nbp.page
    path.parent.mkdir(parents=True, exist_ok=True)
    root = page.locator(".lsw-root").first
    click_until_none(root.locator(".lsw-trace:not([open]) > summary"))
    click_until_none(root.locator('.lsw-node[data-depth="0"][aria-expanded="false"] > .lsw-toggle'))
    # make the last cell the active one, so the photographed cell has no selection marker
    nbp.js("nb.activeCellIndex = nb.widgets.length - 1; nb.deselectAll();")
    cell.scroll_into_view_if_needed()
    page.mouse.move(0, 0)  # no hover effects in the picture
    page.wait_for_timeout(400)
    if whole_page:
        page.screenshot(path=str(path), animations="disabled")
    else:
        cell.screenshot(path=str(path), animations="disabled")
    print(f"[screenshots] wrote {path}")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_in_jupyterlab(name: str, lab: JupyterServer, open_page) -> None:
    """Runs in JupyterLab 4 with no error output; the widget shows the kernel's final answer."""
    bp = open_page(viewport={"width": 1280, "height": 1100})
    nbp = _run_notebook(lab, bp.page, name)
    if TAKE_SCREENSHOTS and name.startswith("01-"):
        cell = _widget_cell(bp.page)
        _shoot(nbp, cell, SCREENSHOTS / "quick-start-light.png")
        try:
            set_theme(nbp, "JupyterLab Dark")
            _shoot(nbp, cell, SCREENSHOTS / "quick-start-dark.png")
        finally:
            set_theme(nbp, "JupyterLab Light")
    bp.assert_no_bundle_errors()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_in_notebook7(name: str, nb7: JupyterServer, open_page) -> None:
    """Runs in Notebook 7 with no error output; the widget shows the kernel's final answer."""
    bp = open_page(viewport={"width": 1200, "height": 1000})
    nbp = _run_notebook(nb7, bp.page, name)
    if TAKE_SCREENSHOTS and name.startswith("01-"):
        _shoot(nbp, _widget_cell(bp.page), SCREENSHOTS / "notebook7.png", whole_page=True)
    bp.assert_no_bundle_errors()
