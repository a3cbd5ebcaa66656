"""Helpers for the real-browser tests: Jupyter servers on loopback, notebooks, and a driven JupyterLab page.

Facts these helpers rely on (measured; see the project's notes on browser testing):

* ``jupyter lab`` / ``jupyter notebook`` start in about 2 s; ``/api/status`` answers 200 once ready.
* With ``expose_app_in_browser`` the page has ``window.jupyterapp``, and ``notebook:run-all-cells`` runs
  everything without a click (a menu click was once silently ignored right after the kernel became idle, so
  every "run" here checks that execution started and retries otherwise).
* Kernel idle: ``.jp-Notebook-ExecutionIndicator[data-status="idle"]`` (JupyterLab 4 and Notebook 7).
* Kernels are shut between notebooks with ``DELETE /api/sessions/<id>``.

Nothing here talks to a non-loopback address: the servers listen on 127.0.0.1 and every browser context
aborts requests to any other host.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import nbformat

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "lazystream_widget" / "static"
CHROMIUM = os.environ.get("LSW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Generous bounds (seconds): CI runs on 2 cores with chromium, a Jupyter server and kernels side by side.
SERVER_START_TIMEOUT_S = 90
PAGE_LOAD_TIMEOUT_S = 90
KERNEL_IDLE_TIMEOUT_S = 90
RUN_TIMEOUT_S = 90

#: JupyterLab settings for the tests: no news pop-up / update check, every cell in the DOM (no windowing),
#: widget state saved, a fixed light theme to start from.
SETTING_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Light", "adaptive-theme": False},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True},
}


# ---------------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_group(proc: subprocess.Popen) -> None:
    """End a server started with ``start_new_session=True`` and everything it started: SIGTERM, then SIGKILL."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def is_loopback_url(url: str) -> bool:
    """True for URLs a test page may load: loopback http(s), and the browser's own schemes (data:, blob:, about:)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "chrome-extension", "devtools"):
        return True
    if parts.scheme in ("http", "https", "ws", "wss"):
        host = (parts.hostname or "").lower()
        return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    return parts.scheme == "file"


def clean_env(home: Path) -> dict[str, str]:
    """The environment for servers, kernels and nbconvert: no model endpoint or key from the outside world,
    private Jupyter config / runtime / IPython dirs under ``home`` (the data dir stays the default one, since
    the widget extensions live there), and a private LAZYSTREAM_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAZYSTREAM_", "OPENAI_", "JUPYTER_"))}
    config = home / "jupyter-config"
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    (config / "labconfig" / "default_setting_overrides.json").write_text(json.dumps(SETTING_OVERRIDES, indent=1))
    for name in ("jupyter-runtime", "ipython", "lazystream"):
        (home / name).mkdir(parents=True, exist_ok=True)
    # the kernels must import the package under test: `python -m jupyter lab` runs the `jupyter-lab` script
    # first on PATH, which may belong to another Python (a venv with --system-site-packages has none of its
    # own), and its kernels would then import whatever lazystream_widget that Python has installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
        IPYTHONDIR=str(home / "ipython"),
        LAZYSTREAM_HOME=str(home / "lazystream"),
        PYTHONUNBUFFERED="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    if "JUPYTER_DATA_DIR" in os.environ:  # keep a deliberately chosen data dir (extensions live there)
        env["JUPYTER_DATA_DIR"] = os.environ["JUPYTER_DATA_DIR"]
    env["JUPYTER_PATH"] = os.pathsep.join(
        [str(_test_kernelspec(home)), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    return env


def _test_kernelspec(home: Path) -> Path:
    """A ``python3`` kernelspec that runs the tests' own Python (a venv's, with the package under test).

    The servers are started through the ``jupyter`` command, whose scripts may run another Python (the system's,
    outside a venv); the stock kernelspec says ``python``, which jupyter_client resolves to the *server's*
    Python, so kernels would import whatever that Python has installed instead of the code under test. This
    spec, first on ``JUPYTER_PATH``, pins the kernels to ``sys.executable``."""
    data = home / "jupyter-path"
    spec = data / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
        "metadata": {"debugger": True},
    }, indent=1))  # fmt: skip
    return data


class JupyterServer:
    """``jupyter lab`` or ``jupyter notebook`` (Notebook 7) on 127.0.0.1, no token, serving ``root``."""

    def __init__(self, app: str, root: Path, home: Path) -> None:
        if app not in ("lab", "notebook"):
            raise ValueError(app)
        self.app = app
        self.root = root
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / f"jupyter-{app}.log"
        self.proc: subprocess.Popen | None = None
        self.env = clean_env(home)

    # -- life cycle --

    def start(self) -> JupyterServer:
        self.root.mkdir(parents=True, exist_ok=True)
        app_class = "LabApp" if self.app == "lab" else "JupyterNotebookApp"
        cmd = [
            sys.executable, "-m", "jupyter", self.app,
            "--no-browser", "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
            "--ServerApp.token=", "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root}", "--allow-root",
            "--ServerApp.disable_check_xsrf=True",  # the tests call the REST API from Python; loopback only
            f"--{app_class}.expose_app_in_browser=True",
        ]  # fmt: skip
        log = open(self.log_path, "wb")  # closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=5) as resp:
                    if resp.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyter {self.app} did not answer /api/status in {SERVER_START_TIMEOUT_S} s:\n"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            self.shutdown_all_kernels()
        stop_process_group(self.proc)
        self._log.close()
        self.proc = None

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    # -- REST API --

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def sessions(self) -> list[dict[str, Any]]:
        return self.api("GET", "/api/sessions")

    def shutdown_sessions(self, path: str | None = None) -> None:
        """DELETE the sessions (and so their kernels) of ``path``, or all of them."""
        for s in self.sessions():
            if path is None or s.get("path") == path:
                with contextlib.suppress(urllib.error.HTTPError):
                    self.api("DELETE", f"/api/sessions/{s['id']}")

    def shutdown_all_kernels(self) -> None:
        self.shutdown_sessions()
        for k in self.api("GET", "/api/kernels"):
            with contextlib.suppress(urllib.error.HTTPError):
                self.api("DELETE", f"/api/kernels/{k['id']}")

    def notebook_url(self, name: str) -> str:
        if self.app == "lab":
            return f"{self.url}/lab/tree/{quote(name)}?reset"
        return f"{self.url}/notebooks/{quote(name)}"


# ---------------------------------------------------------------------------------------------------- notebooks


def write_notebook(path: Path, cells: Iterable[str], *, markdown_first: str | None = None) -> Path:
    """Write a python3 notebook of code cells (dedented sources) to ``path``."""
    import textwrap

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if markdown_first:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown_first))
    for src in cells:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(src).strip("\n")))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def copy_notebook(src: Path, dest_dir: Path, *, extra_cells: Iterable[str] = ()) -> Path:
    """Copy a notebook into a server root, outputs cleared, with ``extra_cells`` appended (the original is
    never touched)."""
    import textwrap

    nb = nbformat.read(str(src), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for src_text in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(src_text).strip("\n")))
    dest = dest_dir / src.name
    nbformat.write(nb, str(dest))
    # notebooks may read small files next to them (data, images): bring those along too
    for sibling in src.parent.iterdir():
        if sibling.is_file() and sibling.suffix not in (".ipynb",) and not (dest_dir / sibling.name).exists():
            shutil.copy(sibling, dest_dir / sibling.name)
    return dest


# ---------------------------------------------------------------------------------------------------- the page

# JS: the open notebook panel, in JupyterLab 4 and Notebook 7 alike.
JS_PANEL = """() => {
  const app = window.jupyterapp;
  if (!app) return null;
  const w = app.shell.currentWidget;
  return w && w.content && w.content.model ? w : null;
}"""


class PageErrors:
    """Collects uncaught page errors and console errors; ``ours()`` are those that come from our bundle.

    anywidget loads the widget's ESM from a ``blob:`` URL, so a frame from our code shows up as ``blob:http...``
    in the stack; our CSS classes and package name are the other signatures.
    """

    SIGNATURES = ("blob:http", "lazystream", "lsw-", "lsw_", "[anywidget]")

    def __init__(self, page: Any) -> None:
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)

    def _on_page_error(self, err: Any) -> None:
        stack = getattr(err, "stack", None) or ""
        self.page_errors.append(f"{getattr(err, 'name', 'Error')}: {getattr(err, 'message', err)}\n{stack}")

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.console_errors.append(f"{msg.text} @ {loc.get('url', '')}:{loc.get('lineNumber', '')}")

    def ours(self) -> list[str]:
        found = [e for e in self.page_errors if any(s in e for s in self.SIGNATURES)]
        found += [e for e in self.console_errors if any(s in e for s in self.SIGNATURES)]
        return found

    def summary(self) -> str:
        parts = [f"page errors ({len(self.page_errors)}):", *self.page_errors[-10:],
                 f"console errors ({len(self.console_errors)}):", *self.console_errors[-10:]]
        return "\n".join(parts)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the page may be mid-navigation
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                 + (f" (last error: {last_exc})" if last_exc else ""))
        time.sleep(interval)


class NotebookPage:
    """A notebook opened in JupyterLab 4 or Notebook 7, driven through ``window.jupyterapp``."""

    def __init__(self, page: Any, server: JupyterServer, name: str) -> None:
        self.page = page
        self.server = server
        self.name = name

    def open(self) -> NotebookPage:
        self.page.goto(self.server.notebook_url(self.name), timeout=PAGE_LOAD_TIMEOUT_S * 1000)
        is_open = f"() => {{ const p = ({JS_PANEL})(); return !!p && p.context.path === {json.dumps(self.name)}; }}"
        wait_for(lambda: self.page.evaluate(is_open),
                 PAGE_LOAD_TIMEOUT_S, f"the notebook {self.name} to open")
        self.wait_kernel_idle(KERNEL_IDLE_TIMEOUT_S)
        return self

    def js(self, body: str, arg: Any = None) -> Any:
        """Evaluate ``body`` with ``panel`` (the notebook panel), ``nb`` (its Notebook) and ``app`` in scope."""
        script = f"""async (arg) => {{
          const app = window.jupyterapp;
          const panel = ({JS_PANEL})();
          if (!panel) throw new Error("no notebook panel is open");
          const nb = panel.content;
          {body}
        }}"""
        return self.page.evaluate(script, arg)

    # -- kernel and cells --

    def kernel_status(self) -> str | None:
        return self.page.evaluate(
            """() => { const e = document.querySelector('.jp-Notebook-ExecutionIndicator');
                       return e ? e.getAttribute('data-status') : null; }""")

    def wait_kernel_idle(self, timeout: float = KERNEL_IDLE_TIMEOUT_S) -> None:
        wait_for(lambda: self.js("const k = panel.sessionContext.session?.kernel;"
                                 "return !!k && k.connectionStatus === 'connected' && k.status === 'idle'"
                                 " && document.querySelector("
                                 "'.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]') !== null;"),
                 timeout, f"the kernel of {self.name} to be idle")

    def prompts(self) -> list[str]:
        """The input prompt of each code cell, e.g. ``"[1]:"``, ``"[*]:"``, ``"[ ]:"``."""
        return self.page.evaluate(
            """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
                      .map(e => e.textContent.trim())""")

    def run_all(self, attempts: int = 3) -> None:
        """Run all cells; retried if execution visibly did not start (the UI can ignore a request right
        after the kernel became idle)."""
        for attempt in range(attempts):
            self.js("await app.commands.execute('notebook:run-all-cells');")
            try:
                wait_for(lambda: any(p.startswith("[*]") or re.match(r"\[\d+\]", p) for p in self.prompts()[:1]),
                         10, "the first cell to start")
                return
            except AssertionError:
                if attempt == attempts - 1:
                    raise

    def run_cell(self, index: int, attempts: int = 3, *, wait_done: bool = True) -> None:
        """Run the code cell at ``index`` (counting all cells), without advancing; checked like ``run_all``.

        The run command resolves when the cell finishes: ``wait_done=False`` returns once the cell started
        (for a cell that blocks while the test acts on the page)."""
        before = self.js("return nb.widgets[arg].model.executionCount;", index)
        run = "await app.commands.execute('notebook:run-cell');" if wait_done else \
            "app.commands.execute('notebook:run-cell').catch(() => {});"
        for attempt in range(attempts):
            self.js("nb.activeCellIndex = arg; nb.deselectAll();"
                    "nb.widgets[arg].node.scrollIntoView({block: 'center'});" + run, index)
            try:
                wait_for(lambda: self.js(
                    "const c = nb.widgets[arg.i]; const p = c.node.querySelector('.jp-InputPrompt');"
                    "return (p && p.textContent.includes('*')) || c.model.executionCount !== arg.before;",
                    {"i": index, "before": before}), 10, f"cell {index} to start")
                return
            except AssertionError:
                if attempt == attempts - 1:
                    raise

    def wait_cells_done(self, timeout: float = RUN_TIMEOUT_S, upto: int | None = None) -> None:
        """Wait until every code cell (or those before index ``upto``) has an execution count, none is
        running or queued, and the kernel is idle."""
        def done() -> bool:
            state = self.js(
                "const cells = nb.widgets.slice(0, arg ?? nb.widgets.length).filter(c => c.model.type === 'code');"
                "return {counts: cells.map(c => c.model.executionCount),"
                "        prompts: cells.map(c => c.node.querySelector('.jp-InputPrompt')?.textContent ?? '')};",
                upto)
            return (all(c is not None for c in state["counts"])
                    and not any("*" in p for p in state["prompts"])
                    and self.kernel_status() == "idle")
        wait_for(done, timeout, f"all cells of {self.name} to finish", interval=0.25)

    def outputs(self) -> list[list[dict[str, Any]]]:
        """The nbformat outputs of every cell (empty list for non-code cells), read from the live model."""
        return self.js("return nb.widgets.map(c => c.model.type === 'code' ? c.model.outputs.toJSON() : []);")

    def error_outputs(self) -> list[str]:
        errors = []
        for i, outs in enumerate(self.outputs()):
            for o in outs:
                if o.get("output_type") == "error":
                    tb = "\n".join(o.get("traceback") or [])
                    errors.append(f"cell {i}: {o.get('ename')}: {o.get('evalue')}\n{strip_ansi(tb)[-2000:]}")
        return errors

    def cell_text(self, index: int) -> str:
        """Plain text of a cell's stream / text outputs."""
        parts = []
        for o in self.outputs()[index]:
            if o.get("output_type") == "stream":
                parts.append(o.get("text", ""))
            elif o.get("output_type") in ("execute_result", "display_data"):
                parts.append(str((o.get("data") or {}).get("text/plain", "")))
        return "".join(parts)

    # -- our widget --

    def runs(self) -> list[dict[str, Any]]:
        """Every ``.lsw-run`` on the page: cell index, run id, status, answer text."""
        return self.page.evaluate(JS_RUNS)


JS_RUNS = """() => {
  const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'));
  return Array.from(document.querySelectorAll('.lsw-run')).map(r => {
    const a = r.querySelector('.lsw-answer');
    const cell = r.closest('.jp-Cell');
    return {cell: cells.indexOf(cell), id: r.getAttribute('data-run-id'), status: r.getAttribute('data-status'),
            answer: a ? a.textContent : null};
  });
}"""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def normalize_ws(text: str | None) -> str:
    return " ".join((text or "").split())


# ---------------------------------------------------------------------------------------------------- our widget
# DOM contract (documented at the top of js/widget.js): .lsw-root, .lsw-run[data-run-id][data-status],
# .lsw-answer, .lsw-status, .lsw-stop, .lsw-copy, .lsw-thinking, .lsw-error, .lsw-trace (a <details> holding
# the tree; open for the newest run), .lsw-tree, .lsw-node[data-span][data-kind][data-status][data-depth]
# (a flat, virtualised role=tree: rows are treeitems with aria-level / aria-expanded, in display order),
# .lsw-node-name, .lsw-toggle, .lsw-span-detail (details of the selected span), .lsw-expand-all,
# .lsw-collapse-all, .lsw-filter, .lsw-live (the view's one polite status region).

SEED_QUERY = "What's the weather like today in celsius in Tokyo and Paris."
#: What the scripted weather model answers to SEED_QUERY once the seed's tools ran (Tokyo 10 °C, Paris 22 °C).
SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."
#: Appended by the slow responder so that a run streams 58 tokens (about 3 s at 0.05 s a token).
EXTRA = (
    " Tokyo will stay cool and clear through the evening, so a light jacket is enough there; Paris stays mild,"
    " with a gentle breeze along the river and sunshine expected until late afternoon."
)
LONG_ANSWER = SEED_ANSWER + EXTRA


def weather_setup(token_delay: float = 0.05, extra: str = EXTRA) -> str:
    """Notebook code: the seed's tools and FunctionCallAgent on a scripted model server started in the kernel.

    Turn 1 (parallel tool calls) is sent at once; the answer turn streams one token per ``token_delay`` s.
    """
    return f'''
        import json, time
        import lazystream_widget.demo  # the seed's tools: get_current_weather, get_n_day_weather_forecast
        from lazystream_widget import OnlineChatModule, StreamView
        from lazystream_widget.tools import FunctionCallAgent
        from lazystream_widget.testing import Reply, ScriptedServer, weather_responder

        EXTRA = {extra!r}

        def responder(request):
            reply = weather_responder(request)
            if reply.tool_calls:
                return Reply(tool_calls=reply.tool_calls, delay=0.0)
            return Reply(text=reply.text + EXTRA, delay={token_delay!r})

        server = ScriptedServer(responder=responder).start()
        llm = OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
        agent = FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"])
        QUERY = {SEED_QUERY!r}
        print("scripted model at", server.base_url)
    '''


# JS: the tree of every run on the page, in DOM order.
JS_TREE = """(runId) => {
  const run = document.querySelector(`.lsw-run[data-run-id="${runId}"]`);
  if (!run) return null;
  return Array.from(run.querySelectorAll('.lsw-node')).map(n => {
    const up = n.parentElement ? n.parentElement.closest('.lsw-node') : null;
    const name = n.querySelector('.lsw-node-name');
    const r = n.getBoundingClientRect();
    return {span: n.getAttribute('data-span'), kind: n.getAttribute('data-kind'),
            status: n.getAttribute('data-status'), depth: Number(n.getAttribute('data-depth')),
            name: name ? name.textContent : null,
            domParent: up && run.contains(up) ? up.getAttribute('data-span') : null,
            parentEl: n.parentElement ? Array.from(run.querySelectorAll('*')).indexOf(n.parentElement) : -1,
            visible: r.width > 0 && r.height > 0 && getComputedStyle(n).visibility !== 'hidden'};
  });
}"""


def set_theme(nbp: NotebookPage, theme: str) -> None:
    """Switch JupyterLab's theme ("JupyterLab Light" / "JupyterLab Dark") and wait until it applies."""
    nbp.js("await app.commands.execute('apputils:change-theme', {theme: arg});", theme)
    light = "true" if "Light" in theme else "false"
    wait_for(lambda: nbp.page.evaluate("() => document.body.dataset.jpThemeLight") == light, 20,
             f"the theme {theme} to apply")
    nbp.page.wait_for_timeout(500)


def tree(page: Any, run_id: str) -> list[dict[str, Any]]:
    return page.evaluate(JS_TREE, run_id)


def nested_dom(nodes: list[dict[str, Any]]) -> bool:
    """Whether the front end nests child nodes inside their parent's element (else a flat list with depths)."""
    return any(n["domParent"] for n in nodes)


def words(text: str | None) -> list[str]:
    return re.findall(r"\w+", text or "")


def click_until_none(locator: Any, limit: int = 100) -> int:
    """Click the first element matching ``locator`` until none matches (a click must make its element stop
    matching, e.g. ``[aria-expanded="false"]``). Never iterates a stale ``.all()`` snapshot: clicking
    re-renders, and positions shift. Returns the number of clicks; fails if elements keep matching."""
    for clicks in range(limit):
        if locator.count() == 0:
            return clicks
        locator.first.click()
    raise AssertionError(f"{locator} still matches after {limit} clicks")


def open_trace(run: Any, expand_all: bool = True) -> None:
    """Open a run's trace (``run``: a Playwright locator of one ``.lsw-run``), then click "Expand all"."""
    click_until_none(run.locator(".lsw-trace:not([open]) > summary"))
    if expand_all:
        button = run.locator(".lsw-expand-all")
        if button.count():
            button.first.click()
