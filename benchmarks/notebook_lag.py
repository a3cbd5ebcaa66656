"""The lag a user sees at 50 tokens/s in JupyterLab: server stamp until the token's text is painted.

Each token is stamped by the model server when it is written (``i@time_ns``). A probe in the page
notes, for every stamp, when it is first in the newest answer's DOM (``shown``) and when the frame
that shows it has been painted (``painted``), and subtracts the stamp (one clock, one machine).

"Painted" is the end of the first frame that renders the change: a message posted from that frame
is handled once its rendering (style, layout, paint) is done. Which frame that is depends on where
the text was written:

* in an ordinary task (a websocket message drawn at once): the next frame, so the probe asks for
  an animation frame and posts from it;
* inside an animation-frame callback (a draw that waited for a frame): *this* frame. The probe wraps
  ``requestAnimationFrame`` and takes the observer's records right after each callback, so such a
  change is timed by the frame it is painted in. (The previous probe asked for an animation frame
  after every change; one made inside a frame callback was then timed by the frame after, a whole
  frame, ~16.7 ms at 60 Hz, later than it was painted.)

A change made by a microtask that a frame callback queued is timed by the next frame: late by up to a
frame, never early. ``python -m benchmarks.notebook_lag [--tokens N] [--repeats N] [--against REV]``
runs it alone; ``--against REV`` alternates cells drawn by the front end of git revision REV and by the
work tree's, in one JupyterLab page (the load hits both alike).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import percentile

PROBE_JS = """(sel) => {
  // earlier runs' answers are not this run's: every run numbers its tokens from 0
  const before = new Set(document.querySelectorAll(sel));
  const seen = new Set();
  const painted = [], shown = [];
  const now = () => performance.timeOrigin + performance.now();
  const newest = () => {
    const all = document.querySelectorAll(sel);
    const a = all[all.length - 1];
    return a && !before.has(a) ? a : null;
  };
  // the stamps (ms) of the tokens new in the DOM since the last look
  const collect = () => {
    const a = newest(), out = [];
    if (!a) return out;
    const t = now();
    for (const m of a.textContent.matchAll(/(\\d+)@(\\d+)(?=\\s|$)/g)) {
      if (seen.has(m[1])) continue;
      seen.add(m[1]);
      const stamp = Number(m[2]) / 1e6;
      shown.push(t - stamp);
      out.push(stamp);
    }
    return out;
  };
  // a batch whose frame is being rendered: its message is handled after that frame's paint
  const chan = new MessageChannel();
  const waiting = [];
  chan.port1.onmessage = () => {
    const t = now();
    for (const stamp of waiting.shift()) painted.push(t - stamp);
  };
  const afterThisFrame = (batch) => {
    if (!batch.length) return;
    waiting.push(batch);
    chan.port2.postMessage(0);
  };
  const nativeRaf = window.requestAnimationFrame;
  let next = null;  // tokens written outside a frame: the next frame paints them
  const obs = new MutationObserver(() => {
    const got = collect();
    if (!got.length) return;
    if (next) { next.push(...got); return; }
    next = got;
    nativeRaf.call(window, () => { const b = next; next = null; afterThisFrame(b); });
  });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  // a change made inside a frame callback is painted by this frame
  window.requestAnimationFrame = (fn) => nativeRaf.call(window, (t) => {
    try { fn(t); } finally { if (obs.takeRecords().length) afterThisFrame(collect()); }
  });
  window.__lswLag = {painted, shown, stop: () => {
    obs.disconnect();
    window.requestAnimationFrame = nativeRaf;
    return {painted, shown};
  }};
}"""
PROBE_RESULT_JS = "() => window.__lswLag.stop()"
RUNS_ENDED_JS = ("() => Array.from(document.querySelectorAll('.lsw-run, .floor-status'))"
                 ".every(r => r.dataset.status !== 'running')")
#: where each kind of view shows the answer's text: ours, and the floor (a minimal anywidget that
#: shows each delta's text in a <pre> at the next animation frame: benchmarks/floor_widget.py)
TEXT_OF = {"ours": ".lsw-answer", "floor": ".floor-text"}


def lag_cell(name: str, kind: str, n: int, view: str = "lsw.StreamView") -> str:
    """A cell that streams ``n`` tokens at 50 tokens/s (20 ms apart) into a new view of ``kind``."""
    if kind == "floor":
        return f"{name} = FloorView()\ndisplay({name})\nr_{name} = Run(llm, bench_query({n}, 0.02)).start({name})"
    return f"{name} = {view}(llm)\nr_{name} = {name}.ask(bench_query({n}, 0.02))"


def run_lag_cells(lab: Any, nbp: Any, cells: list[tuple[int, str, str]], n: int) -> dict[str, dict]:
    """Run each ``(cell index, label, kind)`` under a fresh probe; every token's lags, by label."""
    from tests.browser.jupyter import wait_for

    out: dict[str, dict[str, list[float]]] = {}
    for index, label, kind in cells:
        nbp.page.evaluate(PROBE_JS, TEXT_OF[kind])
        lab.run_cell(nbp, index, 120)
        wait_for(lambda: nbp.page.evaluate(RUNS_ENDED_JS), 120, "the run to end")
        time.sleep(0.3)
        got = nbp.page.evaluate(PROBE_RESULT_JS)
        lab.log(f"    lag {label}: {len(got['painted'])} of {n} tokens seen painted, "
                f"p50 {percentile(got['painted'], 50):.1f} ms, p95 {percentile(got['painted'], 95):.1f} ms "
                f"(in the DOM: p50 {percentile(got['shown'], 50):.1f}, p95 {percentile(got['shown'], 95):.1f} ms)")
        mine = out.setdefault(label, {"painted": [], "shown": []})
        mine["painted"].extend(got["painted"])
        mine["shown"].extend(got["shown"])
    return out


def lag_scenario(lab: Any, n: int, repeats: int) -> dict[str, dict[str, list[float]]]:
    """The figure: ``repeats`` runs of ``n`` tokens into a StreamView and into the floor, alternating;
    every token's lags (``painted``, ``shown``: in the DOM), by kind (``ours``, ``floor``)."""
    plan = [(f"v{r}_{kind}", kind) for r in range(repeats) for kind in ("ours", "floor")]
    with lab.notebook("lag.ipynb", [lag_cell(name, kind, n) for name, kind in plan]) as nbp:
        return run_lag_cells(lab, nbp, [(i + 1, kind, kind) for i, (_, kind) in enumerate(plan)], n)


def compare(lab: Any, against: str, n: int, repeats: int) -> dict[str, dict]:
    """Before / after in one page: views drawn by ``against``'s js/ and by the work tree's, alternating
    (and the floor beside them)."""
    from .widget_browser import _bundle_of

    tmp = Path(tempfile.mkdtemp(prefix="lsw-lag-ab-"))
    try:
        before, after = _bundle_of(against, tmp / "before"), _bundle_of(None, tmp / "after")
        define = ("from pathlib import Path\n"
                  f"class Before(lsw.StreamView):\n    _esm = Path({str(before)!r})\n"
                  f"class After(lsw.StreamView):\n    _esm = Path({str(after)!r})\n")
        plan = [(f"before ({against})", "ours", "Before"), ("after (work tree)", "ours", "After"),
                ("floor", "floor", "")]
        cells, runs = [define], []
        for _ in range(repeats):
            for label, kind, view in plan:
                cells.append(lag_cell(f"v{len(cells)}", kind, n, view))
                runs.append((len(cells), label, kind))  # cell 0 is the lab's set-up
        with lab.notebook("lag-ab.ipynb", cells) as nbp:
            lab.run_cell(nbp, 1, 60)
            return run_lag_cells(lab, nbp, runs, n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _summary(lags: dict[str, dict]) -> dict[str, dict[str, float]]:
    return {label: {f"{kind}_{stat}": round(percentile(v[kind], p), 1) for kind in ("painted", "shown")
                    for stat, p in (("p50", 50), ("p95", 95))} | {"n": len(v["painted"])}
            for label, v in lags.items()}


if __name__ == "__main__":
    from .common import REPO
    from .model_server import ModelServer
    from .notebook import Lab

    ap = argparse.ArgumentParser(prog="python -m benchmarks.notebook_lag", description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--against", metavar="REV", help="alternate with the js/ of git revision REV")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))

    def _log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with ModelServer() as server, Lab(server.base_url, _log) as lab:
        if args.against:
            result = compare(lab, args.against, args.tokens, args.repeats)
        else:
            result = lag_scenario(lab, args.tokens, args.repeats)
        print(json.dumps(_summary(result), indent=1))
