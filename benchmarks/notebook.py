"""Group ``notebook``: what a user sees in JupyterLab 4, in chromium (Debian's, driven by Playwright).

A real JupyterLab server (``tests/browser/jupyter.py``'s helpers: loopback, no token, private
config) and real kernels run notebooks whose cells stream from the benchmark's model server (its
own process). Figures:

* **lag a user sees** at 50 tokens/s: each token is stamped by the model server when it is written
  (``i@time_ns``); a probe in the page notes when the frame that shows its text has been *painted*
  and subtracts the stamp (one clock, one machine): ``benchmarks/notebook_lag.py`` (how it finds
  that frame; it also runs alone, and before/after against a git revision);
* **nothing lost**: 20,000 and 100,000 tagged tokens as fast as the model sends them; the final
  answer in the page must hold every token, in order;
* **longest main-thread task** (CDP tracing, every ``RunTask`` of the page's renderer) while a run
  streams a 10 MB markdown answer, and while a run writes a 100,000-entry trace, each until its
  final state is shown, in a ``StreamView`` and, in the same run of the benchmark, in a minimal
  anywidget that receives the same deltas and the same final state (``benchmarks/floor_widget.py``):
  Jupyter parses the final state in one task whatever the widget, so that floor is the physical limit.
  One sample swings by up to 2x (a major GC inside that task or not): each side runs on three fresh
  pages (one in quick mode), alternating which goes first, and the figures are the medians;
* **JS heap** (after a forced GC) of the page holding both of those runs, ours and the floor's.

``python -m benchmarks.notebook [--quick]`` runs this group alone with its own model server.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .common import REPO, Cell, Figure, Settings, Target, at_most, cell_of, is_number, percentile, ratio_at_most
from .notebook_lag import lag_scenario

#: The newest run's answer text and status (ours), after "show more" if the answer was cut; null while
#: the answer box is busy (streaming, or still drawing text received: it renders a frame's share at a time).
ANSWER_JS = """async () => {
  const runs = document.querySelectorAll('.lsw-run');
  const run = runs[runs.length - 1];
  if (!run) return null;
  if (run.querySelector('.lsw-scroll')?.getAttribute('aria-busy') === 'true') return null;
  const more = run.querySelector('.lsw-more');
  if (more && !more.hidden) { more.click(); await new Promise(r => setTimeout(r, 500)); }
  const a = run.querySelector('.lsw-answer');
  return {status: run.getAttribute('data-status'), text: a ? a.textContent : ''};
}"""

#: "toplevel" holds every task of every thread (ThreadControllerImpl::RunTask) and is light; the devtools
#: timeline categories record so much that a 10 MB answer slowed the page to a crawl under tracing.
TRACE_CATEGORIES = ["toplevel"]
TASK_NAMES = {"RunTask", "ThreadControllerImpl::RunTask"}


def _sizes(quick: bool) -> dict[str, int]:
    return {
        "lag_tokens": 100 if quick else 250,
        "lag_repeats": 1 if quick else 3,
        "lost": (20_000,) if quick else (20_000, 100_000),
        "answer_chars": 2_000_000 if quick else 10_000_000,
        "trace_entries": 20_000 if quick else 100_000,
        # the longest task is one sample per page: Jupyter's parse of the final state in one task, whose
        # length moves with the heap's state (a major GC in it or not) by up to 2x between two runs
        "big_repeats": 1 if quick else 3,
    }


# --------------------------------------------------------------------------- tracing


def longest_tasks(trace: bytes) -> dict[str, float]:
    """The longest task (ms) on the busiest renderer main thread of a CDP trace, and how many took > 50 ms."""
    events = json.loads(trace)
    events = events.get("traceEvents", events) if isinstance(events, dict) else events
    mains = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
             and e.get("args", {}).get("name") == "CrRendererMain"}
    per_thread: dict[tuple[int, int], list[float]] = {}
    for e in events:
        if e.get("ph") == "X" and e.get("name") in TASK_NAMES and (e.get("pid"), e.get("tid")) in mains:
            per_thread.setdefault((e["pid"], e["tid"]), []).append(e.get("dur", 0) / 1000)
    if not per_thread:
        return {"max_ms": math.nan, "over_50": 0, "busy_ms": math.nan}
    tasks = max(per_thread.values(), key=sum)
    return {"max_ms": max(tasks), "over_50": sum(1 for t in tasks if t > 50), "busy_ms": sum(tasks)}


# --------------------------------------------------------------------------- the lab


class Lab:
    """A JupyterLab server and a chromium, for one run of the group."""

    def __init__(self, base_url: str, log: Any) -> None:
        self.base_url = base_url
        self.log = log
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Lab:
        sys.path.insert(0, str(REPO))  # tests/browser/jupyter.py: the same helpers as the browser tests
        from playwright.sync_api import sync_playwright

        from tests.browser.jupyter import CHROMIUM, CHROMIUM_ARGS, JupyterServer

        home = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="lsw-bench-lab-")))
        self.server = JupyterServer("lab", root=home / "root", home=home / "home").start()
        self._stack.callback(self.server.stop)
        pw = self._stack.enter_context(sync_playwright())
        self.browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        self._stack.callback(self.browser.close)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @contextlib.contextmanager
    def notebook(self, name: str, cells: list[str]) -> Iterator[Any]:
        from tests.browser.jupyter import NotebookPage, write_notebook

        setup = f"""
            import sys
            sys.path.insert(0, {str(REPO)!r})
            import lazystream_widget as lsw
            from benchmarks.workerlib import bench_query
            from benchmarks.ours_side import notebook_cells as nc
            from benchmarks.floor_widget import FloorView
            from lazystream_widget.runner import Run
            llm = lsw.OnlineChatModule(source="openai", model="scripted", base_url={self.base_url!r}, api_key="b",
                                       stream=True)
            lsw.StreamView(llm, display=False).ask(bench_query(20, 0.0), wait=True)  # warm-up: imports, HTTP
        """
        write_notebook(self.server.root / name, [setup, *cells])
        ctx = self.browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            page.set_default_timeout(600_000)
            nbp = NotebookPage(page, self.server, name).open()
            nbp.cdp = ctx.new_cdp_session(page)
            self.run_cell(nbp, 0, 300)
            yield nbp
        finally:
            ctx.close()
            with contextlib.suppress(Exception):
                self.server.shutdown_sessions(name)

    @staticmethod
    def run_cell(nbp: Any, index: int, timeout: float) -> None:
        nbp.run_cell(index)
        nbp.wait_cells_done(timeout, upto=index + 1)
        errors = nbp.error_outputs()
        if errors:
            raise RuntimeError(f"cell {index} of {nbp.name} failed: {errors[0][:800]}")

    @staticmethod
    def heap_mb(nbp: Any) -> float:
        nbp.cdp.send("HeapProfiler.enable")
        nbp.cdp.send("HeapProfiler.collectGarbage")
        return nbp.cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6

    def traced(self, nbp: Any, index: int, done_js: str, timeout: float) -> dict[str, float]:
        """Run cell ``index`` under CDP tracing until ``done_js`` holds and the page settles; its longest tasks."""
        self.browser.start_tracing(page=nbp.page, categories=TRACE_CATEGORIES)
        try:
            self.run_cell(nbp, index, timeout)
            from tests.browser.jupyter import wait_for

            wait_for(lambda: nbp.page.evaluate(done_js), timeout, "the final state to be shown")
            time.sleep(1.0)  # the frames after it
        finally:
            trace = self.browser.stop_tracing()
        return longest_tasks(trace)


# --------------------------------------------------------------------------- scenarios


def lost_scenario(lab: Lab, counts: tuple[int, ...]) -> dict[int, dict[str, Any]]:
    cells = [f"lost{k} = lsw.StreamView(llm).ask(bench_query({k}, 0.0, tag='r0'), wait=True)" for k in counts]
    out: dict[int, dict[str, Any]] = {}
    with lab.notebook("lost.ipynb", cells) as nbp:
        for i, k in enumerate(counts):
            t0 = time.perf_counter()
            lab.run_cell(nbp, i + 1, 900)
            from tests.browser.jupyter import wait_for

            got = wait_for(lambda: (lambda a: a if a and a["status"] != "running" else None)(
                nbp.page.evaluate(ANSWER_JS)), 300, "the final answer")
            idx = [int(x) for x in re.findall(r"r0\.(\d+)", got["text"])]
            ok = idx == list(range(k))
            out[k] = {"complete": ok, "seen": len(set(idx)), "in_order": idx == sorted(idx),
                      "status": got["status"], "seconds": time.perf_counter() - t0}
            lab.log(f"    {k:,} unpaced tokens: {'complete, in order' if ok else 'INCOMPLETE'} "
                    f"({len(set(idx)):,} seen, status {got['status']}, {out[k]['seconds']:.1f} s)")
    return out


def big_scenarios(lab: Lab, who: str, sz: dict[str, int], repeat: int = 0) -> dict[str, float]:
    """10 MB answer, then a 100,000-entry trace, into ours (``who="ours"``) or the floor widget (a fresh page)."""
    chars, entries = sz["answer_chars"], sz["trace_entries"]
    answer_module = f"nc.big_answer({chars}, 300, 5.0)"
    trace_module = f"nc.big_trace({entries})"
    if who == "ours":
        cells = [f"va = lsw.StreamView({answer_module})\nra = va.ask('a {chars:,}-character answer', wait=True)",
                 f"vt = lsw.StreamView({trace_module})\nrt = vt.ask('a {entries:,}-entry trace', wait=True)"]
        done = ("() => { const r = document.querySelectorAll('.lsw-run'); return r.length >= {n} && "
                "r[r.length - 1].dataset.status === 'done'; }")
    else:
        # (assigned: a cell ending in .wait() would print the 10 MB result as its output)
        cells = [f"fa = FloorView()\ndisplay(fa)\nra = Run({answer_module}, 'answer').start(fa).wait()",
                 f"ft = FloorView()\ndisplay(ft)\nrt = Run({trace_module}, 'trace').start(ft).wait()"]
        done = ("() => { const r = document.querySelectorAll('.floor-status'); return r.length >= {n} && "
                "r[r.length - 1].dataset.status === 'done'; }")
    out: dict[str, float] = {}
    with lab.notebook(f"big-{who}-{repeat}.ipynb", cells) as nbp:
        out["heap_before_mb"] = lab.heap_mb(nbp)
        a = lab.traced(nbp, 1, done.replace("{n}", "1"), 600)
        t = lab.traced(nbp, 2, done.replace("{n}", "2"), 600)
        out["heap_mb"] = lab.heap_mb(nbp)
    out.update(answer_max_ms=a["max_ms"], answer_over_50=a["over_50"], trace_max_ms=t["max_ms"],
               trace_over_50=t["over_50"], max_ms=max(a["max_ms"], t["max_ms"]))
    lab.log(f"    {who}: longest task {a['max_ms']:.0f} ms streaming a {chars / 1e6:.0f} MB answer ({a['over_50']} "
            f"tasks > 50 ms), {t['max_ms']:.0f} ms with a {entries:,}-entry trace ({t['over_50']} > 50 ms); JS heap "
            f"{out['heap_before_mb']:.0f} MB before, {out['heap_mb']:.0f} MB after both")
    return out


# --------------------------------------------------------------------------- the group


def unavailable_reason() -> str:
    from .widget_browser import CHROMIUM

    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no chromium at {CHROMIUM}"
    try:
        import jupyterlab  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed"
    if not (REPO / "lazystream_widget" / "static" / "widget.js").is_file():
        return "the widget bundle is missing (npm run build)"
    return ""


def measure(settings: Settings) -> dict[str, Any]:
    sz = _sizes(settings.quick)
    out: dict[str, Any] = {"sizes": sz}

    def attempt(name: str, fn: Any, *args: Any) -> Any:
        """``fn(*args)``, or why it failed (one scenario failing leaves the others)."""
        try:
            return fn(*args)
        except Exception as exc:
            settings.log(f"    {name}: FAILED: {type(exc).__name__}: {exc}"[:600])
            return f"error: {type(exc).__name__}: {str(exc)[:200]}"

    with Lab(settings.base_url, settings.log) as lab:
        out["lag"] = attempt("lag", lag_scenario, lab, sz["lag_tokens"], sz["lag_repeats"])
        out["lost"] = attempt("lost", lost_scenario, lab, sz["lost"])
        # ours and the floor alternate (ours first, then the floor first...): neither always gets the
        # fresher server; each figure is the median of its repeats
        big: dict[str, Any] = {"ours": [], "floor": []}
        for r in range(sz["big_repeats"]):
            for who in ("ours", "floor") if r % 2 == 0 else ("floor", "ours"):
                if isinstance(big[who], str):
                    continue  # it failed: not again
                got = attempt(who, big_scenarios, lab, who, sz, r)
                if isinstance(got, str):
                    big[who] = got
                else:
                    big[who].append(got)
        out.update(big)
    return out


def run(settings: Settings) -> list[Figure]:
    reason = unavailable_reason()
    if reason:
        settings.log(f"  notebook figures: not available ({reason})")
        data: dict[str, Any] = {k: f"not available: {reason}" for k in ("lag", "lost", "ours", "floor")}
        data["sizes"] = _sizes(settings.quick)
    else:
        data = measure(settings)
    settings.extra["notebook"] = {k: v for k, v in data.items() if k != "lag"}
    sz = data["sizes"]
    figs: list[Figure] = []

    lag = data["lag"]
    if isinstance(lag, dict):
        ours, floor = lag["ours"]["painted"], lag["floor"]["painted"]
        settings.extra.setdefault("lags", {}).update(browser=ours, browser_floor=floor)
        for stat, p, tgt in (("p95", 95, Target("<= 50 ms", at_most(50))), ("p50", 50, Target("report"))):
            figs.append(Figure("notebook", f"lag_{stat}", f"per-token lag {stat} at 50 tokens/s — server stamp to "
                               "painted text in JupyterLab; floor: a minimal anywidget, same run", "ms",
                               {"ours": cell_of([percentile(ours, p)]), "floor": cell_of([percentile(floor, p)])}, tgt))
    else:
        figs.append(Figure("notebook", "lag_p95", "per-token lag p95 at 50 tokens/s — painted in JupyterLab", "ms",
                           {"ours": Cell([], lag)}))

    lost = data["lost"]
    for k in sz["lost"]:
        c = (cell_of([lost[k]["seen"]], "complete, in order" if lost[k]["complete"] else "INCOMPLETE")
             if isinstance(lost, dict) and k in lost else Cell([], lost if isinstance(lost, str) else "not run"))
        figs.append(Figure("notebook", f"lost_{k}", f"{k:,} tokens as fast as the model sends them: tokens in the "
                           "final answer in the page", "tokens", {"ours": c}, Target(f"{k:,} (complete)", _eq(k)),
                           lower_is_better=False))

    ours, floor = data["ours"], data["floor"]
    mb, entries = sz["answer_chars"] / 1e6, sz["trace_entries"]

    def cell(d: Any, key: str) -> Cell:  # d: one dict per repeat, or why there is none
        return cell_of([x[key] for x in d]) if isinstance(d, list) and d else Cell([], str(d))

    figs.append(Figure("notebook", "longest_task", f"longest main-thread task, streaming a {mb:.0f} MB answer or a "
                       f"{entries:,}-entry trace; floor: a minimal anywidget, same run and final state", "ms",
                       {"ours": cell(ours, "max_ms"), "floor": cell(floor, "max_ms")},
                       Target("<= 1.2x the floor", ratio_at_most(1.2))))
    figs.append(Figure("notebook", "heap", f"JS heap of the page with the {entries:,}-entry trace and the {mb:.0f} MB "
                       "answer (after GC); floor: the minimal anywidget's page", "MB",
                       {"ours": cell(ours, "heap_mb"), "floor": cell(floor, "heap_mb")},
                       Target("<= 150 MB", at_most(150))))
    figs.append(Figure("notebook", "heap_empty", "  ... the same page before those runs (JupyterLab itself)", "MB",
                       {"ours": cell(ours, "heap_before_mb"), "floor": cell(floor, "heap_before_mb")},
                       Target("report")))
    return figs



def _eq(value: float):
    def check(f: Figure) -> bool | None:
        v = f.med("ours")
        return None if not is_number(v) else v == value
    return check



if __name__ == "__main__":
    from .model_server import ModelServer

    def _log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with ModelServer() as server:
        s = Settings(quick="--quick" in sys.argv, repeats=1, base_url=server.base_url, log=_log)
        result = measure(s)
        if isinstance(result.get("lag"), dict):
            result["lag"] = {kind: {"n": len(v["painted"]), "p50": percentile(v["painted"], 50),
                                    "p95": percentile(v["painted"], 95)} for kind, v in result["lag"].items()}
        print(json.dumps(result, indent=1, default=str))
