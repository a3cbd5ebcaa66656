"""Group ``replay``: cassette replay fidelity (a recorded run replayed at speed 1.0).

A stream with uneven gaps is recorded through the cassette proxy and replayed with the model
server gone (``benchmarks/ours_side/replay.py``). The figure is the per-gap error between the
inter-token gaps of the recording (as stored in the cassette) and those the client sees while
replaying: target p95 <= 10 ms. Beside it, the same against what the client saw while recording.
Reported beside it: the median error, the time-to-first-token error, the replay's total time
over the recording's, and an instant replay (speed 0) of the same stream.
"""

from __future__ import annotations

from .common import Figure, Settings, Target, collect, is_number, pick


def _le10(f: Figure) -> bool | None:
    v = f.med("ours")
    return None if not is_number(v) else v <= 10.0


def run(settings: Settings) -> list[Figure]:
    n, repeats = (100, 1) if settings.quick else (300, 5)
    runs = collect(settings, "ours", "replay", {"n": n, "repeats": repeats}, "replay-fidelity")
    what = f"{n} tokens, 5–60 ms gaps"
    return [
        Figure("replay", "gap_err_p95", f"replay at 1.0x: inter-token gap error p95 ({what})", "ms",
               {"ours": pick(runs, "gap_err_p95_ms")}, Target("<= 10 ms", _le10)),
        Figure("replay", "gap_err_p50", "replay at 1.0x: inter-token gap error p50", "ms",
               {"ours": pick(runs, "gap_err_p50_ms")}, Target("report")),
        Figure("replay", "client_gap_err_p95", "replay at 1.0x: gap error p95 vs what the recording client saw",
               "ms", {"ours": pick(runs, "client_gap_err_p95_ms")}, Target("report")),
        Figure("replay", "ttft_err", "replay at 1.0x: time-to-first-token error", "ms",
               {"ours": pick(runs, "ttft_err_ms")}, Target("report")),
        Figure("replay", "total_ratio", "replay at 1.0x: total time / recorded total time", "x",
               {"ours": pick(runs, "total_ratio")}, Target("report")),
        Figure("replay", "instant", f"replay at speed 0: whole stream of {n} tokens", "ms",
               {"ours": pick(runs, "instant_ms")}, Target("report")),
    ]
