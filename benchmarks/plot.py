"""``--plots DIR``: the figures' distributions and cost-against-work curves as PNGs (matplotlib, Agg).

* ``lag.png``: per-token lag at 50 tokens/s, every system and stage (CDF and spread);
* ``cost_runs.png``: kernel CPU and wall time against the number of concurrent runs (``scale``);
* ``cost_tokens.png``: kernel memory growth against the answer's size (``memory``) and browser
  main-thread time per 1,000 tokens against tokens already streamed (``widget``);
* ``cost_trace.png``: the browser's longest task and time until idle against trace entries (``widget``).

A plot whose data was not measured in this run is skipped with a line saying so.
``python -m benchmarks.plot RUN.json DIR`` redraws them from a run saved with ``--json``.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

LAG_SERIES = [
    ("ours", "seed loop (our runtime)", "#1b9e77"),
    ("runner", "widget runner: pump took it off the queue", "#66a61e"),
    ("runner_sink", "widget runner: comm message sent", "#a6d854"),
    ("browser", "JupyterLab: text painted in chromium", "#e7298a"),
    ("browser_floor", "JupyterLab: a minimal anywidget's text painted (floor)", "#999999"),
    ("lazyllm", "LazyLLM 1.4.0, seed loop", "#d95f02"),
    ("openai", "openai client alone (floor)", "#7570b3"),
]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(settings: Any, outdir: str, subtitle: str = "") -> list[str]:
    """Write every plot whose data this run measured into ``outdir``; one line per plot (written, or why not)."""
    try:
        plt = _plt()
    except ImportError:
        return ["plots skipped: matplotlib is not installed (pip install matplotlib, or the [bench] extra)"]
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    extra = settings.extra
    lines = []
    for name, fn in (("lag.png", _lag), ("cost_runs.png", _runs), ("cost_tokens.png", _tokens),
                     ("cost_trace.png", _trace)):
        try:
            msg = fn(plt, extra, out / name, subtitle)
        except Exception as exc:  # a plot must never hide the table
            msg = f"{name}: failed ({type(exc).__name__}: {exc})"
        lines.append(msg)
    return lines


def _finish(plt: Any, fig: Any, path: Path, title: str, subtitle: str) -> str:
    fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot written: {path}"


def _lag(plt: Any, extra: dict, path: Path, subtitle: str) -> str:
    lags = {k: [x for x in v if x == x] for k, v in extra.get("lags", {}).items()}
    shown = [(label, sorted(max(x, 1e-3) for x in lags[k]), color) for k, label, color in LAG_SERIES if lags.get(k)]
    if not shown:
        return f"{path.name}: skipped (no lag samples: run the e2e and notebook groups)"
    fig, (ax_cdf, ax_box) = plt.subplots(1, 2, figsize=(12, 5.6), gridspec_kw={"width_ratios": [3, 2]})
    for label, xs, color in shown:
        ax_cdf.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post", color=color,
                    label=f"{label} (n={len(xs)})")
    ax_cdf.set_xscale("log")
    ax_cdf.set_xlabel("per-token lag: seen - stamped by the model server (ms, log)")
    ax_cdf.set_ylabel("fraction of tokens")
    for limit, text in ((5, "5 ms"), (10, "10 ms"), (50, "50 ms")):
        ax_cdf.axvline(limit, color="grey", linestyle="--", linewidth=0.8)
        ax_cdf.text(limit, 0.02, f" {text}", color="grey", fontsize=7)
    ax_cdf.grid(True, which="both", alpha=0.3)
    ax_cdf.legend(fontsize=7, loc="upper left")
    ax_cdf.set_title("Cumulative distribution")
    bp = ax_box.boxplot([xs for _, xs, _ in shown], vert=False, whis=(5, 95), showfliers=False, patch_artist=True)
    for patch, (_, _, color) in zip(bp["boxes"], shown, strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.6)
    ax_box.set_yticks(range(1, len(shown) + 1))
    ax_box.set_yticklabels([label.replace(": ", ":\n", 1) for label, _, _ in shown], fontsize=7)
    ax_box.set_xscale("log")
    ax_box.set_xlabel("ms (log); box p25-p75, whiskers p5-p95")
    ax_box.set_title("Spread")
    return _finish(plt, fig, path, "Per-token lag at 50 tokens/s (model server in its own process, loopback)",
                   subtitle)


def _runs(plt: Any, extra: dict, path: Path, subtitle: str) -> str:
    scale = {int(k): v for k, v in extra.get("scale", {}).get("scale", {}).items()}  # str keys after JSON
    if not scale:
        return f"{path.name}: skipped (run the scale group)"
    runs = sorted(int(k) for k in scale)

    def med(key: str) -> list[float]:
        return [statistics.median(r[key] for r in scale[n]) for n in runs]

    peer = {int(k): v for k, v in extra.get("scale", {}).get("peer", {}).items()}
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 4.2))
    ax1.plot(runs, med("cores"), "o-", color="#1b9e77", label="widget runs")
    if peer:
        ax1.plot(sorted(peer), [peer[n]["cores"] for n in sorted(peer)], "s--", color="#7570b3",
                 label="openai client alone (peer)")
        ax2.plot(sorted(peer), [peer[n]["cpu_ms_per_1k_tokens"] for n in sorted(peer)], "s--", color="#7570b3",
                 label="openai client alone (peer)")
        ax1.legend(fontsize=7)
        ax2.legend(fontsize=7)
    ax1.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax1.set_xscale("log")
    ax1.set_xlabel("concurrent runs (20 tokens/s each)")
    ax1.set_ylabel("kernel CPU (cores)")
    ax1.set_title("Kernel CPU")
    ax2.plot(runs, med("cpu_ms_per_1k_tokens"), "o-", color="#d95f02", label="widget runs")
    ax2.set_xscale("log")
    ax2.set_xlabel("concurrent runs")
    ax2.set_ylabel("kernel CPU per 1,000 tokens (ms)")
    ax2.set_title("CPU per token")
    ax3.plot(runs, med("wall_s"), "o-", color="#7570b3")
    one = med("wall_s")[0]
    ax3.axhline(1.3 * one, color="grey", linestyle="--", linewidth=0.8)
    ax3.set_xscale("log")
    ax3.set_xlabel("concurrent runs")
    ax3.set_ylabel("wall time until all ended (s)")
    ax3.set_title("Wall time (dashed: 1.3x one run)")
    for ax in (ax1, ax2, ax3):
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
    return _finish(plt, fig, path, "Many runs in one Jupyter kernel: 100 tokens each at 20 tokens/s, one view each",
                   subtitle)


def _tokens(plt: Any, extra: dict, path: Path, subtitle: str) -> str:
    memory = {int(k): v for k, v in extra.get("memory", {}).items()}
    curves = extra.get("browser_curves", {}).get("render_curve", [])
    if not memory and not curves:
        return f"{path.name}: skipped (run the memory or widget groups)"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    if memory:
        sizes = sorted(int(k) for k in memory)
        answer = [memory[n]["answer_bytes"] / 1e6 for n in sizes]
        ax1.plot(answer, [memory[n]["growth_bytes"] / 1e6 for n in sizes], "o-", color="#1b9e77",
                 label="kernel peak RSS growth")
        ax1.plot(answer, [3 * a for a in answer], "--", color="grey", label="3x answer + trace (target)")
        ax1.plot(answer, answer, ":", color="grey", label="1x (the answer itself)")
        for n, a in zip(sizes, answer, strict=True):
            ax1.annotate(f"{n:,} tokens", (a, memory[n]["growth_bytes"] / 1e6), fontsize=7)
        ax1.set_xlabel("answer size (MB)")
        ax1.set_ylabel("MB")
        ax1.legend(fontsize=7)
    ax1.set_title("Kernel memory against the answer")
    for i, curve in enumerate(curves):
        ax2.plot([c[0] for c in curve], [c[1] for c in curve], "o-", alpha=0.7, label=f"repeat {i + 1}")
    ax2.set_xlabel("tokens streamed so far (10-token deltas)")
    ax2.set_ylabel("browser main-thread ms per 1,000 tokens")
    ax2.set_title("Browser cost per token as the answer grows")
    ax2.set_ylim(bottom=0)
    if curves:
        ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
    return _finish(plt, fig, path, "Cost against tokens", subtitle)


def _trace(plt: Any, extra: dict, path: Path, subtitle: str) -> str:
    curves = extra.get("browser_curves", {}).get("trace_curve", [])
    if not curves:
        return f"{path.name}: skipped (run the widget group)"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.4))
    for i, curve in enumerate(curves):
        ax1.plot([c[0] for c in curve], [c[1] for c in curve], "o-", alpha=0.7, label=f"repeat {i + 1}")
        ax2.plot([c[0] for c in curve], [c[2] for c in curve], "o-", alpha=0.7, label=f"repeat {i + 1}")
    ax1.axhline(50, color="grey", linestyle="--", linewidth=0.8)
    ax1.set_ylabel("longest main-thread task (ms)")
    ax2.set_ylabel("until idle after the final state arrived (ms)")
    for ax in (ax1, ax2):
        ax.set_xlabel("trace entries in the final state")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    return _finish(plt, fig, path, "Browser cost against trace size (the widget in a minimal host page)", subtitle)


if __name__ == "__main__":
    import json
    import sys
    from types import SimpleNamespace

    if len(sys.argv) != 3:
        sys.exit("usage: python -m benchmarks.plot RUN.json OUTDIR")
    with open(sys.argv[1], encoding="utf-8") as f:
        saved = json.load(f)
    machine = saved.get("machine", {})
    for line in write_plots(SimpleNamespace(extra=saved.get("extra", {})), sys.argv[2],
                            subtitle=f"{machine.get('cpu', '')}, {machine.get('cores', '')} cores"):
        print(line)
