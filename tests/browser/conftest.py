"""Fixtures of the real-browser tests: Jupyter servers on loopback, headless chromium through Playwright.

* ``lab_server`` / ``nb7_server`` (session): ``jupyter lab`` / ``jupyter notebook`` (Notebook 7) on 127.0.0.1
  with no token, private config and runtime dirs (the data dir stays the default one: the widget extensions
  live there), settings overrides that hide the news pop-up and turn windowing off. Started on first use,
  stopped (kernels first) at the end of the session.
* ``browser`` (session): the system chromium (``/usr/bin/chromium``); Playwright never downloads a browser.
* ``lab`` / ``nb7`` (function): the servers for one test; its kernels are shut down when it ends.
* ``open_page`` (function): ``open_page()`` gives a fresh context and page that can reach loopback only,
  records console and uncaught page errors, and fails the test on an uncaught error from our bundle.
  On failure a screenshot is saved (to ``$LSW_BROWSER_ARTIFACTS`` or the session's temp dir) and the page's
  errors and the server's log tail are printed.

The scripted model server runs inside each notebook's kernel, started by the notebook's own code.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyter import CHROMIUM, CHROMIUM_ARGS, STATIC, JupyterServer, PageErrors, is_loopback_url


def _need(condition: bool, reason: str) -> None:
    """Fail when a Python prerequisite is missing: ``pip install -e ".[test]"`` installs it (never a silent skip)."""
    if not condition:
        pytest.fail(f'{reason}: pip install -e ".[test]" (or bash scripts/install-test-deps)', pytrace=False)


@pytest.fixture(scope="session")
def browser_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lsw-browser")


@pytest.fixture(scope="session")
def widget_bundle() -> Path:
    """The built front end. A missing bundle is a failure, not a skip: the widget would only show a notice."""
    js = STATIC / "widget.js"
    if not js.exists():
        pytest.fail(f"{js} is missing: build the front end first (npm ci && npm run build)", pytrace=False)
    sources = [p for p in (STATIC.parents[1] / "js").glob("*.*") if p.suffix in (".js", ".mjs", ".css")]
    newer = [p.name for p in sources if p.stat().st_mtime > js.stat().st_mtime]
    if newer:
        warnings.warn(f"the bundle {js} is older than js/{', js/'.join(sorted(newer))}: the browser tests run the "
                      "old front end (npm run build)", stacklevel=1)
    return js


def _start(app: str, home: Path) -> JupyterServer:
    _need(_importable("jupyterlab") if app == "lab" else _importable("notebook"), f"jupyter {app} is not installed")
    return JupyterServer(app, root=home / f"{app}-root", home=home / f"{app}-home").start()


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="session")
def lab_server(browser_home: Path, widget_bundle: Path) -> Iterator[JupyterServer]:
    server = _start("lab", browser_home)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nb7_server(browser_home: Path, widget_bundle: Path) -> Iterator[JupyterServer]:
    server = _start("notebook", browser_home)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # a missing chromium already failed in the root conftest's pytest_runtest_setup (naming --no-browser)
    _need(_importable("playwright"), "python playwright is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class BrowserPage:
    """A page in its own context: loopback only, errors recorded."""

    def __init__(self, browser: Any, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport, device_scale_factor=1)
        self.blocked: list[str] = []
        self.context.route(lambda url: not is_loopback_url(url), self._block)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.errors = PageErrors(self.page)

    def _block(self, route: Any) -> None:
        self.blocked.append(route.request.url)
        route.abort("blockedbyclient")

    def assert_no_bundle_errors(self) -> None:
        ours = self.errors.ours()
        assert not ours, "uncaught errors from the widget's bundle:\n" + "\n".join(ours)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.context.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def _on_failure_print_log(request: pytest.FixtureRequest, server: JupyterServer) -> None:
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n[browser] jupyter {server.app} log tail:\n{server.log_tail(40)}")


@pytest.fixture
def lab(request: pytest.FixtureRequest, lab_server: JupyterServer) -> Iterator[JupyterServer]:
    """The JupyterLab server for one test: its kernels are shut down when the test ends."""
    yield lab_server
    _on_failure_print_log(request, lab_server)
    with contextlib.suppress(Exception):
        lab_server.shutdown_all_kernels()


@pytest.fixture
def nb7(request: pytest.FixtureRequest, nb7_server: JupyterServer) -> Iterator[JupyterServer]:
    """The Notebook 7 server for one test: its kernels are shut down when the test ends."""
    yield nb7_server
    _on_failure_print_log(request, nb7_server)
    with contextlib.suppress(Exception):
        nb7_server.shutdown_all_kernels()


@pytest.fixture
def open_page(
    request: pytest.FixtureRequest, browser: Any, browser_home: Path
) -> Iterator[Callable[..., BrowserPage]]:
    """``open_page(viewport=None)``: a new loopback-only page; closed at teardown, which also fails the test on
    an uncaught error from our bundle (and, for a failed test, saves a screenshot and prints what was seen)."""
    pages: list[BrowserPage] = []

    def factory(*, viewport: dict[str, int] | None = None) -> BrowserPage:
        bp = BrowserPage(browser, viewport or {"width": 1280, "height": 1000})
        pages.append(bp)
        return bp

    yield factory

    rep = getattr(request.node, "rep_call", None)
    failed = rep is not None and rep.failed
    if failed:
        out = Path(os.environ.get("LSW_BROWSER_ARTIFACTS") or browser_home / "failures")
        out.mkdir(parents=True, exist_ok=True)
        stamp = f"{request.node.name}-{int(time.time())}".replace("/", "_").replace("[", "-").replace("]", "")
        for i, bp in enumerate(pages):
            with contextlib.suppress(Exception):
                shot = out / f"{stamp}-{i}.png"
                bp.page.screenshot(path=str(shot), full_page=True)
                print(f"\n[browser] screenshot of the failing page: {shot}")
            print(f"[browser] {bp.errors.summary()}")
            if bp.blocked:
                print(f"[browser] blocked non-loopback requests: {bp.blocked[:20]}")
    bundle_errors = [e for bp in pages for e in bp.errors.ours()]
    for bp in pages:
        bp.close()
    if bundle_errors and not failed:
        pytest.fail("uncaught errors from the widget's bundle:\n" + "\n".join(bundle_errors), pytrace=False)
