"""End-to-end worker, LazyLLM 1.4.0 side: the seed's quick-start loop, as its docs write it.

Run with the LazyLLM venv's python: ``python benchmarks/lazyllm_side/e2e.py '<json spec>'``
(spec keys as in ``benchmarks/ours_side/e2e.py``; ``system`` is always the seed loop).

Configuration that LazyLLM 1.4.0 needs to reach our scripted OpenAI-compatible server:

* ``OnlineChatModule(source='openai', base_url=URL, api_key=..., model=...)``; ``base_url`` must end
  with ``/``: LazyLLM builds the endpoint with ``urljoin(base_url, 'chat/completions')``, so
  ``http://host:port/v1`` would post to ``http://host:port/chat/completions`` (HTTP 404).
  (``LAZYLLM_OPENAI_API_KEY`` is the environment alternative to ``api_key``.)
* ``FunctionCallAgent(llm, tools, stream=True)``: the agent re-shares its llm with the agent's own
  ``stream`` flag (``llm.share(stream=stream)``), so without ``stream=True`` on the agent, the
  seed's example streams nothing (checked: 0 queue items). Queue items are then JSON strings,
  ``{"tag": "text", "delta": ...}`` for answer text (plus ``runtime_event`` and others).
* Its SQLite queue lives in ``$LAZYLLM_HOME/.lazyllm_filesystem_queue.db`` (the parent sets a
  private ``LAZYLLM_HOME`` and ``LAZYLLM_TEMP_DIR`` under benchmarks/out/).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Literal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from workerlib import (
    StampCollector,
    bench_query,
    emit,
    lazyllm_text,
    pin_env_home,
    sample_window,
    spec_from_argv,
)

pin_env_home()
import lazyllm  # noqa: E402
from lazyllm.tools import FunctionCallAgent, fc_register  # noqa: E402


@fc_register("tool")
def get_current_weather(location: str, unit: Literal["fahrenheit", "celsius"]="fahrenheit"):
    """
    Get the current weather in a given location

    Args:
        location (str): The city and state, e.g. San Francisco, CA.
        unit (str): The temperature unit to use. Infer this from the users location.
    """
    if 'tokyo' in location.lower():
        return json.dumps({'location': 'Tokyo', 'temperature': '10', 'unit': 'celsius'})
    return json.dumps({'location': location, 'temperature': 'unknown'})


def lazyllm_base_url(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def make_module(base_url: str, workload: str = "module"):
    """``module``: ``OnlineChatModule(stream=True)`` itself (it streams into the queue on its own);
    ``agent``: the seed's ``FunctionCallAgent`` over it (``stream=True`` on the agent, see above)."""
    llm = lazyllm.OnlineChatModule(
        source="openai", model="scripted", base_url=lazyllm_base_url(base_url), api_key="bench", stream=True
    )
    return llm if workload == "module" else FunctionCallAgent(llm, ["get_current_weather"], stream=True)


def count_stamps(items: list[str]) -> int:
    c = StampCollector()
    c.see(lazyllm_text(items))
    return len(c.seen)


def run_seed(agent, query: str, n: int, spec: dict) -> dict:
    box: dict = {}
    col = StampCollector()
    if spec.get("cpu_window"):
        a, b = spec["cpu_window"]
        sampler = sample_window(a, b, threading.get_ident(), col.t0, box)
    # ---- the seed's loop, exactly (print replaced by recording what was seen) ----
    with lazyllm.ThreadPoolExecutor(1) as executor:
        future = executor.submit(agent, query)
        while True:
            if value := lazyllm.FileSystemQueue().dequeue():
                now_ns, now_pc = time.time_ns(), time.perf_counter()
                col.see(lazyllm_text(value), now_ns, now_pc)
            elif future.done():
                break
    # -------------------------------------------------------------------------------
    loop_s = time.perf_counter() - col.t0
    ret = future.result()
    leftover = count_stamps(lazyllm.FileSystemQueue().dequeue())  # what the next call would see
    out = col.summary(n)
    result_tokens = count_stamps([json.dumps({"tag": "text", "delta": str(ret)})])
    out.update(loop_ms=loop_s * 1000, leftover=leftover, result_tokens=result_tokens)
    if spec.get("cpu_window"):
        sampler.join()
        out["cpu"] = box
    if spec.get("keep_lags"):
        out["lags_ms"] = col.lag_ms
    return out


def main() -> None:
    spec = spec_from_argv()
    n = int(spec["n"])
    extra = {"first_delay": spec["first_delay"]} if spec.get("first_delay") is not None else {}
    query = bench_query(n, spec.get("delay", 0.0), **extra)
    agent = make_module(spec["base_url"], spec.get("workload", "module"))
    lazyllm.FileSystemQueue().clear()  # nothing from an earlier process in this thread's queue
    for _ in range(int(spec.get("warmup", 1))):
        run_seed(agent, bench_query(20, 0.0), 20, {})
    runs = [run_seed(agent, query, n, spec) for _ in range(int(spec.get("repeats", 1)))]
    emit({"runs": runs})


if __name__ == "__main__":
    main()
