"""Where the kernel's CPU goes while many runs stream: per thread kind, per 1,000 tokens.

    python -m benchmarks.scale_profile                  # 1, 10 and 100 runs, 100 tokens each at 20/s
    python -m benchmarks.scale_profile --runs 100 --repeats 3
    python -m benchmarks.scale_profile --runs 100 --py-spy prof   # also py-spy --gil samples: prof.100.txt
    python -m benchmarks.scale_profile --runs 100 --tokens 5      # what starting and ending runs costs

The workload is the ``scale`` group's (``kernel_cells.many_runs``: one view per run, the model server
in its own process, a real kernel). Each thread's CPU (user + system, in nanoseconds) and the times
it was scheduled in come from ``/proc/<kernel>/task/<tid>/schedstat``, sampled every 0.05 s so that
run threads, which end with their run, are counted; its name comes from the kernel itself
(``kernel_cells.watch_thread_names``). The main thread's figure includes making the views, which
happens before the cell's CPU window ("not seen" is then negative). The peer line is the same
streams read by the openai client alone. With ``--py-spy`` (``pip install py-spy``; not a dependency
of the project) the GIL holder is also sampled (``--gil --threads``, raw collapsed stacks); on this
workload it misattributes (docs/benchmarks.md, "Many runs in one kernel"): prefer the counters.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import threading
import time

from .kernel_harness import Kernel
from .model_server import ModelServer

_TICK = os.sysconf("SC_CLK_TCK")
TOKENS, DELAY = 100, 0.05


def _threads(pid: int) -> dict[str, tuple[float, float, int]]:
    """tid -> (CPU seconds, system seconds, times scheduled in) of every thread of ``pid`` now.

    The CPU time is the scheduler's own count in nanoseconds (``schedstat``): ``stat``'s user and
    system times come in 10 ms ticks, and a run thread uses only ~10 ms in all, so ticks lost half of
    it on average (the "unaccounted" part of earlier profiles). The system share is still from ticks.
    The times a thread was scheduled in (``schedstat``'s third field) count its wake-ups: each system
    call that lets go of the GIL can cost one for the thread that waits for it. Unlike CPU times, the
    count hardly moves with the machine's load.
    """
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                on_cpu_ns, _waited_ns, slices = map(int, f.read().split()[:3])
        except OSError:
            continue  # ended meanwhile
        out[tid] = (on_cpu_ns / 1e9, int(fields[12]) / _TICK, slices)
    return out


def _kind(name: str) -> str:
    name = re.sub(r"-[0-9a-f]{12}$", "-*", name)  # lazystream-run-<run id>
    return re.sub(r"^Thread-\d+.*", "Thread-N", name)


def profile(k: Kernel, base_url: str, n_runs: int, spy: str | None, tokens_per_run: int = TOKENS) -> str:
    cells = "from benchmarks.ours_side import kernel_cells\nkernel_cells."
    k.result(f"{cells}watch_thread_names({tokens_per_run * DELAY * 4 + 30})")
    spy_proc = None
    if spy:
        spy_proc = subprocess.Popen(["py-spy", "record", "--pid", str(k.pid), "--gil", "--threads", "--nonblocking",
                                     "-r", "250", "-d", str(int(tokens_per_run * DELAY) + 2), "-f", "raw", "-o",
                                     f"{spy}.{n_runs}.txt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    before, seen, stop = _threads(k.pid), {}, threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.update(_threads(k.pid))
            time.sleep(0.05)
        seen.update(_threads(k.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    woke = k.result(f"{cells}pump_wakeups()")["wakeups"]
    sampler.start()
    res = k.result(f"{cells}many_runs({base_url!r}, {n_runs}, {tokens_per_run}, {DELAY})")
    woke = k.result(f"{cells}pump_wakeups()")["wakeups"] - woke
    stop.set()
    sampler.join()
    names = k.result(f"{cells}thread_names()")
    per_k = 1000 / (n_runs * tokens_per_run / 1000)  # seconds -> ms per 1,000 tokens
    cpu, sys_, switches = collections.Counter(), collections.Counter(), collections.Counter()
    for tid, (total, system, slices) in seen.items():
        kind = _kind(names.get(tid, "?"))
        was = before.get(tid, (0.0, 0.0, 0))
        cpu[kind] += total - was[0]
        sys_[kind] += system - was[1]
        switches[kind] += slices - was[2]
    peer = k.result(f"{cells}many_openai({base_url!r}, {n_runs}, {tokens_per_run}, {DELAY})")
    if spy_proc is not None:
        spy_proc.wait()
    own = per_k * cpu.pop("bench-thread-names", 0.0)  # this tool's name sampler: not the kernel's work
    switches.pop("bench-thread-names", None)
    threads = ", ".join(f"{kind} {per_k * v:.0f} (sys {per_k * sys_[kind]:.0f})" for kind, v in cpu.most_common()
                        if per_k * v >= 1)
    tokens = n_runs * tokens_per_run
    woken = ", ".join(f"{kind} {v / tokens:.2f}" for kind, v in switches.most_common() if v / tokens >= 0.01)
    cpu_ms = per_k * res["cpu_s"] - own
    # the cell's CPU (process_time, from the first ask to the last wait) less what the threads were seen
    # to use (from before the views were made: the main thread's share includes making them): the tails
    # of threads that ended between two samples, and rounding
    unseen = cpu_ms - per_k * sum(cpu.values())
    cores = cpu_ms * n_runs * tokens_per_run / 1e6 / res["wall_s"]
    return (f"{n_runs} run(s) of {tokens_per_run} tokens: {cores:.3f} cores, {cpu_ms:.0f} ms CPU per 1k tokens, wall "
            f"{res['wall_s']:.2f} s, wrong {res['wrong_run']}, missing {res['missing']}; peer (openai alone) "
            f"{peer['cpu_ms_per_1k_tokens']:.0f} ms per 1k; load {os.getloadavg()[0]:.1f}\n"
            f"    per thread, ms per 1k tokens: {threads}; not seen {unseen:.0f}\n"
            f"    scheduled in, per token: {woken} (all {sum(switches.values()) / tokens:.2f}); "
            f"the pump's own wake-ups {woke / tokens:.2f} per token")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale_profile", description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="1,10,100", help="comma-separated run counts (default 1,10,100)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--tokens", type=int, default=TOKENS,
                   help=f"tokens per run (default {TOKENS}); a few tokens show what starting and ending a run costs")
    p.add_argument("--py-spy", dest="spy", default=None, help="also record py-spy --gil samples to SPY.<runs>.txt")
    args = p.parse_args()
    with ModelServer() as server, Kernel() as k:
        k.result(f"from benchmarks.ours_side import kernel_cells\nkernel_cells.warm_up({server.base_url!r})")
        for _ in range(args.repeats):
            for n_runs in (int(x) for x in args.runs.split(",")):
                print(profile(k, server.base_url, n_runs, args.spy, args.tokens), flush=True)


if __name__ == "__main__":
    main()
