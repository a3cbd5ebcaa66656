"""Code the kernel-side benchmarks run *in a Jupyter kernel* (``benchmarks/kernel_harness.py``), called from a cell.

Each function prints one ``RESULT <json>`` line. Views are real ``StreamView`` widgets shown as the
cell's output; their messages leave on iopub, where the harness counts them.
"""

from __future__ import annotations

import json
import sys
import time

from benchmarks.workerlib import TAG_RE, bench_query


def _emit(result: dict) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def _llm(base_url: str):
    import lazystream_widget as lsw

    return lsw.OnlineChatModule(source="openai", model="scripted", base_url=base_url, api_key="bench", stream=True)


def warm_up(base_url: str) -> None:
    """Imports, the HTTP connection, the pump thread: everything a first run pays once."""
    import lazystream_widget as lsw

    view = lsw.StreamView(_llm(base_url), display=False)
    view.ask(bench_query(20, 0.0), wait=True, timeout=120)
    _emit({"ok": True})


def many_runs(base_url: str, runs: int, n: int, delay: float) -> None:
    """``runs`` views, one run each, ``n`` tagged tokens ``delay`` s apart, all at once; wait for all."""
    import lazystream_widget as lsw

    llm = _llm(base_url)
    views = [lsw.StreamView(llm) for _ in range(runs)]  # each shown as an output of this cell
    t0, c0 = time.perf_counter(), time.process_time()
    started = [view.ask(bench_query(n, delay, tag=f"r{k}")) for k, view in enumerate(views)]
    errors = []
    for run in started:
        try:
            run.wait(600)
        except Exception as exc:  # reported, not hidden
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    own = wrong = 0
    for k, run in enumerate(started):
        for tag, _ in TAG_RE.findall(run.text):
            own += tag == f"r{k}"
            wrong += tag != f"r{k}"
    _emit({
        "runs": runs, "n": n, "wall_s": wall, "cpu_s": cpu, "cores": cpu / wall, "own": own, "wrong_run": wrong,
        "missing": runs * n - own, "errors": errors, "views": {view.model_id: k for k, view in enumerate(views)},
        "run_ids": [run.id for run in started],
    })


def one_view(base_url: str, n: int, delay: float) -> None:
    """One view, one run of ``n`` stamped tokens ``delay`` s apart (comm rate, lag at the comm)."""
    import lazystream_widget as lsw

    view = lsw.StreamView(_llm(base_url))
    t0 = time.perf_counter()
    run = view.ask(bench_query(n, delay), wait=True, timeout=600)
    _emit({"wall_s": time.perf_counter() - t0, "view": view.model_id, "run": run.id, "tokens": run.tokens})


def big_run(base_url: str, n: int) -> None:
    """One view, one run of ``n`` tokens as fast as the model sends them; the sizes memory is compared with."""
    import lazystream_widget as lsw

    view = lsw.StreamView(_llm(base_url))
    t0 = time.perf_counter()
    run = view.ask(bench_query(n, 0.0), wait=True, timeout=3600)
    text = run.text  # its UTF-8 size, a slice at a time: encoding it whole would itself add a copy
    answer = sum(len(text[i : i + (1 << 20)].encode("utf-8", "surrogatepass")) for i in range(0, len(text), 1 << 20))
    trace = sum(len(json.dumps(e, ensure_ascii=False).encode("utf-8")) + 1 for e in run.entries)
    _emit({"wall_s": time.perf_counter() - t0, "tokens": run.tokens, "answer_bytes": answer, "trace_bytes": trace,
           "view": view.model_id})


def many_openai(base_url: str, runs: int, n: int, delay: float) -> None:
    """The peer of ``many_runs``: the same streams read by the openai client alone, a thread each, no widget."""
    import threading

    import openai

    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)

    def read(k: int) -> None:
        stream = client.chat.completions.create(model="scripted", stream=True, messages=[
            {"role": "user", "content": bench_query(n, delay, tag=f"r{k}")}])
        for _chunk in stream:
            pass

    threads = [threading.Thread(target=read, args=(k,)) for k in range(runs)]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    _emit({"runs": runs, "wall_s": wall, "cpu_s": cpu, "cores": cpu / wall,
           "cpu_ms_per_1k_tokens": 1000 * cpu / (runs * n / 1000)})


_thread_names: dict[int, str] = {}


def watch_thread_names(seconds: float) -> None:
    """Note the name of every thread of this kernel (by OS thread id) for ``seconds``, in the background.

    Run threads end with their run, and Linux names every Python thread "python": the profile tool
    (``benchmarks/scale_profile.py``) reads each thread's CPU from ``/proc`` and its name from here.
    """
    import threading

    def note() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for t in threading.enumerate():
                if t.native_id is not None:
                    _thread_names[t.native_id] = t.name
            time.sleep(0.1)

    threading.Thread(target=note, name="bench-thread-names", daemon=True).start()
    _emit({"ok": True})


def thread_names() -> None:
    _emit({str(tid): name for tid, name in _thread_names.items()})


def pump_wakeups() -> None:
    """How often the pump threads of this kernel have woken so far (a counter of each pump)."""
    from lazystream_widget import pump

    _emit({"wakeups": sum(p.wakeups for p in list(pump._pumps.values()))})
