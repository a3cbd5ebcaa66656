"""Worker: what a StreamView sends over its comm, kernel side.

The real ``StreamView`` with its outgoing channel tapped (there is no kernel here, so
Jupyter's comm would drop the messages): custom messages (``send``) and trait updates
(``send_state``) are serialized as Jupyter would and counted.

Spec: ``{"base_url": ..., "rate_tokens": 3000, "delay": 0.001, "big_tokens": 50000}``
Result: messages per second at ~1,000 tokens/s, and payload bytes / answer bytes for a big answer.
"""

from __future__ import annotations

import json
import sys

from benchmarks.ours_side.sinks import tapped_view
from benchmarks.workerlib import bench_query, emit


def main(spec: dict) -> dict:
    import lazystream_widget as lsw

    llm = lsw.OnlineChatModule(base_url=spec["base_url"], api_key="bench", stream=True)
    # 1. message rate at ~1,000 tokens/s
    view = tapped_view(llm)
    query = bench_query(spec["rate_tokens"], spec["delay"])
    run = view.ask(query, wait=True, timeout=300)
    deltas = [(t, m) for t, _, m in view.custom if m.get("type") == "delta"]
    span = deltas[-1][0] - deltas[0][0] if len(deltas) > 1 else float("nan")
    tokens_per_s = run.tokens / (run.stats()["elapsed_ms"] / 1000)
    rate = (len(deltas) - 1) / span if span > 0 else float("nan")
    # 2. payload bytes for a big answer, as fast as the model sends it
    view = tapped_view(llm)
    view.state_bytes = 0
    query = bench_query(spec["big_tokens"], 0.0)
    run = view.ask(query, wait=True, timeout=600)
    answer_bytes = len(run.text.encode())
    payload = sum(n for _, n, _ in view.custom) + view.state_bytes
    return {
        "msgs_per_s": rate,
        "tokens_per_s": tokens_per_s,
        "payload_ratio": payload / answer_bytes,
        "answer_bytes": answer_bytes,
        "messages_big": len(view.custom),
    }


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1])))
