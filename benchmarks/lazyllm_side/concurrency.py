"""Concurrency worker, LazyLLM 1.4.0 side: ``runs`` runs streaming at once in one process.

Its recommended pattern for serving several users, as its own ``WebModule`` does it: one shared
``lazyllm.ThreadPoolExecutor``; each request handled on its own thread (so in its own session:
LazyLLM's session id defaults to the thread's), submitting the module to the pool and reading
``FileSystemQueue()`` with the seed's loop plus the ``time.sleep(0.01)`` WebModule adds per turn
(``style: web``), or with the seed's loop exactly (``style: seed``).

Spec and result as in ``benchmarks/ours_side/concurrency.py``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Literal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from workerlib import TAG_RE, bench_query, emit, lazyllm_text, pin_env_home, spec_from_argv

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
    return json.dumps({'location': location, 'temperature': 'unknown'})


class Tally:
    def __init__(self, runs: int) -> None:
        self.own = [0] * runs
        self.wrong = [0] * runs
        self.lock = threading.Lock()

    def add(self, k: int, texts: list[str]) -> None:
        own = wrong = 0
        for text in texts:
            for tag, _ in TAG_RE.findall(text):
                if tag == f"r{k}":
                    own += 1
                else:
                    wrong += 1
        with self.lock:
            self.own[k] += own
            self.wrong[k] += wrong


def once(agent, spec: dict) -> dict:
    runs, n, delay = int(spec["runs"]), int(spec["n"]), float(spec.get("delay", 0.0))
    pause = 0.01 if spec.get("style", "web") == "web" else 0.0
    tally = Tally(runs)
    pool = lazyllm.ThreadPoolExecutor(runs)
    barrier = threading.Barrier(runs + 1)
    errors: list[str] = []

    def consumer(k: int) -> None:
        try:
            lazyllm.FileSystemQueue().clear()
            barrier.wait()
            future = pool.submit(agent, bench_query(n, delay, tag=f"r{k}"))
            while True:
                if value := lazyllm.FileSystemQueue().dequeue():
                    tally.add(k, lazyllm_text(value))
                elif future.done():
                    break
                if pause:
                    time.sleep(pause)
            future.result()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=consumer, args=(k,)) for k in range(runs)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    pool.shutdown()
    delivered = sum(tally.own) + sum(tally.wrong)
    return {
        "runs": runs,
        "n": n,
        "wall_s": wall,
        "delivered": delivered,
        "wrong_run": sum(tally.wrong),
        "missing": runs * n - sum(tally.own),
        "runs_mixed": sum(1 for w in tally.wrong if w),
        "tokens_per_s": delivered / wall if wall > 0 else None,
        "errors": errors,
    }


def main() -> None:
    spec = spec_from_argv()
    url = spec["base_url"] if spec["base_url"].endswith("/") else spec["base_url"] + "/"
    llm = lazyllm.OnlineChatModule(source="openai", model="scripted", base_url=url, api_key="bench", stream=True)
    agent = FunctionCallAgent(llm, ["get_current_weather"], stream=True)
    once(agent, {**spec, "runs": 2, "n": 10})  # warm-up
    emit({"runs": [once(agent, spec) for _ in range(int(spec.get("repeats", 1)))]})


if __name__ == "__main__":
    main()
