"""The docs' rendered notebooks (scripts/render_notebooks.py) show their widgets' final answers and trace trees
with no network: every file the page needs is served from beside it, and the browser may reach loopback only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .jupyter import REPO, SEED_ANSWER, normalize_ws, wait_for
from .test_static_export import _serve  # a quiet loopback HTTP server for a folder

pytestmark = pytest.mark.browser


def test_the_rendered_quick_start_shows_its_widgets_offline(tmp_path: Path, widget_bundle: Path, open_page) -> None:
    if not (REPO / "node_modules" / "@jupyter-widgets" / "html-manager").is_dir():
        pytest.fail("node_modules/ lacks the widget manager: npm ci", pytrace=False)
    out = tmp_path / "rendered"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "render_notebooks.py"), str(out),
                           str(REPO / "notebooks" / "01-quick-start.ipynb")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    bp = open_page()  # loopback only: any CDN request is aborted and recorded
    with _serve(out) as url:
        bp.page.goto(f"{url}/01-quick-start.html")
        wait_for(lambda: bp.page.evaluate("() => document.querySelectorAll('.lsw-run[data-status=done]').length") == 2,
                 60, "both runs of the notebook to render")
        runs = bp.page.evaluate("""() => Array.from(document.querySelectorAll('.lsw-run')).map(r => ({
            answer: r.querySelector('.lsw-answer').textContent,
            nodes: r.querySelectorAll('.lsw-node').length}))""")
    assert normalize_ws(runs[0]["answer"]) == normalize_ws(SEED_ANSWER), runs
    # the newest run's trace is open: agent, the model asking for the forecast tool, the tool, the model answering
    assert "Tokyo" in runs[1]["answer"] and runs[1]["nodes"] == 4, runs
    assert bp.blocked == [], f"the page asked the network for {bp.blocked}"
