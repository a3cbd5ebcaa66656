"""Helpers for the benchmark children, standard library only.

Imported by our workers (``benchmarks.workerlib``) and by LazyLLM's, which run in
LazyLLM's venv without our package (they put this directory on ``sys.path`` and
``import workerlib``). Workers print raw samples; the parent does the statistics.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

RESULT_PREFIX = "RESULT "
STAMP_RE = re.compile(r"(\d+)@(\d+) ")
TAG_RE = re.compile(r"(r\d+)\.(\d+) ")


def spec_from_argv() -> dict[str, Any]:
    return json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}


def spawn_ready(args: list[str], what: str = "helper process") -> subprocess.Popen:
    """Start a helper process and wait for its ``READY`` line.

    The line is read from the unbuffered pipe byte by byte: a buffered ``readline()`` can take in
    what the helper writes next (a quick reader's result), and ``communicate(timeout=...)``, which
    reads the raw pipe, would then never see it.
    """
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, bufsize=0)
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = proc.stdout.read(1)
        if not byte:
            break
        line += byte
    if line.strip() != b"READY":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{what} did not start: {line.decode(errors='replace').strip()!r}")
    return proc


def output_of(proc: subprocess.Popen, timeout: float) -> str:
    """Everything a helper from :func:`spawn_ready` printed after ``READY``, once it has exited."""
    out, _ = proc.communicate(timeout=timeout)
    return out.decode("utf-8", "replace")


def emit(result: dict[str, Any]) -> None:
    """Print the worker's one result line (the parent reads the last one)."""
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def log(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


def bench_query(n: int, delay: float = 0.0, **extra: Any) -> str:
    """Same as ``benchmarks.model_server.bench_query`` (duplicated: this file is stdlib only)."""
    spec = {"n": int(n), "delay": float(delay), **extra}
    return "Stream for the benchmark. BENCH" + json.dumps(spec, separators=(",", ":"))


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class StampCollector:
    """Records when the consumer sees each stamped token ``"{i}@{time_ns} "``.

    ``see(texts)`` is called right after a dequeue returned: the time is taken first,
    the parsing (and for LazyLLM the JSON decoding) comes after and is not counted.
    """

    def __init__(self, t0: float | None = None) -> None:
        self.t0 = time.perf_counter() if t0 is None else t0
        self.lag_ms: list[float] = []
        self.seen: set[int] = set()
        self.duplicates = 0
        self.first_s: float | None = None  # perf_counter delta from t0 to the first token seen
        self.last_s: float | None = None  # ... to the last token seen
        self.max_index = -1
        self.batches = 0

    def see(self, texts: list[str], now_ns: int | None = None, now_pc: float | None = None) -> None:
        now_ns = time.time_ns() if now_ns is None else now_ns
        now_pc = time.perf_counter() if now_pc is None else now_pc
        found = False
        for text in texts:
            for i, stamp in STAMP_RE.findall(text):
                i = int(i)
                found = True
                if i in self.seen:
                    self.duplicates += 1
                    continue
                self.seen.add(i)
                self.lag_ms.append((now_ns - int(stamp)) / 1e6)
                self.max_index = max(self.max_index, i)
        if found:
            self.batches += 1
            if self.first_s is None:
                self.first_s = now_pc - self.t0
            self.last_s = now_pc - self.t0

    def summary(self, expected: int | None = None) -> dict[str, Any]:
        out = {
            "tokens": len(self.seen),
            "duplicates": self.duplicates,
            "batches": self.batches,
            "ttft_ms": None if self.first_s is None else self.first_s * 1000,
            "ttlt_ms": None if self.last_s is None else self.last_s * 1000,
            "lag_p50_ms": percentile(self.lag_ms, 50),
            "lag_p95_ms": percentile(self.lag_ms, 95),
            "lag_max_ms": max(self.lag_ms) if self.lag_ms else None,
        }
        if expected is not None:
            out["expected"] = expected
            out["lost"] = expected - len(self.seen)
        return out


def lazyllm_text(items: list[str]) -> list[str]:
    """The answer text of LazyLLM 1.4.0 queue items: JSON objects, ``tag == "text"`` carries a delta."""
    out = []
    for item in items:
        try:
            obj = json.loads(item)
        except (TypeError, ValueError):
            out.append(str(item))
            continue
        if isinstance(obj, dict):
            if obj.get("tag") == "text" and isinstance(obj.get("delta"), str):
                out.append(obj["delta"])
        elif isinstance(obj, str):
            out.append(obj)
    return out


def thread_cpu_clock(ident: int | None = None) -> int | None:
    """The CPU clock id of a thread (Linux), to read another thread's CPU time."""
    try:
        return time.pthread_getcpuclockid(ident if ident is not None else threading.get_ident())
    except (AttributeError, OSError):
        return None


class CpuWindow:
    """Process (and optionally one thread's) CPU time over a wall-clock window."""

    def __init__(self, thread_ident: int | None = None) -> None:
        self.clock = thread_cpu_clock(thread_ident) if thread_ident is not None else None
        self.start()

    def _thread_cpu(self) -> float | None:
        if self.clock is None:
            return None
        try:
            return time.clock_gettime(self.clock)
        except OSError:
            return None

    def start(self) -> None:
        self.w0 = time.perf_counter()
        self.p0 = time.process_time()
        self.t0 = self._thread_cpu()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.w0
        proc = time.process_time() - self.p0
        t1 = self._thread_cpu()
        out = {"wall_s": wall, "process_cpu_s": proc, "process_cpu_pct": 100.0 * proc / wall if wall > 0 else None}
        if t1 is not None and self.t0 is not None:
            out["thread_cpu_s"] = t1 - self.t0
            out["thread_cpu_pct"] = 100.0 * (t1 - self.t0) / wall if wall > 0 else None
        return out


def sample_window(start_s: float, end_s: float, thread_ident: int | None, t0: float, box: dict) -> threading.Thread:
    """A sleeping thread that measures CPU between ``t0 + start_s`` and ``t0 + end_s`` into ``box``."""

    def run() -> None:
        time.sleep(max(0.0, t0 + start_s - time.perf_counter()))
        win = CpuWindow(thread_ident)
        time.sleep(max(0.0, t0 + end_s - time.perf_counter()))
        box.update(win.stop())

    th = threading.Thread(target=run, name="cpu-sampler", daemon=True)
    th.start()
    return th


def pin_env_home() -> None:
    """Refuse to run without the private homes the parent sets (never touch the user's queues)."""
    for name in ("LAZYSTREAM_HOME", "LAZYLLM_HOME"):
        if not os.environ.get(name):
            raise SystemExit(f"{name} is not set: run this through `python -m benchmarks`")
