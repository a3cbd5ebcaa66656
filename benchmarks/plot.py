"""``--plot PATH``: per-token lag distributions at 50 tokens/s, ours vs LazyLLM's (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path

SERIES = [
    ("ours", "lazystream-widget, seed loop", "#1b9e77"),
    ("runner", "lazystream-widget, widget runner (queue to pump)", "#66a61e"),
    ("runner_sink", "lazystream-widget, widget runner (at its sink, ≤ 30 msg/s)", "#a6d854"),
    ("lazyllm", "LazyLLM 1.4.0, seed loop", "#d95f02"),
    ("openai", "openai client alone", "#7570b3"),
]


def write_lag_plot(lags: dict[str, list[float]], path: str, subtitle: str = "") -> str:
    """Write the PNG; return a one-line message (what was written, or why not)."""
    if not any(lags.get(k) for k, _, _ in SERIES):
        return "plot skipped: no lag samples (run the e2e group)"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install matplotlib, or the [bench] extra)"
    fig, (ax_cdf, ax_box) = plt.subplots(1, 2, figsize=(12, 5.6), gridspec_kw={"width_ratios": [3, 2]})
    shown = []
    for key, label, color in SERIES:
        xs = sorted(x for x in lags.get(key, []) if x == x)
        if not xs:
            continue
        xs = [max(x, 1e-3) for x in xs]  # log axis: clamp the (clock-skew) non-positive ones
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax_cdf.step(xs, ys, where="post", label=f"{label} (n={len(xs)})", color=color)
        shown.append((label, xs, color))
    ax_cdf.set_xscale("log")
    ax_cdf.set_xlabel("per-token lag: seen by the consumer − written by the model (ms, log)")
    ax_cdf.set_ylabel("fraction of tokens")
    ax_cdf.axvline(10, color="grey", linestyle="--", linewidth=1)
    ax_cdf.text(10, 0.5, " 10 ms target", color="grey", fontsize=8)
    ax_cdf.grid(True, which="both", alpha=0.3)
    ax_cdf.set_title("Cumulative distribution")
    bp = ax_box.boxplot([xs for _, xs, _ in shown], vert=False, whis=(5, 95), showfliers=False, patch_artist=True)
    for patch, (_, _, color) in zip(bp["boxes"], shown, strict=True):
        patch.set_facecolor(color)
        patch.set_alpha(0.6)
    ax_box.set_yticks(range(1, len(shown) + 1))
    ax_box.set_yticklabels([label.replace(", ", ",\n", 1) for label, _, _ in shown], fontsize=7)
    ax_box.set_xscale("log")
    ax_box.set_xlabel("ms (log); box: p25–p75, whiskers: p5–p95")
    ax_box.set_title("Spread")
    title = "Per-token lag at 50 tokens/s, scripted model over HTTP on loopback"
    fig.suptitle(title + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    fig.legend(*ax_cdf.get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot written: {path}"
