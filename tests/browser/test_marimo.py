"""StreamView in a real marimo notebook (marimo server on loopback, headless chromium).

marimo runs a widget's ``initialize()`` only when its first view mounts, and drops custom messages that arrive
before; the view catches up through its ``runs`` trait (``lazystream_widget/frontends.py``). These tests check
what a user sees: the answer grows from its first token to its last while the run is running, the trace tree
has every span's parent from the start (no "parent missing"), and no "live updates were missed" notice is left.

Each test writes a marimo notebook whose own code starts the scripted model and builds the seed's weather
agent, serves it with ``marimo run`` (app mode: cells run on open) or ``marimo edit`` (the run button is
clicked), and samples the widget's DOM every 50 ms.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .jupyter import SEED_ANSWER, SEED_QUERY, clean_env, free_port, normalize_ws, stop_process_group, wait_for

pytestmark = pytest.mark.browser

marimo = pytest.importorskip("marimo", reason='marimo is not installed: pip install -e ".[marimo]"')

#: Every run in the page (marimo renders widgets inside shadow roots): status, answer, spans, orphans, notice.
JS_RUNS = """() => {
  const runs = [];
  const walk = (node) => {
    node.querySelectorAll('.lsw-run').forEach((r) => runs.push(r));
    node.querySelectorAll('*').forEach((c) => { if (c.shadowRoot) walk(c.shadowRoot); });
  };
  walk(document);
  return runs.map((r) => {
    const resync = r.closest('.lsw-root')?.querySelector('.lsw-resync') || r.querySelector('.lsw-resync');
    return {
      status: r.dataset.status,
      answer: (r.querySelector('.lsw-answer') || {}).textContent || '',
      nodes: r.querySelectorAll('.lsw-node').length,
      orphans: r.querySelectorAll('.lsw-node[data-orphan="true"]').length,
      missed: !!resync && !resync.hidden,
    };
  });
}"""

SETUP_CELL = f'''
import marimo as mo
import lazystream_widget as lazyllm
from lazystream_widget.demo import get_current_weather, get_n_day_weather_forecast
from lazystream_widget.testing import ScriptedServer, weather_responder
from lazystream_widget.tools import FunctionCallAgent

server = ScriptedServer(responder=weather_responder, token_delay=TOKEN_DELAY).start()
llm = lazyllm.OnlineChatModule(stream=True, base_url=server.base_url, model="scripted")
agent = FunctionCallAgent(llm, [get_current_weather, get_n_day_weather_forecast])
QUERY = {SEED_QUERY!r}
'''


def marimo_notebook(path: Path, cells: list[str], token_delay: float = 0.05) -> Path:
    """A marimo notebook file: each cell a function; marimo works out the dependencies from the names."""
    out = ["import marimo", "", "app = marimo.App()", ""]
    for src in [SETUP_CELL.replace("TOKEN_DELAY", str(token_delay)), *cells]:
        out += ["", "@app.cell", "def _():", textwrap.indent(textwrap.dedent(src).strip("\n"), "    "), ""]
    path.write_text("\n".join(out) + '\nif __name__ == "__main__":\n    app.run()\n')
    return path


class MarimoServer:
    """``marimo run|edit NOTEBOOK`` on 127.0.0.1, no token; stopped (its process group) by ``stop()``."""

    def __init__(self, notebook: Path, mode: str, home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = home / f"marimo-{mode}.log"
        cmd = [sys.executable, "-m", "marimo", mode, str(notebook), "--headless", "--host", "127.0.0.1",
               "--port", str(self.port), "--no-token"]
        if mode == "edit":
            cmd += ["--no-sandbox", "--skip-update-check"]
        env = clean_env(home)
        env["MARIMO_SKIP_UPDATE_CHECK"] = "1"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=notebook.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(self._healthy, 60, f"marimo {mode} to answer on {self.url}")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"marimo exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop_process_group(self.proc)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    servers: list[MarimoServer] = []

    def start(notebook: Path, mode: str) -> MarimoServer:
        server = MarimoServer(notebook, mode, tmp_path)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def sample_until_done(page: Any, expected_runs: int, timeout: float = 90) -> list[list[dict[str, Any]]]:
    """Sample every run's DOM state every 50 ms until ``expected_runs`` runs have ended (plus one more sample)."""
    samples: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = page.evaluate(JS_RUNS)
        samples.append(runs)
        if len(runs) >= expected_runs and all(r["status"] != "running" for r in runs):
            time.sleep(0.3)
            samples.append(page.evaluate(JS_RUNS))
            return samples
        time.sleep(0.05)
    raise AssertionError(f"the runs did not end within {timeout} s; last sample: {samples[-1:]}")


def assert_streamed_live(samples: list[list[dict[str, Any]]], index: int = 0) -> None:
    """Run ``index`` grew from its first token to its last while running, with a whole tree, and ended clean."""
    states = [s[index] for s in samples if len(s) > index]
    final = normalize_ws(SEED_ANSWER)
    partial = [normalize_ws(s["answer"]) for s in states if s["status"] == "running" and s["answer"].strip()]
    assert len(set(partial)) >= 3, f"too few partial answers while running (not live): {partial}"
    for p in partial:  # a prefix: nothing missing at the start (the first tokens) or in the middle
        assert final.startswith(p), f"a partial answer is not a prefix of the final one (text lost?): {p!r}"
    orphaned = [s for s in states if s["orphans"]]
    assert not orphaned, f"spans shown without their parent ('parent missing'): {orphaned[:3]}"
    assert any(s["status"] == "running" and s["nodes"] >= 3 for s in states), "the tree never showed while running"
    last = states[-1]
    assert last["status"] == "done" and normalize_ws(last["answer"]) == final, last
    assert last["nodes"] == 5 and not last["missed"], f"ended with a 'live updates were missed' notice: {last}"


def test_a_view_streams_live_in_marimo_while_its_cell_waits(serve, open_page, tmp_path: Path) -> None:
    """``StreamView(agent)`` shows itself (``mo.output.append``) and ``ask(wait=True)`` streams into it live;
    marimo's app mode runs the cells on open."""
    nb = marimo_notebook(tmp_path / "waiting.py", [
        'view = lazyllm.StreamView(agent)\nrun = view.ask(QUERY, wait=True)\nprint(run.status)',
    ])  # fmt: skip
    server = serve(nb, "run")
    bp = open_page()
    bp.page.goto(server.url)
    wait_for(lambda: bp.page.evaluate(JS_RUNS), 60, "the view to appear")
    samples = sample_until_done(bp.page, 1)
    assert max(len(s) for s in samples) == 1, "the view was shown more than once"
    assert_streamed_live(samples)


def test_ui_anywidget_in_the_editor_two_runs_and_stop(serve, open_page, tmp_path: Path) -> None:
    """In ``marimo edit`` (cells run from the run button): ``mo.ui.anywidget(view)`` as the cell's output, a run
    that returns at once and streams after its cell ended, a second ask from another cell, and the Stop button
    (marimo delivers it to the idle kernel)."""
    # 0.2 s per token: the answer streams for longer than the 2 s between clicks of the run button below, so
    # sampling starts mid-stream even on a loaded machine (at 0.05 s it was once over before the first sample)
    nb = marimo_notebook(tmp_path / "editor.py", [
        "view = lazyllm.StreamView(agent, display=False)\nfirst = view.ask(QUERY)\nmo.ui.anywidget(view)",
        "first.wait(60)\nsecond = view.ask('Give me a 3-day forecast for Tokyo in celsius.')\nsecond.wait(60)",
        """
        import time

        def ticks(query):  # still running when the test gets to Stop: on a loaded CI a 200-tick run (40 s)
            for _ in range(1000):  # once showed no Stop button to press, most likely because it had ended
                lazyllm.FileSystemQueue().enqueue("tick ")
                time.sleep(0.2)
            return "all ticks"

        slow = lazyllm.StreamView(ticks, display=False)
        long = slow.ask("ticks")
        slow
        """,
    ], token_delay=0.2)  # fmt: skip
    server = serve(nb, "edit")
    bp = open_page()
    bp.page.goto(server.url)
    bp.page.wait_for_selector("[data-testid='run-button']", timeout=60_000)
    button = bp.page.locator("[data-testid='run-button']").last  # "run all stale cells"
    wait_for(lambda: (button.click(), bp.page.evaluate(JS_RUNS))[1], 60, "the cells to run and the view to appear",
             interval=2)
    samples = sample_until_done(bp.page, 2)
    assert_streamed_live(samples, 0)
    runs = samples[-1]
    assert runs[1]["status"] == "done" and "Tokyo" in runs[1]["answer"]
    # the slow view: press Stop while it streams; the run ends cancelled with its partial answer kept
    wait_for(lambda: len(bp.page.evaluate(JS_RUNS)) == 3 and "tick" in bp.page.evaluate(JS_RUNS)[2]["answer"], 60,
             "the slow run to stream")
    bp.page.locator(".lsw-run[data-status='running'] .lsw-stop").first.click()
    wait_for(lambda: bp.page.evaluate(JS_RUNS)[2]["status"] == "cancelled", 30, "the slow run to be cancelled")
    kept = bp.page.evaluate(JS_RUNS)[2]["answer"]
    assert "tick" in kept and kept.count("tick") < 1000
