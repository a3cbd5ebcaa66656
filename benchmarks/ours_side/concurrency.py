"""Concurrency worker, our side: ``runs`` runs streaming at once in one process.

``python -m benchmarks.ours_side.concurrency '<json spec>'``; spec: ``base_url``, ``runs``,
``n`` (tokens per run, tagged ``r<k>.<i>``), ``delay``, ``repeats``, and ``style``:

* ``seed``: one consumer thread per run; each opens its own ``lazystream_widget.session()``,
  submits the agent to one shared ``lazystream_widget.ThreadPoolExecutor`` and reads with the
  seed's loop;
* ``runner``: the widget's way: ``runs`` × ``lazystream_widget.runner.Run(agent, q).start()``
  from one thread (each run gets a fresh session; one pump thread per run);
* ``openai``: the baseline: one thread per run streaming with a shared ``openai.OpenAI`` client.

Counts tokens delivered to the wrong run, tokens missing, and the total throughput.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Literal

import lazystream_widget as lsw
from benchmarks.ours_side.sinks import RecordingSink
from benchmarks.workerlib import TAG_RE, bench_query, emit, pin_env_home, spec_from_argv
from lazystream_widget.tools import FunctionCallAgent, fc_register


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


def once_seed(agent, spec: dict) -> dict:
    runs, n, delay = int(spec["runs"]), int(spec["n"]), float(spec.get("delay", 0.0))
    tally = Tally(runs)
    pool = lsw.ThreadPoolExecutor(runs)
    barrier = threading.Barrier(runs + 1)
    errors: list[str] = []

    def consumer(k: int) -> None:
        try:
            with lsw.session():
                barrier.wait()
                future = pool.submit(agent, bench_query(n, delay, tag=f"r{k}"))
                while True:
                    if value := lsw.FileSystemQueue().dequeue():
                        tally.add(k, value)
                    elif future.done():
                        break
                future.result()
        except Exception as exc:  # reported, not hidden
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    wall = _run_consumers(consumer, runs, barrier)
    pool.shutdown()
    return summary(tally, runs, n, wall, errors)


def once_runner(agent, spec: dict) -> dict:
    from lazystream_widget.runner import Run

    runs, n, delay = int(spec["runs"]), int(spec["n"]), float(spec.get("delay", 0.0))
    tally = Tally(runs)
    errors: list[str] = []

    def sink(k: int) -> RecordingSink:
        return RecordingSink(lambda text: tally.add(k, [text]))

    t0 = time.perf_counter()
    started = [Run(agent, bench_query(n, delay, tag=f"r{k}")).start(sink(k)) for k in range(runs)]
    for run in started:
        try:
            run.wait(timeout=600)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
    wall = time.perf_counter() - t0
    return summary(tally, runs, n, wall, errors)


def once_openai(client, spec: dict) -> dict:
    runs, n, delay = int(spec["runs"]), int(spec["n"]), float(spec.get("delay", 0.0))
    tally = Tally(runs)
    barrier = threading.Barrier(runs + 1)
    errors: list[str] = []

    def consumer(k: int) -> None:
        try:
            barrier.wait()
            stream = client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": bench_query(n, delay, tag=f"r{k}")}],
                stream=True,
            )
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    tally.add(k, [chunk.choices[0].delta.content])
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    wall = _run_consumers(consumer, runs, barrier)
    return summary(tally, runs, n, wall, errors)



def _run_consumers(consumer, runs: int, barrier: threading.Barrier) -> float:
    """Start one consumer thread per run, release them together, and return the wall time until all ended."""
    threads = [threading.Thread(target=consumer, args=(k,)) for k in range(runs)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def summary(tally: Tally, runs: int, n: int, wall: float, errors: list[str]) -> dict:
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
    pin_env_home()
    spec = spec_from_argv()
    style = spec.get("style", "seed")
    if style == "openai":
        import openai

        agent = openai.OpenAI(base_url=spec["base_url"], api_key="bench", max_retries=0)
        fn = once_openai
    else:
        llm = lsw.OnlineChatModule(source="openai", model="scripted", base_url=spec["base_url"], api_key="bench",
                                   stream=True)
        agent = FunctionCallAgent(llm, ["get_current_weather"])
        fn = once_seed if style == "seed" else once_runner
    fn(agent, {**spec, "runs": 2, "n": 10})  # warm-up: imports, connections
    emit({"runs": [fn(agent, spec) for _ in range(int(spec.get("repeats", 1)))]})


if __name__ == "__main__":
    main()
