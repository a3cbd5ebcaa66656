"""What one ``enqueue()`` costs beside the bare ``os.write`` of the same framed bytes (the queue group's floor).

    python -m benchmarks.enqueue_cost                          # thread CPU per item, ours vs the floor
    python -m benchmarks.enqueue_cost --against 8733f2c        # the same, rounds alternated with that commit
    python -m benchmarks.enqueue_cost --instructions           # user-space instructions per item (callgrind)
    python -m benchmarks.enqueue_cost --instructions --against 8733f2c

CPU time and instruction counts, unlike the wall-time rate of ``--only queue``, are barely moved by the
load of a shared machine. The workload is the rate figure's: ``FileSystemQueue(session=s).enqueue(item)``
for token-sized items (`` token123``) into a fresh session's answer queue; the floor writes the same
framed bytes to an ``O_APPEND`` file under the same home. ``--against REV`` runs REV's package (its
``lazystream_widget/`` from ``git archive``) in the same rounds. ``--instructions`` runs a loop that does
nothing, the enqueue loop and the floor loop under ``valgrind --tool=callgrind`` (not a dependency of the
project: ``apt-get install valgrind``) and reports the difference per item.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def probe(mode: str, n: int, reps: int) -> None:
    """In this process, under a home of its own: ``reps`` rounds of the floor then ours (``mode`` all), or
    one loop (callgrind)."""
    with tempfile.TemporaryDirectory(prefix="enqueue-cost-") as home:
        os.environ["LAZYSTREAM_HOME"] = home
        _probe(mode, n, reps)


def _probe(mode: str, n: int, reps: int) -> None:
    import lazystream_widget as lsw
    from lazystream_widget.runtime.filestore import frame

    items = [f" token{i}" for i in range(n)]
    framed = [frame(i.encode()) for i in items]
    fd = os.open(os.path.join(os.environ["LAZYSTREAM_HOME"], f"floor-{os.getpid()}.log"),
                 os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o600)
    write, floor, ours = os.write, [], []
    with lsw.session() as sess:
        q = lsw.FileSystemQueue(session=sess)
        q.enqueue("first")  # opens the files (and binds the queue) before anything is timed
        for _ in range(reps):
            if mode in ("all", "floor"):
                c0 = time.thread_time()
                for b in framed:
                    write(fd, b)
                floor.append((time.thread_time() - c0) / n * 1e9)
            if mode in ("all", "enqueue"):
                c0 = time.thread_time()
                for item in items:
                    q.enqueue(item)
                ours.append((time.thread_time() - c0) / n * 1e9)
            if mode == "pass":  # the loop alone, subtracted from the others
                for _item in items:
                    pass
    os.close(fd)
    if mode == "all":
        f, o = statistics.median(floor), statistics.median(ours)
        print(f"{f:.0f} {o:.0f} {f / o:.3f}")


def package_at(rev: str, into: str) -> str:
    """A directory holding ``rev``'s ``lazystream_widget`` package (for PYTHONPATH)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "lazystream_widget"], check=True,
                             capture_output=True).stdout
    path = os.path.join(into, "tree.tar")
    Path(path).write_bytes(archive)
    with tarfile.open(path) as tar:
        tar.extractall(into, filter="data")
    return into


def run_probe(pythonpath: str, *args: str, valgrind: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": pythonpath, "PYTHONHASHSEED": "0"}
    env.pop("LAZYSTREAM_HOME", None)
    # run as a script: its directory (benchmarks/) goes first on sys.path, then PYTHONPATH's package
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", *args]
    if valgrind:
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd]
    out = subprocess.run(cmd, env=env, cwd=tempfile.gettempdir(), capture_output=True, text=True, check=True)
    return out.stdout if not valgrind else out.stderr


def instructions(pythonpath: str, n: int) -> dict[str, float]:
    total = {}
    for mode in ("pass", "enqueue", "floor"):
        err = run_probe(pythonpath, mode, str(n), "1", valgrind=True)
        total[mode] = next(int(line.split()[-1].replace(",", "")) for line in err.splitlines() if "Collected" in line)
    return {m: (total[m] - total["pass"]) / n for m in ("enqueue", "floor")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", help="a commit to measure in the same rounds")
    ap.add_argument("--instructions", action="store_true", help="callgrind instruction counts instead of CPU time")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--probe", nargs=3, metavar=("MODE", "N", "REPS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        probe(args.probe[0], int(args.probe[1]), int(args.probe[2]))
        return
    with tempfile.TemporaryDirectory(prefix="enqueue-cost-") as tmp:
        sides = {"this tree": str(ROOT)}
        if args.against:
            sides[args.against] = package_at(args.against, tmp)
        if args.instructions:
            for name, path in sides.items():
                per = instructions(path, 5000)
                print(f"{name}: {per['enqueue']:,.0f} instructions per enqueue, floor {per['floor']:,.0f} "
                      "(callgrind, 5,000 items, above an empty loop)")
            return
        print("thread CPU per item, 20,000 items x 3 per process (medians): floor ns, enqueue ns, floor/enqueue")
        for _ in range(args.rounds):
            for name, path in sides.items():
                load = os.getloadavg()[0]
                print(f"{name:>10}: {run_probe(path, 'all', '20000', '3').strip()}  (load {load:.1f})", flush=True)


if __name__ == "__main__":
    main()
