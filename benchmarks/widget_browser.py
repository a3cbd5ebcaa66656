"""Browser rows of spec section 7, measured in a real headless chromium (Debian's, driven by Playwright).

A static harness page (``benchmarks/widget_page/``: ``index.html`` + ``harness.js``), served on
loopback by a small ``http.server`` thread together with ``lazystream_widget/static/``, imports the
real bundle into a fake anywidget host (a model emitting ``msg:custom`` and ``change:runs`` like
anywidget) and plays the kernel's part: ``run_start``, ``delta`` messages (each in its own task,
like websocket messages), then the final ``runs`` trait.

Figures (keys of :data:`benchmarks.widget.WIDGET_FIGURES`):

- ``render_ratio``: main-thread busy time (CDP ``Performance.getMetrics`` ``TaskDuration``) per
  1,000 tokens over the last 5,000 tokens of a 50,000-token stream / the same over the first 5,000
  (10-token deltas, 10 deltas per animation frame, as fast as the page takes them; a throw-away
  warm-up stream first so the first segment is not measured with cold JIT). Every 5,000-token
  segment is timed: the curve is plotted (cost against tokens).
- ``longest_task``: the longest main-thread task (``longtask`` observer, plus the harness's own
  timing of every delivery and every widget animation-frame callback) while streaming a 10 MB
  answer (300 deltas at 30 msg/s, then its final state) and while loading a final state with a
  100,000-entry trace (and, for the plot, 10,000 and 30,000); the max of the two.
- ``markdown_busy``: ``TaskDuration`` delta / wall time while streaming 5,000 tokens of markdown at
  200 tokens/s (7 tokens per message, one message every 35 ms, i.e. ~29 msg/s).

``python -m benchmarks.widget_browser [--quick] [--repeats N] [--profile SCENARIO] [--against REV]``; ``--profile``
(render, big, trace, busy) runs one scenario under the CDP sampling profiler with an unminified
build of ``js/`` (esbuild, into a temporary directory) and prints the functions with the most
self time; ``--against REV --only big,trace`` runs those scenarios with the front end of git revision
REV and with the work tree's, alternating, and prints both (before / after figures under the same load);
``--only heap`` there: the JS heap after GC of one page holding both (spec section 7, memory).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .common import REPO, Cell, Settings, cell_of

PAGE_DIR = REPO / "benchmarks" / "widget_page"
STATIC_DIR = REPO / "lazystream_widget" / "static"
CHROMIUM = os.environ.get("LSW_BENCH_CHROMIUM", "/usr/bin/chromium")
#: render_ratio above this after one repeat: the stream is quadratic, further repeats are skipped
FAR_OFF_RATIO = 10.0
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


# --------------------------------------------------------------------------- sizes


def _sizes(quick: bool, text: str = "mixed") -> dict[str, Any]:
    return {
        # "mixed": markdown as generated (lists and quotes may follow each other directly);
        # "separated": a paragraph between any two lists / quotes (diagnostic only)
        "text": text,
        # render_ratio: 10-token deltas, per-1,000-token cost of the first vs the last `segment` tokens
        "render_tokens": 20_000 if quick else 50_000,
        "render_segment": 2_000 if quick else 5_000,
        "render_per_delta": 10,
        "render_per_frame": 10,
        # longest_task
        "big_chars": 2_000_000 if quick else 10_000_000,
        "big_messages": 60 if quick else 300,
        "trace_entries": 20_000 if quick else 100_000,
        "trace_steps": (5_000,) if quick else (10_000, 30_000),
        # markdown_busy: 200 tokens/s, ~30 msg/s
        "busy_tokens": 500 if quick else 5_000,
        "busy_per_delta": 7,
        "busy_interval_ms": 35.0,
    }


# --------------------------------------------------------------------------- loopback server


class _Handler(SimpleHTTPRequestHandler):
    roots: dict[str, Path] = {}  # URL prefix -> directory ("/" is the page)
    extensions_map = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript",
                      ".css": "text/css", ".map": "application/json", "": "application/octet-stream"}

    def translate_path(self, path: str) -> str:
        path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        path = posixpath.normpath(path)
        for prefix, root in sorted(self.roots.items(), key=lambda kv: -len(kv[0])):
            if prefix == "/" or path.startswith(prefix):
                rel = path[len(prefix):] if prefix != "/" else path.lstrip("/")
                target = (root / rel).resolve()
                if target == root.resolve() or root.resolve() in target.parents:
                    return str(target)
                return str(root / "__nope__")
        return str(PAGE_DIR / "__nope__")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(alt_dir: Path | None = None) -> Iterator[str]:
    """Serve the harness page at ``/``, the bundle at ``/static/`` (and ``alt_dir`` at ``/alt/``)."""
    roots = {"/": PAGE_DIR, "/static/": STATIC_DIR}
    if alt_dir is not None:
        roots["/alt/"] = alt_dir
    handler = type("Handler", (_Handler,), {"roots": roots})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="widget-bench-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- the browser


def unavailable_reason() -> str:
    """Why the browser figures cannot be measured here ('' when they can)."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no chromium at {CHROMIUM}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Python Playwright not installed ({exc})"
    for name in ("widget.js", "widget.css"):
        if not (STATIC_DIR / name).is_file():
            return f"bundle missing: {STATIC_DIR / name} (npm run build)"
    for name in ("index.html", "harness.js"):
        if not (PAGE_DIR / name).is_file():
            return f"harness page missing: {PAGE_DIR / name}"
    return ""


class Browser:
    """One chromium; each scenario gets a fresh context and page (a fresh renderer)."""

    def __init__(self, base_url: str, bundle: str | None = None):
        from playwright.sync_api import sync_playwright

        self.base_url = base_url
        self.bundle = bundle
        self.extra: dict[str, Any] = {}  # curves the scenarios keep for the plots
        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception:
            self._pw.stop()
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.browser.close()
        with contextlib.suppress(Exception):
            self._pw.stop()

    @contextlib.contextmanager
    def page(self) -> Iterator[Page]:
        ctx = self.browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            page.set_default_timeout(300_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            query = f"?bundle={urllib.parse.quote(self.bundle)}" if self.bundle else ""
            page.goto(f"{self.base_url}/index.html{query}")
            try:
                page.wait_for_function("window.harness !== undefined", timeout=30_000)
                page.evaluate("window.harness.ready")
            except Exception as exc:
                raise RuntimeError(f"harness did not load: {exc}; page errors: {errors[:3]}") from None
            cdp = ctx.new_cdp_session(page)
            cdp.send("Performance.enable", {"timeDomain": os.environ.get("LSW_BENCH_TIME_DOMAIN", "timeTicks")})
            yield Page(page, cdp, errors)
        finally:
            ctx.close()


class Page:
    def __init__(self, page: Any, cdp: Any, errors: list[str]):
        self.page, self.cdp, self.errors = page, cdp, errors

    def call(self, fn: str, arg: dict[str, Any] | None = None) -> Any:
        return self.page.evaluate(f"(a) => window.harness.{fn}(a)", arg or {})

    def metrics(self) -> dict[str, float]:
        res = self.cdp.send("Performance.getMetrics")
        return {m["name"]: m["value"] for m in res["metrics"]}


def _delta(a: dict[str, float], b: dict[str, float], key: str) -> float:
    return b.get(key, 0.0) - a.get(key, 0.0)


def _busy(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Main-thread seconds spent between two metric snapshots, in total and by kind."""
    return {k: _delta(a, b, k) for k in ("TaskDuration", "ScriptDuration", "LayoutDuration",
                                          "RecalcStyleDuration", "Timestamp")}


# --------------------------------------------------------------------------- scenarios


def run_render(b: Browser, sz: dict[str, Any], log: Callable[[str], None]) -> float:
    """ms of main-thread work per 1,000 tokens, last segment / first segment of a 50k-token stream.

    The stream is fed in equal segments of ``render_segment`` tokens, each timed (CDP ``TaskDuration``):
    ``b.extra["render_curve"]`` keeps [tokens streamed so far, ms per 1k tokens] for the cost-vs-work plot.
    """
    n, seg, per = sz["render_tokens"], sz["render_segment"], sz["render_per_delta"]
    deltas, seg_d = n // per, seg // per
    with b.page() as p:
        p.call("warmup", 3000)
        p.call("streamPrepare", {"deltas": deltas, "perDelta": per, "seed": 1, "text": sz["text"]})
        parts = []
        for lo in range(0, deltas, seg_d):
            hi = min(deltas, lo + seg_d)
            m0 = p.metrics()
            own = p.call("streamFeed", {"from": lo, "to": hi, "perFrame": sz["render_per_frame"]})
            m1 = p.metrics()
            parts.append((_busy(m0, m1), own, (hi - lo) * per / 1000, hi * per))
        fin = p.call("streamFinish")
    (first, own_first, k1, _), (last, own_last, k2, _) = parts[0], parts[-1]
    ms_first = first["TaskDuration"] * 1000 / k1
    ms_last = last["TaskDuration"] * 1000 / k2
    b.extra.setdefault("render_curve", []).append([[at, busy["TaskDuration"] * 1000 / k] for busy, _, k, at in parts])
    js_first = (own_first["feedMs"] + own_first["frameMs"]) / k1
    js_last = (own_last["feedMs"] + own_last["frameMs"]) / k2
    log(f"    render: {ms_first:.1f} ms/1k tokens over the first {seg:,} tokens, {ms_last:.1f} over the last {seg:,} "
        f"of {n:,} (script {first['ScriptDuration'] * 1000 / k1:.1f} -> {last['ScriptDuration'] * 1000 / k2:.1f}, "
        f"layout {first['LayoutDuration'] * 1000 / k1:.1f} -> {last['LayoutDuration'] * 1000 / k2:.1f}, "
        f"style {first['RecalcStyleDuration'] * 1000 / k1:.1f} -> {last['RecalcStyleDuration'] * 1000 / k2:.1f}; "
        f"widget JS timed in page {js_first:.1f} -> {js_last:.1f}); frames {own_first['frameCount']} / "
        f"{own_last['frameCount']}, max frame {own_first['frameMax']:.1f} / {own_last['frameMax']:.1f} ms; "
        f"final: {fin['info']['chars']:,} chars shown, {fin['info']['frozen']} frozen blocks")
    return ms_last / ms_first


def run_big(b: Browser, sz: dict[str, Any], log: Callable[[str], None]) -> float:
    """Longest main-thread task (ms) while streaming a big answer and loading its final state."""
    with b.page() as p:
        r = p.call("bigAnswer", {"chars": sz["big_chars"], "messages": sz["big_messages"], "rate": 30,
                                   "text": sz["text"]})
    s, f = r["stream"], r["final"]
    worst = max(s["longTaskMax"], s["feedMax"], s["frameMax"], f["longTaskMax"], f["feedMax"], f["frameMax"])
    log(f"    big answer: {r['chars'] / 1e6:.1f} MB in {r['messages']} deltas: stream longest task "
        f"{s['longTaskMax']:.0f} ms ({s['longTaskCount']} long tasks), max delivery {s['feedMax']:.1f} ms, "
        f"max frame {s['frameMax']:.1f} ms; final state: longest task {f['longTaskMax']:.0f} ms, "
        f"delivery {f['feedMax']:.1f} ms, max frame {f['frameMax']:.1f} ms; shown {r['info']['chars']:,} chars, "
        f"'show more' {'on' if r['info']['more'] else 'off'}, status {r['info']['status']}; "
        f"widget frames > 50 ms while streaming [ms, deltas handled]: {s['slowFrames'][:12]}")
    return worst


def run_trace(b: Browser, sz: dict[str, Any], log: Callable[[str], None]) -> float:
    """Longest main-thread task (ms) while loading a final state with a big trace.

    Smaller traces first (``trace_steps``): ``b.extra["trace_curve"]`` keeps [entries, longest task ms,
    ms until idle] for the cost-vs-work plot.
    """
    worst = 0.0
    curve = []
    for entries in sorted({*sz.get("trace_steps", ()), sz["trace_entries"]}):
        with b.page() as p:
            r = p.call("bigTrace", {"entries": entries})
        longest = max(r["longTaskMax"], r["feedMax"], r["frameMax"])
        curve.append([entries, longest, r["wallMs"]])
        log(f"    trace: {r['entries']:,} entries ({r['jsonMB']:.1f} MB of JSON; its JSON.parse, Jupyter's cost, "
            f"{r['parseMs']:.0f} ms, not counted): longest task {r['longTaskMax']:.0f} ms ({r['longTaskCount']} long "
            f"tasks), trait delivery {r['feedMax']:.1f} ms, max frame {r['frameMax']:.1f} ms over {r['frameCount']} "
            f"frames, {r['wallMs']:.0f} ms until idle; {r['info']['nodes']:,} tree nodes in the DOM")
        if entries == sz["trace_entries"]:
            worst = longest
    b.extra.setdefault("trace_curve", []).append(curve)
    return worst


def run_busy(b: Browser, sz: dict[str, Any], log: Callable[[str], None]) -> float:
    """Main-thread busy % while streaming markdown at 200 tokens/s (~30 msg/s)."""
    per = sz["busy_per_delta"]
    deltas = -(-sz["busy_tokens"] // per)
    with b.page() as p:
        p.call("streamPrepare", {"deltas": deltas, "perDelta": per, "seed": 3, "text": sz["text"]})
        m0 = p.metrics()
        p.call("idle", 1000)
        m1 = p.metrics()
        own = p.call("streamPaced", {"from": 0, "to": deltas, "intervalMs": sz["busy_interval_ms"]})
        m2 = p.metrics()
    base, busy = _busy(m0, m1), _busy(m1, m2)
    pct = 100 * busy["TaskDuration"] / busy["Timestamp"]
    tokens = deltas * per
    log(f"    markdown busy: {pct:.1f} % ({busy['TaskDuration'] * 1000:.0f} ms of tasks in "
        f"{busy['Timestamp']:.1f} s, {tokens / busy['Timestamp']:.0f} tokens/s, {deltas} messages, {own['late']} late; "
        f"script {100 * busy['ScriptDuration'] / busy['Timestamp']:.1f} %, layout "
        f"{100 * busy['LayoutDuration'] / busy['Timestamp']:.1f} %, style "
        f"{100 * busy['RecalcStyleDuration'] / busy['Timestamp']:.1f} %; widget JS timed in page "
        f"{100 * (own['feedMs'] + own['frameMs']) / own['wallMs']:.1f} %; idle page before: "
        f"{100 * base['TaskDuration'] / base['Timestamp']:.1f} %)")
    return pct


def _heap_mb(p: Page) -> float:
    """Used JS heap (MB) after forced garbage collections (CDP, like benchmarks/notebook.py)."""
    p.cdp.send("HeapProfiler.enable")
    for _ in range(2):  # a second pass collects what the first one's finalizers released
        p.cdp.send("HeapProfiler.collectGarbage")
    return p.cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6


def run_heap(b: Browser, sz: dict[str, Any], log: Callable[[str], None]) -> float:
    """JS heap (MB, after GC) of one page holding the big answer's view and the big trace's view.

    The harness page's share of spec section 7's memory row (in JupyterLab: benchmarks/notebook.py):
    the fake model holds each final state as Jupyter's would, so the figure is the states plus the
    widget's own structures. Not a figure of the table: ``--against REV --only heap`` (before / after).
    """
    with b.page() as p:
        empty = _heap_mb(p)
        p.call("bigAnswer", {"chars": sz["big_chars"], "messages": sz["big_messages"], "rate": 30, "text": sz["text"]})
        answer = _heap_mb(p)
        p.call("bigTrace", {"entries": sz["trace_entries"]})
        both = _heap_mb(p)
    log(f"    heap: {empty:.1f} MB empty page, {answer:.1f} MB with the {sz['big_chars'] / 1e6:.0f} MB answer, "
        f"{both:.1f} MB with the {sz['trace_entries']:,}-entry trace too")
    return both


SCENARIOS: dict[str, Callable[[Browser, dict[str, Any], Callable[[str], None]], float]] = {
    "render": run_render, "big": run_big, "trace": run_trace, "busy": run_busy, "heap": run_heap,
}


# --------------------------------------------------------------------------- the figures


def measure_browser(settings: Settings) -> dict[str, Cell]:
    """The browser rows of spec section 7 as ``{key: Cell}``; {} (rows stay pending) when no browser."""
    reason = unavailable_reason()
    if reason:
        settings.log(f"  widget browser figures: skipped ({reason})")
        return {}
    quick = settings.quick
    sz = _sizes(quick, settings.extra.get("widget_text", "mixed"))
    only = settings.extra.get("widget_only") or ["render_ratio", "longest_task", "markdown_busy"]
    reps = 1 if quick else max(1, settings.repeats)
    log = settings.log
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    values: dict[str, list[float]] = {"render_ratio": [], "longest_task": [], "markdown_busy": []}
    errors: dict[str, str] = {}
    far_off: set[str] = set()
    try:
        with serve() as url:
            b = Browser(url)
            try:
                for i in range(reps):
                    log(f"  widget browser: repeat {i + 1} of {reps}")
                    for key, fns in (("render_ratio", [run_render]), ("longest_task", [run_big, run_trace]),
                                     ("markdown_busy", [run_busy])):
                        if key in errors or key not in only:
                            continue
                        if key in far_off:
                            continue
                        try:
                            values[key].append(max(fn(b, sz, log) for fn in fns))
                        except Exception as exc:
                            errors[key] = f"{type(exc).__name__}: {exc}"[:300]
                            log(f"    {key}: FAILED: {errors[key]}")
                            continue
                        if key == "render_ratio" and values[key][-1] > FAR_OFF_RATIO and i + 1 < reps:
                            # a quadratic stream takes minutes per repeat: one repeat says enough
                            far_off.add(key)
                            log(f"    render_ratio {values[key][-1]:.0f}x: far over target, further repeats skipped")
            finally:
                settings.extra.setdefault("browser_curves", {}).update(b.extra)
                b.close()
    except Exception as exc:
        log(f"  widget browser figures: not available ({type(exc).__name__}: {exc})"[:400])
        return {}
    log(f"  widget browser: {time.perf_counter() - t0:.0f} s (load average {load0:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end, {os.cpu_count()} cores)")
    notes = {
        "render_ratio": (f"{sz['render_tokens'] // 1000}k vs {sz['render_segment'] // 1000}k tokens (quick)" if quick
                         else f"{len(values['render_ratio'])} repeat(s): far over target" if "render_ratio" in far_off
                         else ""),
        "longest_task": (f"{sz['big_chars'] / 1e6:.0f} MB answer, {sz['trace_entries']:,}-entry trace (quick)"
                         if quick else ""),
        "markdown_busy": f"{sz['busy_tokens']:,} tokens (quick)" if quick else "",
    }
    cells: dict[str, Cell] = {}
    for key, vals in values.items():
        if vals:
            cells[key] = cell_of(vals, notes[key])
        elif key in errors:
            cells[key] = Cell([], f"error: {errors[key]}")
    return cells


# --------------------------------------------------------------------------- profiling


def _unminified_bundle(out: Path) -> Path:
    """An unminified esbuild bundle of js/widget.js (function names intact) in ``out``."""
    esbuild = REPO / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise RuntimeError("node_modules/.bin/esbuild missing (npm ci)")
    subprocess.run([str(esbuild), "js/widget.js", "--bundle", "--format=esm", "--target=es2020",
                    "--loader:.html=text", f"--outfile={out / 'widget.js'}", "--log-level=warning"],
                   cwd=REPO, check=True)
    return out / "widget.js"


def _bundle_of(rev: str | None, out: Path) -> Path:
    """esbuild bundle (minified, like ``npm run build``) of ``js/`` at git revision ``rev`` (None: the
    work tree) into ``out``; the revision's ``js/`` and export template are read with ``git archive``."""
    esbuild = REPO / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise RuntimeError("node_modules/.bin/esbuild missing (npm ci)")
    src = REPO
    if rev is not None:
        src = out / "src"
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev, "js", "lazystream_widget/export_template.html"],
                                 cwd=REPO, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        (src / "node_modules").symlink_to(REPO / "node_modules")
    subprocess.run([str(esbuild), "js/widget.js", "--bundle", "--format=esm", "--target=es2020", "--minify",
                    "--loader:.html=text", f"--outfile={out / 'widget.js'}", "--log-level=warning"],
                   cwd=src, check=True)
    return out / "widget.js"


def compare(against: str, scenarios: list[str], quick: bool, repeats: int, text: str = "mixed") -> None:
    """Before / after: each scenario with the bundle of git revision ``against`` and with the work
    tree's ``js/``, alternating in the same chromium (the machine's load hits both alike)."""
    sz = _sizes(quick, text)
    tmp = Path(tempfile.mkdtemp(prefix="lsw-ab-"))
    try:
        _bundle_of(against, tmp / "before")
        _bundle_of(None, tmp / "after")
        results: dict[tuple[str, str], list[float]] = {}
        with serve(tmp) as url:
            for r in range(repeats):
                for label in ("before", "after"):
                    b = Browser(url, bundle=f"/alt/{label}/widget.js")
                    try:
                        for sc in scenarios:
                            print(f"  [{label} = {against if label == 'before' else 'work tree'}, repeat {r + 1}]")
                            results.setdefault((sc, label), []).append(SCENARIOS[sc](b, sz, print))
                    finally:
                        b.close()
        for sc in scenarios:
            before, after = sorted(results[(sc, "before")]), sorted(results[(sc, "after")])
            print(f"{sc}: before ({against}) median {before[len(before) // 2]:.1f} {before}; "
                  f"after (work tree) median {after[len(after) // 2]:.1f} {after}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def profile(scenario: str, quick: bool, text: str = "mixed", top: int = 25) -> None:
    """Run one scenario under the CDP sampling profiler (unminified bundle); print self time by function."""
    sz = _sizes(quick, text)
    tmp = Path(tempfile.mkdtemp(prefix="lsw-prof-"))
    try:
        _unminified_bundle(tmp)
        with serve(tmp) as url:
            b = Browser(url, bundle="/alt/widget.js")
            try:
                orig = Browser.page

                @contextlib.contextmanager
                def profiled(self: Browser) -> Iterator[Page]:
                    with orig(self) as p:
                        p.cdp.send("Profiler.enable")
                        p.cdp.send("Profiler.setSamplingInterval", {"interval": 1000})
                        p.cdp.send("Profiler.start")
                        try:
                            yield p
                        finally:
                            prof = p.cdp.send("Profiler.stop")["profile"]
                            _print_profile(prof, top)

                Browser.page = profiled  # type: ignore[method-assign]
                try:
                    value = SCENARIOS[scenario](b, sz, print)
                finally:
                    Browser.page = orig  # type: ignore[method-assign]
                print(f"{scenario}: {value:.2f}")
            finally:
                b.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _print_profile(prof: dict[str, Any], top: int) -> None:
    nodes = {n["id"]: n for n in prof["nodes"]}
    counts: dict[int, int] = {}
    for s in prof.get("samples", []):
        counts[s] = counts.get(s, 0) + 1
    deltas = prof.get("timeDeltas", [])
    per_sample_ms = (sum(deltas) / len(deltas) / 1000) if deltas else 0.2
    self_by_fn: dict[str, float] = {}
    parent: dict[int, int] = {}
    for n in prof["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]

    def label(n: dict[str, Any]) -> str:
        cf = n["callFrame"]
        url = cf.get("url", "").rsplit("/", 1)[-1]
        return f"{cf.get('functionName') or '(anonymous)'} {url}:{cf.get('lineNumber', 0) + 1}"

    total_fn: dict[str, float] = {}
    for nid, c in counts.items():
        n = nodes[nid]
        ms = c * per_sample_ms
        self_by_fn[label(n)] = self_by_fn.get(label(n), 0.0) + ms
        seen: set[str] = set()
        x: int | None = nid
        while x is not None:
            lab = label(nodes[x])
            if lab not in seen:
                seen.add(lab)
                total_fn[lab] = total_fn.get(lab, 0.0) + ms
            x = parent.get(x)
    busy = sum(v for k, v in self_by_fn.items() if not k.startswith(("(idle)", "(program)", "(garbage")))
    print(f"--- profile: {sum(counts.values())} samples, ~{per_sample_ms:.2f} ms each; JS busy ~{busy:.0f} ms; "
          f"(garbage collector) {self_by_fn.get('(garbage collector) :0', 0):.0f} ms, "
          f"(program) {self_by_fn.get('(program) :0', 0):.0f} ms")
    print("self time:")
    for k, v in sorted(self_by_fn.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {v:8.0f} ms  {k}")
    print("total time (inclusive):")
    for k, v in sorted(total_fn.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {v:8.0f} ms  {k}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.widget_browser", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat, smaller sizes (< ~40 s)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", choices=sorted(SCENARIOS), help="profile one scenario (unminified bundle)")
    ap.add_argument("--text", choices=["mixed", "separated"], default="mixed",
                    help="diagnostic: 'separated' puts a paragraph between two lists / quotes (figures: mixed)")
    ap.add_argument("--only", default="", help="comma-separated figure keys (render_ratio,longest_task,markdown_busy)")
    ap.add_argument("--against", metavar="REV", help="before/after: run the --only scenarios (render, big, trace, "
                    "busy; default all) with the js/ of git revision REV and with the work tree's, alternating")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.profile:
        reason = unavailable_reason()
        if reason:
            log(f"cannot profile: {reason}")
            return 1
        profile(args.profile, args.quick, args.text)
        return 0
    if args.against:
        reason = unavailable_reason()
        if reason:
            log(f"cannot compare: {reason}")
            return 1
        chosen = [k.strip() for k in args.only.split(",") if k.strip()] or sorted(SCENARIOS)
        unknown = [k for k in chosen if k not in SCENARIOS]
        if unknown:
            log(f"--against takes scenarios in --only ({', '.join(sorted(SCENARIOS))}), not {', '.join(unknown)}")
            return 2
        compare(args.against, chosen, args.quick, max(1, args.repeats if args.repeats != 5 else 2), args.text)
        return 0
    from .widget import WIDGET_FIGURES

    settings = Settings(quick=args.quick, repeats=max(1, args.repeats), log=log)
    settings.extra["widget_text"] = args.text
    if args.only:
        settings.extra["widget_only"] = [k.strip() for k in args.only.split(",") if k.strip()]
    cells = measure_browser(settings)
    if not cells:
        print("no browser figures (see the log above)")
        return 1
    for key, label, unit, target, _ in WIDGET_FIGURES:
        c = cells.get(key)
        if c is None:
            continue
        if c.ok:
            rng = f" [{c.lo:.2f}–{c.hi:.2f}]" if len(c.values) > 1 else ""
            value = f"{c.median:.2f}{rng} {unit}"
        else:
            value = c.note
        note = f"  ({c.note})" if c.note and c.ok else ""
        print(f"{key:14s} {value:28s} target {target:12s} {label}{note}")
    return 0 if all(c.ok for c in cells.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
