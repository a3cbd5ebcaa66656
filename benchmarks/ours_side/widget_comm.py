"""Worker: what a StreamView sends over its comm for a big answer, kernel side.

The real ``StreamView`` with its outgoing channel tapped (there is no kernel here, so Jupyter's
comm would drop the messages): custom messages (``send``) and trait updates (``send_state``) are
serialized as Jupyter would and their content bytes counted (not Jupyter's envelope).

Spec: ``{"base_url": ..., "big_tokens": 50000}``. Result: payload bytes / answer bytes (what the run sent:
its custom messages and trait updates), and apart, the bytes a view sends once when it is created (the bundle).
(The message *rates* are measured in a real kernel: ``benchmarks/scale.py``.)
"""

from __future__ import annotations

import json
import sys

from benchmarks.ours_side.sinks import tapped_view
from benchmarks.workerlib import bench_query, emit


def main(spec: dict) -> dict:
    import lazystream_widget as lsw

    llm = lsw.OnlineChatModule(base_url=spec["base_url"], api_key="bench", stream=True)
    view = tapped_view(llm)
    view.ask(bench_query(20, 0.0), wait=True, timeout=120)  # warm-up: imports, connection
    view = tapped_view(llm)
    # what a view sends when it is created (anywidget's _esm and _css: the widget's bundle), once per view
    # whatever it shows: reported apart, not charged to the answer
    bundle = view.state_bytes + sum(n for _, n, _ in view.custom)
    run = view.ask(bench_query(spec["big_tokens"], 0.0), wait=True, timeout=600)
    answer_bytes = len(run.text.encode())
    payload = sum(n for _, n, _ in view.custom) + view.state_bytes - bundle
    return {"payload_ratio": payload / answer_bytes, "answer_bytes": answer_bytes, "messages_big": len(view.custom),
            "bundle_bytes": bundle}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1])))
