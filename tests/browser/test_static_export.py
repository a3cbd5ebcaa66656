"""A notebook exported with ``jupyter nbconvert --execute --to html`` shows the widget's final answer and trace
tree offline.

The exported page loads require.js, the widget HTML manager and the anywidget module from public CDNs. Here
the browser has no network: every non-loopback request is either answered from local npm files (the URLs the
page asks for are mapped to ``node_modules/``) or aborted. The widget itself (its ESM and CSS) travels inside
the page, in the saved widget state.

The npm files come from the repo's ``node_modules/`` (devDependencies ``@jupyter-widgets/html-manager``,
``requirejs``, ``anywidget``) or from the ``node_modules`` folder named by ``LSW_WIDGET_MANAGER_NODE_MODULES``;
without them the test is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .jupyter import (
    REPO,
    SEED_ANSWER,
    SEED_QUERY,
    clean_env,
    normalize_ws,
    open_trace,
    tree,
    wait_for,
    weather_setup,
    write_notebook,
)

pytestmark = pytest.mark.browser

NPM_PACKAGES = {
    "requirejs": "require.js",
    "@jupyter-widgets/html-manager": "dist/embed-amd.js",
    "anywidget": "dist/index.js",
}


def _node_modules() -> Path | None:
    candidates = [os.environ.get("LSW_WIDGET_MANAGER_NODE_MODULES"), str(REPO / "node_modules")]
    for c in candidates:
        if c and all((Path(c) / pkg / f).is_file() for pkg, f in NPM_PACKAGES.items()):
            return Path(c)
    return None


@pytest.fixture(scope="module")
def node_modules() -> Path:
    found = _node_modules()
    if found is None:
        pytest.skip(
            "the widget manager files for offline HTML are not installed: need node_modules/ with "
            + ", ".join(f"{p}/{f}" for p, f in NPM_PACKAGES.items())
            + " (devDependencies @jupyter-widgets/html-manager, requirejs, anywidget; then npm ci)"
        )
    return found


@pytest.fixture(scope="module")
def exported_html(tmp_path_factory: pytest.TempPathFactory, widget_bundle: Path) -> Path:
    """The weather agent's notebook, executed and exported to HTML by nbconvert (the widget state embedded)."""
    home = tmp_path_factory.mktemp("lsw-export")
    nb = write_notebook(home / "export.ipynb", [
        weather_setup(token_delay=0.0, extra=""),
        "view = StreamView(agent)\nrun = view.ask(QUERY, wait=True)\nprint(run.status)",
    ])  # fmt: skip
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html",
           "--ExecutePreprocessor.timeout=120", str(nb)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=home, env=clean_env(home), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"nbconvert failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    html = home / "export.html"
    assert html.exists(), proc.stderr[-2000:]
    return html


def _widget_state(html: str) -> dict[str, Any]:
    m = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S)
    assert m, "the exported page holds no widget state"
    return json.loads(m.group(1))


def test_export_embeds_the_final_state(exported_html: Path) -> None:
    """nbconvert --execute stores the runs trait (final answer and trace entries) and the ESM in the page."""
    state = _widget_state(exported_html.read_text())["state"]
    ours = [s for s in state.values() if "runs" in s.get("state", {})]
    assert len(ours) == 1, f"expected one StreamView in the saved state, found {len(ours)}"
    model = ours[0]
    assert model["model_module"] == "anywidget", model["model_module"]
    runs = model["state"]["runs"]
    assert [r["status"] for r in runs] == ["done"], runs
    assert runs[0]["text"] == SEED_ANSWER
    assert runs[0]["query"] == SEED_QUERY
    kinds = [e["kind"] for e in runs[0]["entries"] if isinstance(e, dict) and e.get("event") == "start"]
    assert kinds == ["agent", "llm", "tool", "tool", "llm"], kinds
    assert model["state"].get("_esm"), "the widget's ESM must travel with the page"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _local_file(url: str, node_modules: Path) -> Path | None:
    """Map a CDN URL the exported page asks for to a file under node_modules (None: not ours to serve).

    ``https://<cdn>/.../<package>@<range>/<path>`` -> ``node_modules/<package>/<path>`` for the packages
    we know (the module folder is named exactly as the page asks, e.g. ``anywidget@~0.11.*``); the
    require.js URL of nbconvert's template (``/ajax/libs/require.js/<version>/require.min.js``) ->
    ``requirejs/require.js``."""
    path = urlsplit(url).path
    if re.search(r"/require\.js/[^/]+/require(\.min)?\.js$", path):
        return node_modules / "requirejs" / "require.js"
    for pkg in NPM_PACKAGES:
        m = re.search(re.escape(pkg) + r"@[^/]+/(.+)$", path)
        if m:
            target = (node_modules / pkg / m.group(1)).resolve()
            if target.is_file() and (node_modules / pkg).resolve() in target.parents:
                return target
    return None


def test_exported_html_renders_offline(exported_html: Path, node_modules: Path, open_page) -> None:
    """Opened with no network (CDN files served from node_modules), the page shows the final answer and
    the trace tree, with no error from our bundle."""
    bp = open_page()
    served: list[str] = []
    blocked: list[str] = []

    def handle(route: Any) -> None:
        url = route.request.url
        local = _local_file(url, node_modules)
        if local is None:
            blocked.append(url)
            route.abort("blockedbyclient")
            return
        served.append(url)
        ctype = "text/javascript" if local.suffix == ".js" else None
        route.fulfill(path=str(local), content_type=ctype)

    # registered after the context's loopback-only rule, so it is tried first for non-loopback URLs
    bp.context.route(lambda url: not url.startswith(("http://127.0.0.1", "data:", "blob:")), handle)
    with _serve(exported_html.parent) as base:
        bp.page.goto(f"{base}/{exported_html.name}")
        try:
            wait_for(lambda: bp.page.locator('.lsw-run[data-status="done"]').count() == 1, 60,
                     "the widget to render the final run in the static page")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\nserved locally: {served}\nblocked: {blocked}\n{bp.errors.summary()}") from None
        run = bp.page.locator(".lsw-run").first
        assert normalize_ws(run.locator(".lsw-answer").inner_text()) == SEED_ANSWER
        run_id = run.get_attribute("data-run-id")
        open_trace(run)
        nodes = tree(bp.page, run_id)
        assert [n["kind"] for n in nodes] == ["agent", "llm", "tool", "tool", "llm"], nodes
        assert [n["depth"] for n in nodes] == [0, 1, 1, 1, 1], nodes
        assert all(n["visible"] for n in nodes), nodes
        # a finished run in a static page offers no stop button
        assert not run.locator(".lsw-stop").is_visible()
    asked = [u for u in served if "/anywidget@" in u]
    assert asked, f"the anywidget module was not requested from a CDN: {served}"
    # the module folder the page asks for (e.g. anywidget@~0.11.*) must match the npm copy we serve
    wanted = re.search(r"/anywidget@~?\^?(\d+)\.(\d+)", asked[0])
    have = json.loads((node_modules / "anywidget" / "package.json").read_text())["version"]
    if wanted:
        assert have.split(".")[:2] == [wanted.group(1), wanted.group(2)], (
            f"the page asks for {asked[0]} but node_modules has anywidget {have}: align the npm devDependency "
            "with the Python anywidget")
    assert not [u for u in blocked if "anywidget" in u or "html-manager" in u or "require" in u], blocked
    bp.assert_no_bundle_errors()
