"""End-to-end worker, our side: the seed's loop, our widget runner, or the openai client alone.

``python -m benchmarks.ours_side.e2e '<json spec>'``; spec keys:

* ``base_url``: the benchmark model server;
* ``system``: ``seed`` (the seed's quick-start loop with our runtime, imports changed only),
  ``runner`` (our widget runner, ``lazystream_widget.runner.Run``, into a real ``StreamView`` whose
  comm is tapped) or ``openai`` (``openai.OpenAI().chat.completions.create(stream=True)`` alone);
* ``workload``: ``module`` (default: ``OnlineChatModule(stream=True)`` itself, submitted directly)
  or ``agent`` (the seed's ``FunctionCallAgent`` over it; the model answers without a tool call);
* ``n``, ``delay``, ``first_delay``: what the model streams (see benchmarks/model_server.py);
* ``repeats``, ``warmup``: measured runs, and unmeasured runs before them (imports, connection);
* ``cpu_window``: ``[start_s, end_s]`` after the query: measure the process's CPU (and the
  consumer thread's) over that window;
* ``keep_lags``: return every token's lag (for the plot).

Prints ``RESULT {"runs": [...]}``, one summary per measured run.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Literal

import lazystream_widget as lazyllm
from benchmarks.ours_side.sinks import tapped_view
from benchmarks.workerlib import StampCollector, bench_query, emit, pin_env_home, sample_window, spec_from_argv
from lazystream_widget.tools import FunctionCallAgent, fc_register


# The seed's first tool, unchanged but for the import line (the model never calls it here:
# it is offered to the model, as in the seed, and the model answers directly).
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


def make_module(base_url: str, workload: str = "module"):
    """``module``: ``OnlineChatModule(stream=True)`` itself (the e2e figure's workload);
    ``agent``: the seed's ``FunctionCallAgent`` over it (one model turn: the model answers directly)."""
    llm = lazyllm.OnlineChatModule(source="openai", model="scripted", base_url=base_url, api_key="bench", stream=True)
    return llm if workload == "module" else FunctionCallAgent(llm, ["get_current_weather"])


def count_stamps(items: list[str]) -> int:
    c = StampCollector()
    c.see(items)
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
                col.see(value)
            elif future.done():
                break
    # -------------------------------------------------------------------------------
    loop_s = time.perf_counter() - col.t0
    ret = future.result()
    leftover = count_stamps(lazyllm.FileSystemQueue().dequeue())  # what the next call would see
    out = col.summary(n)
    out.update(loop_ms=loop_s * 1000, leftover=leftover, result_tokens=count_stamps([ret]))
    if spec.get("cpu_window"):
        sampler.join()
        out["cpu"] = box
    if spec.get("keep_lags"):
        out["lags_ms"] = col.lag_ms
    return out


def run_runner(module, query: str, n: int, spec: dict) -> dict:
    """Our widget runner with the real StreamView as its sink (its comm tapped): what ``view.ask`` does."""
    from lazystream_widget.runner import Run

    holder: dict = {}

    def on_message(content: dict) -> None:
        if content.get("type") == "delta" and content.get("text"):
            holder["comm"].see([content["text"]])

    view = tapped_view(module, on_message)  # made before the clock starts: a view exists before ask()
    t0 = time.perf_counter()
    at_drain = StampCollector(t0)  # when the runner's pump took the tokens off the queue
    at_comm = holder["comm"] = StampCollector(t0)  # when the widget sent them as a comm message

    instrumented = [hasattr(Run, "_drain")]

    class TimedRun(Run):
        def _drain(self, *args, **kwargs):  # instrumentation only: time what the pump drained (text first)
            got = super()._drain(*args, **kwargs)
            if isinstance(got, tuple) and got and isinstance(got[0], str):
                if got[0]:
                    at_drain.see([got[0]])
            else:
                instrumented[0] = False
            return got

    box: dict = {}
    run = TimedRun(module, query)
    view.history.append(run)  # what view.ask() does, with the timed run
    run.start(view)
    sampler = None
    if spec.get("cpu_window"):
        pump = next((t for t in threading.enumerate() if t.name.startswith("lazystream-pump")), None)
        a, b = spec["cpu_window"]
        sampler = sample_window(a, b, pump.ident if pump else None, t0, box)
    ret = run.wait(timeout=600)
    loop_s = time.perf_counter() - t0
    out = at_drain.summary(n)
    out.update({f"sink_{k}": v for k, v in at_comm.summary(n).items()})
    out.update(loop_ms=loop_s * 1000, leftover=0, result_tokens=count_stamps([ret]),
               sink_messages=sum(1 for _, _, m in view.custom if m.get("type") == "delta"),
               drain_instrumented=instrumented[0])
    if sampler is not None:
        sampler.join()
        out["cpu"] = box
    if spec.get("keep_lags"):
        out["lags_ms"] = at_drain.lag_ms
        out["sink_lags_ms"] = at_comm.lag_ms
    return out


def run_openai(client, query: str, n: int, spec: dict) -> dict:
    box: dict = {}
    col = StampCollector()
    sampler = None
    if spec.get("cpu_window"):
        a, b = spec["cpu_window"]
        sampler = sample_window(a, b, threading.get_ident(), col.t0, box)
    stream = client.chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": query}], stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            col.see([chunk.choices[0].delta.content])
    loop_s = time.perf_counter() - col.t0
    out = col.summary(n)
    out.update(loop_ms=loop_s * 1000, leftover=0)
    if sampler is not None:
        sampler.join()
        out["cpu"] = box
    if spec.get("keep_lags"):
        out["lags_ms"] = col.lag_ms
    return out


def main() -> None:
    pin_env_home()
    spec = spec_from_argv()
    system, n = spec["system"], int(spec["n"])
    extra = {"first_delay": spec["first_delay"]} if spec.get("first_delay") is not None else {}
    query = bench_query(n, spec.get("delay", 0.0), **extra)
    warm_query = bench_query(20, 0.0)
    if system == "openai":
        import openai

        target = openai.OpenAI(base_url=spec["base_url"], api_key="bench", max_retries=0)
        fn = run_openai
    else:
        target = make_module(spec["base_url"], spec.get("workload", "module"))
        fn = run_seed if system == "seed" else run_runner
    for _ in range(int(spec.get("warmup", 1))):
        fn(target, warm_query, 20, {})
    runs = [fn(target, query, n, spec) for _ in range(int(spec.get("repeats", 1)))]
    emit({"runs": runs})


if __name__ == "__main__":
    main()
