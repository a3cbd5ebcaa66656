"""Replay-fidelity worker: record a stream with uneven gaps through the cassette proxy, replay it, compare.

``python -m benchmarks.ours_side.replay '<json spec>'``; spec: ``n`` (tokens), ``repeats``, ``seed``.

Each repeat: the scripted server streams ``n`` tokens with gaps drawn from 5–60 ms and a
150 ms pause every 50 tokens (a model's uneven pace), after a 300 ms wait for the first
token. The openai client reads it through the cassette proxy in record mode, stamping each
content chunk on arrival; then the same request is replayed at speed 1.0 with the server
gone, stamped the same way; then at speed 0. Inter-token gap errors are
``|replayed gap - recorded gap|`` per gap: against the recording (the gaps stored in the
cassette) and, reported beside it, against what the client saw while recording (which adds
the recording's own client-side jitter).
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import openai

import lazystream_widget as lsw
from benchmarks.workerlib import emit, percentile, pin_env_home, spec_from_argv
from lazystream_widget.cassettes.fileformat import load
from lazystream_widget.testing import RawEvent, Reply, ScriptedServer


def stream_reply(n: int, rng: random.Random) -> Reply:
    def chunk(content: str) -> dict:
        return {"id": "bench", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}

    events = [RawEvent(chunk(f"t{i} "), delay=0.3 if i == 0 else (0.15 if i % 50 == 0 else rng.uniform(0.005, 0.06)))
              for i in range(n)]
    return Reply(raw_events=[*events, RawEvent("[DONE]")])


def timed(client: openai.OpenAI) -> tuple[list[float], float]:
    """Arrival time (s since the request) of each content chunk, and the whole call's time."""
    t0 = time.perf_counter()
    stamps = []
    for chunk in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "go"}], stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter() - t0)
    return stamps, time.perf_counter() - t0


def once(n: int, seed: int, folder: Path) -> dict:
    path = folder / f"bench-{seed}.json"
    with ScriptedServer([stream_reply(n, random.Random(seed))]) as server:
        base = server.base_url
        with lsw.cassette(path, "record") as cassette:
            recorded, recorded_total = timed(openai.OpenAI(base_url=cassette.url(base), api_key="x", max_retries=0))
    with lsw.cassette(path, "replay", 1.0) as cassette:  # the server is gone: only the cassette answers
        replayed, replayed_total = timed(openai.OpenAI(base_url=cassette.url(base), api_key="x", max_retries=0))
    with lsw.cassette(path, "replay", 0) as cassette:
        _, instant_total = timed(openai.OpenAI(base_url=cassette.url(base), api_key="x", max_retries=0))
    (entry,) = load(path)[0]
    in_file = [e.ms / 1000 for e in entry.response.events if e.has_json]  # the recording: stamps in the cassette
    assert len(recorded) == len(replayed) == len(in_file) == n, (len(recorded), len(replayed), len(in_file))

    def gap_errors(reference: list[float]) -> list[float]:
        return [abs((replayed[i + 1] - replayed[i]) - (reference[i + 1] - reference[i])) * 1000 for i in range(n - 1)]

    errors, seen_errors = gap_errors(in_file), gap_errors(recorded)
    return {
        "gap_err_p50_ms": percentile(errors, 50),
        "gap_err_p95_ms": percentile(errors, 95),
        "gap_err_max_ms": max(errors),
        "client_gap_err_p95_ms": percentile(seen_errors, 95),
        "ttft_err_ms": abs(replayed[0] - recorded[0]) * 1000,
        "total_ratio": replayed_total / recorded_total,
        "recorded_total_s": recorded_total,
        "instant_ms": instant_total * 1000,
    }


def main() -> None:
    spec = spec_from_argv()
    pin_env_home()
    n, repeats, seed = int(spec.get("n", 200)), int(spec.get("repeats", 3)), int(spec.get("seed", 1))
    with tempfile.TemporaryDirectory() as folder:
        once(20, seed - 1, Path(folder))  # warm-up: imports, the proxy, the first connection
        runs = [once(n, seed + i, Path(folder)) for i in range(repeats)]
    emit({"runs": runs})


if __name__ == "__main__":
    main()
