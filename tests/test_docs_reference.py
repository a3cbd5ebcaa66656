"""The API reference as a reader sees it: a real ``mkdocs build`` of the site (about 10 s).

Docstrings are written with Sphinx roles; the site must show them as code, not as ``:class:`...```. Plumbing
members (the display protocol the runner calls, the runner's own steps) stay out of the reference.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sphinx_roles_become_code_spans() -> None:
    plain = _hooks().plain_roles
    assert plain("raises :class:<code>~lazystream_widget.RunCancelled</code> if") == (
        "raises <code>RunCancelled</code> if")
    assert plain(":attr:<code>traceback</code>, :py:meth:<code>Run.wait</code>") == (
        "<code>traceback</code>, <code>Run.wait</code>")
    assert plain("a :term: and <code>x</code>") == "a :term: and <code>x</code>"  # only the roles we write


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr
    return site


@pytest.fixture(scope="module")
def reference_html(site: Path) -> str:
    return (site / "reference" / "index.html").read_text()


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    """Material's default theme font comes from fonts.googleapis.com on every page view."""
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        text = page.read_text()
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, page


def test_the_reference_shows_no_raw_roles(reference_html: str) -> None:
    raw = re.findall(r":(?:class|attr|func|meth|exc|mod|data|obj):(?:<code>|`)", reference_html)
    assert not raw, raw[:5]
    assert "<code>RunCancelled</code>" in reference_html


def test_the_reference_lists_the_api_and_not_the_plumbing(reference_html: str) -> None:
    ids = set(re.findall(r'id="lazystream_widget\.[\w.]*?\.(\w+\.\w+)"', reference_html))
    for member in ["Run.wait", "Run.result", "Run.traceback", "Run.thinking", "Run.stats", "Run.done",
                   "StreamView.ask", "StreamView.cancel_all", "StreamConsole.ask"]:
        assert member in ids, member
    for member in ["StreamView.send_snapshot", "StreamView.send_control_reply", "StreamView.run_started",
                   "StreamView.run_delta", "StreamConsole.run_resync", "StreamConsole.run_finished",
                   "Run.take_new_notices", "Run.state", "Run.start"]:
        assert member not in ids, member


def test_without_rendered_notebooks_the_page_says_every_step_to_get_them() -> None:
    if list((REPO / "docs" / "rendered").glob("*.html")):
        pytest.skip("docs/rendered/ holds rendered notebooks in this checkout")
    line = _hooks().rendered_notebooks()
    assert "npm ci && npm run build && python scripts/render_notebooks.py" in line, line
