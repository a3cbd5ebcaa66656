"""Stop and resync while a cell is busy, in JupyterLab 4 and Notebook 7 (real servers, chromium, ipykernel).

Browser messages normally wait behind a busy cell; the widget's control requests take a kernel subshell
(``lazystream_widget/control.py``). One notebook per app exercises the three ways a cell blocks:

1. ``ask()`` then ``time.sleep(30)``: Stop ends the run while the cell still sleeps; a kernel interrupt then
   ends the sleep;
2. ``view.ask(q, wait=True)``: Stop ends the run and the cell raises ``RunCancelled``;
3. ``run.wait()``: the same.

Each asserts the run shows ``cancelled`` within a generous bound of the click (the measured time is printed;
the subshell answers in tens of milliseconds), the partial answer stays and equals the kernel's ``run.text``,
and the kernel-side run closed its HTTP stream (the scripted server, inside the kernel, counts hang-ups).

The resync test loses three delta messages on purpose (the view's test-only hook numbers them but never sends
them, as Jupyter does when it drops messages) while the cell sleeps, and checks the page shows the gap, asks,
and is whole again while the run is still streaming and the cell still busy.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .jupyter import SEED_ANSWER, NotebookPage, normalize_ws, wait_for, weather_setup, write_notebook

pytestmark = pytest.mark.browser

#: about 20 s of answer at 0.05 s a token: every Stop lands mid-stream
SLOW = " ".join(f"w{i}" for i in range(400))
FULL = normalize_ws(SEED_ANSWER + " " + SLOW)
#: "within about a second", with room for a loaded 2-core machine (the printout gives the measured figure)
STOP_BOUND_MS = 4000

CELLS = [
    weather_setup(token_delay=0.05, extra=" " + SLOW),
    "view1 = StreamView(agent)\nrun1 = view1.ask(QUERY)\ntime.sleep(30)",
    "view2 = StreamView(agent)\nview2.ask(QUERY, wait=True)",
    "view3 = StreamView(agent)\nrun3 = view3.ask(QUERY)\nrun3.wait()",
    """
    print("STATE " + json.dumps({
        "runs": {v.last_run.id: {"status": v.last_run.status, "text": v.last_run.text} for v in (view1, view2, view3)},
        "routes": [v.control_route for v in (view1, view2, view3)],
        "disconnects": server.disconnects}))
    """,
]

# Click Stop on a run and wait (polling every 10 ms) until the page shows it cancelled: ms, or -1.
JS_STOP_AND_TIME = """async (runId) => {
  const run = () => document.querySelector(`.lsw-run[data-run-id="${runId}"]`);
  const t0 = performance.now();
  run().querySelector('.lsw-stop').click();
  while (performance.now() - t0 < 15000) {
    if (run()?.getAttribute('data-status') === 'cancelled') return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 10));
  }
  return -1;
}"""


def _run_in_cell(nbp: NotebookPage, cell: int, words: int = 15) -> dict[str, Any]:
    """The run shown in ``cell`` once it is running and has streamed ``words`` words."""
    def found():
        for r in nbp.runs():
            if r["cell"] == cell and r["status"] == "running" and len(normalize_ws(r["answer"]).split()) >= words:
                return r
        return None
    return wait_for(found, 60, f"the run of cell {cell} to stream {words} words")


def _busy(nbp: NotebookPage, cell: int) -> bool:
    return nbp.prompts()[cell].startswith("[*]")


def _stop(nbp: NotebookPage, cell: int) -> tuple[str, float, str]:
    run = _run_in_cell(nbp, cell)
    assert _busy(nbp, cell), f"cell {cell} should still be running when Stop is clicked"
    took = nbp.page.evaluate(JS_STOP_AND_TIME, run["id"])
    assert 0 <= took < STOP_BOUND_MS, f"cell {cell}: the run was not cancelled within {STOP_BOUND_MS} ms ({took})"
    partial = normalize_ws(next(r for r in nbp.runs() if r["id"] == run["id"])["answer"])
    assert partial and FULL.startswith(partial) and len(partial) < len(FULL), f"partial answer lost: {partial!r}"
    return run["id"], took, partial


def _check_stop_while_busy(server: Any, open_page: Any, name: str) -> None:
    write_notebook(server.root / name, CELLS)
    bp = open_page()
    nbp = NotebookPage(bp.page, server, name).open()
    nbp.run_cell(0)
    nbp.wait_cells_done(upto=1)
    shown: dict[str, str] = {}
    times: dict[str, float] = {}

    # 1. time.sleep(30) after ask(): cancelled while the cell still sleeps
    nbp.run_cell(1, wait_done=False)
    run_id, took, partial = _stop(nbp, 1)
    times["sleep"], shown[run_id] = took, partial
    assert _busy(nbp, 1), "Stop must not wait for the sleeping cell"
    assert bp.page.locator(f'.lsw-run[data-run-id="{run_id}"] .lsw-stop-note').is_hidden()
    nbp.js("await panel.sessionContext.session.kernel.interrupt();")
    nbp.wait_cells_done(upto=2, timeout=30)

    # 2. ask(wait=True) and 3. run.wait(): the waiting cell raises RunCancelled
    for cell, label in ((2, "ask_wait"), (3, "run_wait")):
        nbp.run_cell(cell, wait_done=False)
        run_id, times[label], shown[run_id] = _stop(nbp, cell)
        nbp.wait_cells_done(upto=cell + 1, timeout=30)
        errors = [o for o in nbp.outputs()[cell] if o.get("output_type") == "error"]
        assert errors and errors[0]["ename"] == "RunCancelled", nbp.outputs()[cell]

    time.sleep(1.0)  # nothing more may arrive after the end
    for run_id, partial in shown.items():
        now = normalize_ws(next(r for r in nbp.runs() if r["id"] == run_id)["answer"])
        assert now == partial, "the answer changed after the run was cancelled"

    nbp.run_cell(4)
    nbp.wait_cells_done(timeout=30)
    state = json.loads(nbp.cell_text(4).split("STATE ", 1)[1].splitlines()[0])
    assert state["routes"] == ["subshell"] * 3, state["routes"]
    for run_id, partial in shown.items():
        assert state["runs"][run_id]["status"] == "cancelled", state["runs"][run_id]
        assert normalize_ws(state["runs"][run_id]["text"]) == partial, "the page must show the kernel's partial text"
    assert state["disconnects"] >= 3, "each cancelled run must close its HTTP stream to the model"
    print(f"[stop-while-busy] {server.app}: click -> cancelled shown: "
          + ", ".join(f"{k} {v:.0f} ms" for k, v in times.items()))
    bp.assert_no_bundle_errors()


def test_stop_while_busy_in_jupyterlab(lab, open_page) -> None:
    _check_stop_while_busy(lab, open_page, "stop-busy-lab.ipynb")


def test_stop_while_busy_in_notebook7(nb7, open_page) -> None:
    _check_stop_while_busy(nb7, open_page, "stop-busy-nb7.ipynb")


def _start_busy_cell(server: Any, open_page: Any, name: str, code: str) -> tuple[Any, NotebookPage]:
    """A notebook of the weather set-up and ``code``: opened, set up, and ``code`` started (it blocks)."""
    write_notebook(server.root / name, [weather_setup(token_delay=0.05, extra=" " + SLOW), code])
    bp = open_page()
    nbp = NotebookPage(bp.page, server, name).open()
    nbp.run_cell(0)
    nbp.wait_cells_done(upto=1)
    nbp.run_cell(1, wait_done=False)
    return bp, nbp


def test_where_stop_cannot_reach_a_busy_kernel_the_button_says_so(lab, open_page) -> None:
    """With no subshell route (here turned off with ``configure(control_route="shell")``, as on a kernel without
    subshells), a Stop during a busy cell says it takes effect when the cell finishes, and it does."""
    bp, nbp = _start_busy_cell(lab, open_page, "stop-fallback.ipynb",
                               "import lazystream_widget\nlazystream_widget.configure(control_route='shell')\n"
                               "view = StreamView(agent)\nrun = view.ask(QUERY)\n"
                               "while not run.text:\n    time.sleep(0.05)\n"
                               "time.sleep(6)")  # busy for 6 s once the answer streams
    run = _run_in_cell(nbp, 1, words=3)
    box = bp.page.locator(f'.lsw-run[data-run-id="{run["id"]}"]')
    assert "between cells" in (box.locator(".lsw-stop").get_attribute("title") or "")
    box.locator(".lsw-stop").click()
    note = box.locator(".lsw-stop-note")
    note.wait_for(state="visible", timeout=10_000)
    assert "when that cell finishes" in note.text_content()
    assert _busy(nbp, 1) and nbp.runs()[0]["status"] == "running", "the run must still be going: the cell is busy"
    wait_for(lambda: nbp.runs()[0]["status"] == "cancelled", 30, "the run to stop once the cell finished")
    assert not _busy(nbp, 1)
    assert note.is_hidden()
    bp.assert_no_bundle_errors()


# Samples, every 20 ms, the root's resync flag and the run's status and answer.
JS_WATCH_RESYNC = """() => {
  window.__lswResync = [];
  const t0 = performance.now();
  window.__lswResyncTimer = setInterval(() => {
    const root = document.querySelector('.lsw-root');
    const run = document.querySelector('.lsw-run');
    if (!root || !run) return;
    window.__lswResync.push({t: performance.now() - t0, resync: root.dataset.resync, status: run.dataset.status,
                             answer: run.querySelector('.lsw-answer').textContent});
  }, 20);
}"""


def test_a_gap_is_caught_up_while_the_cell_is_busy(lab, open_page) -> None:
    bp, nbp = _start_busy_cell(lab, open_page, "resync-busy.ipynb",
                               "view = StreamView(agent)\nrun = view.ask(QUERY)\n"
                               "while len(run.text.split()) < 5:\n    time.sleep(0.05)\n"
                               "view._lose_next_deltas(3)\ntime.sleep(30)")
    _run_in_cell(nbp, 1, words=3)
    bp.page.evaluate(JS_WATCH_RESYNC)

    def caught_up():
        samples = bp.page.evaluate("() => window.__lswResync")
        flagged = [s for s in samples if s["resync"] == "true"]
        if not flagged:
            return None
        after = [s for s in samples if s["t"] > flagged[-1]["t"] and s["resync"] == "false"]
        return (flagged[0], after[0]) if after else None

    gap, whole = wait_for(caught_up, 20, "the page to see the gap and catch up")
    assert whole["status"] == "running" and _busy(nbp, 1), "caught up only at the end: the resync did not help"
    answer = normalize_ws(whole["answer"])
    # the gap shows only once a message after the lost ones arrived: from then on, a prefix means no hole
    assert FULL.startswith(answer) and len(answer.split()) > 5, f"the answer still has a hole: {answer!r}"
    # and it goes on growing from there without a hole
    later = wait_for(lambda: (a := normalize_ws(nbp.runs()[0]["answer"])) and len(a) > len(answer) + 20 and a, 20,
                     "more text after the resync")
    assert FULL.startswith(later), f"a hole after the resync: {later!r}"
    print(f"[resync] gap seen at {gap['t']:.0f} ms, caught up {whole['t'] - gap['t']:.0f} ms later, cell busy")
    nbp.js("await panel.sessionContext.session.kernel.interrupt();")
    bp.assert_no_bundle_errors()
