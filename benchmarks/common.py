"""Shared by every benchmark group: paths, child processes, statistics, figures and the table.

Each workload runs in a child process (ours with this interpreter, LazyLLM's with the
interpreter of its own venv) that prints one ``RESULT <json>`` line with its raw
samples; this module turns repeats into "median [min–max]" cells and ratios.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
OUT = BENCH / "out"
LOGS = OUT / "logs"

#: System columns of the table, in order.
#: Columns: ours, LazyLLM 1.4.0, and the figure's floor or peer measured beside us in the same run (the
#: openai client alone for end to end, a raw os.write loop for the queue...: each figure's label names it).
SYSTEMS = ("ours", "lazyllm", "floor")
SYSTEM_TITLES = {"ours": "lazystream-widget", "lazyllm": "LazyLLM 1.4.0", "floor": "floor or peer"}

RESULT_PREFIX = "RESULT "

# --------------------------------------------------------------------------- settings


@dataclass
class Settings:
    """What the command line asked for, handed to every group."""

    quick: bool = False
    repeats: int = 5
    lazyllm_python: str | None = None  # None: LazyLLM side not run
    lazyllm_reason: str = ""  # why it is not available
    base_url: str = ""  # the benchmark model server
    log: Callable[[str], None] = print
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lazyllm(self) -> bool:
        return self.lazyllm_python is not None


# --------------------------------------------------------------------------- child processes


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every benchmark child: private homes under benchmarks/out/, no real model."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAZYSTREAM_", "OPENAI_", "LAZYLLM_")) and k not in ("PYTHONPATH",)
    }
    # ours: the queue home (sessions, queue files) of every child
    env["LAZYSTREAM_HOME"] = str(private_dir(OUT / "home-ours"))
    # LazyLLM: config['home'] holds its SQLite queue (.lazyllm_filesystem_queue.db), logs and
    # agent workspace; config['temp_dir'] defaults to ./.temp of the working directory
    env["LAZYLLM_HOME"] = str(private_dir(OUT / "home-lazyllm"))
    env["LAZYLLM_TEMP_DIR"] = str(private_dir(OUT / "tmp-lazyllm"))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO)  # `python -m benchmarks.x` from anywhere; harmless for the LazyLLM venv
    if extra:
        env.update(extra)
    return env


class WorkerError(RuntimeError):
    pass


def run_worker(
    argv: Sequence[str], spec: dict[str, Any], *, timeout: float = 600, name: str = "worker"
) -> dict[str, Any]:
    """Run a benchmark child with ``spec`` as its JSON argument; return its RESULT object."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{name}.log"
    cmd = [*argv, json.dumps(spec)]
    try:
        proc = subprocess.run(
            cmd, cwd=str(REPO), env=child_env(), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        _write_log(log_path, cmd, exc.stdout, exc.stderr)
        raise WorkerError(f"{name}: no result within {timeout:.0f} s (log: {_rel(log_path)})") from None
    _write_log(log_path, cmd, proc.stdout, proc.stderr)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (proc.stderr or "").strip().splitlines()[-3:]
    raise WorkerError(f"{name}: exit {proc.returncode}, no result: {' | '.join(tail)[-300:]} (log: {_rel(log_path)})")


def _write_log(path: Path, cmd: Sequence[str], out: Any, err: Any) -> None:
    def text(x: Any) -> str:
        return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")

    path.write_text(f"$ {shlex.join(cmd)}\n--- stdout\n{text(out)}\n--- stderr\n{text(err)}\n", encoding="utf-8")


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def ours_worker(module: str) -> list[str]:
    """argv prefix of one of our workers: ``python -m benchmarks.ours_side.<module>``."""
    return [sys.executable, "-m", f"benchmarks.ours_side.{module}"]


def lazyllm_worker(settings: Settings, script: str) -> list[str]:
    assert settings.lazyllm_python
    return [settings.lazyllm_python, str(BENCH / "lazyllm_side" / f"{script}.py")]


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# --------------------------------------------------------------------------- figures


@dataclass
class Cell:
    """One system's value of one figure: a value per repeat, or why there is none."""

    values: list[float] = field(default_factory=list)
    note: str = ""  # shown instead of a number (e.g. "not available (...)"), or after it

    @property
    def ok(self) -> bool:
        return bool(self.values) and all(is_number(v) for v in self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.ok else math.nan

    @property
    def lo(self) -> float:
        return min(self.values) if self.ok else math.nan

    @property
    def hi(self) -> float:
        return max(self.values) if self.ok else math.nan


def at_most(limit: float) -> Callable[[Figure], bool | None]:
    """A target check: ours (the median) is at most ``limit``; None when there is no number."""
    def check(f: Figure) -> bool | None:
        v = f.med("ours")
        return None if not is_number(v) else v <= limit
    return check


def ratio_at_most(limit: float, other: str = "floor") -> Callable[[Figure], bool | None]:
    """A target check: ours / ``other`` (medians) is at most ``limit``."""
    def check(f: Figure) -> bool | None:
        r = f.ratio(other)
        return None if not is_number(r) else r <= limit
    return check


@dataclass
class Target:
    text: str
    check: Callable[[Figure], bool | None] | None = None  # None: report only


@dataclass
class Figure:
    group: str
    key: str
    label: str
    unit: str
    cells: dict[str, Cell] = field(default_factory=dict)
    target: Target | None = None
    lower_is_better: bool = True
    pending: str = ""  # a hook not filled yet (not a failure)
    note: str = ""

    def cell(self, system: str) -> Cell | None:
        return self.cells.get(system)

    def med(self, system: str) -> float:
        c = self.cells.get(system)
        return c.median if c is not None else math.nan

    def ratio(self, other: str) -> float:
        a, b = self.med("ours"), self.med(other)
        if not (is_number(a) and is_number(b)) or b == 0:
            return math.nan
        return a / b

    def verdict(self) -> str:
        if self.pending:
            return "pending"
        if self.target is None or self.target.check is None:
            return "report"
        try:
            ok = self.target.check(self)
        except Exception:
            ok = None
        if ok is None:
            return "n/a"
        return "yes" if ok else "MISSED"

    def missing_ours(self) -> bool:
        if self.pending:
            return False
        c = self.cells.get("ours")
        return c is None or not c.ok

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "target": self.target.text if self.target else None,
            "verdict": self.verdict(),
            "pending": self.pending,
            "note": self.note,
            "cells": {
                s: {"values": c.values, "median": _j(c.median), "min": _j(c.lo), "max": _j(c.hi), "note": c.note}
                for s, c in self.cells.items()
            },
            "ratio_vs_lazyllm": _j(self.ratio("lazyllm")),
            "ratio_vs_floor": _j(self.ratio("floor")),
        }


def _j(x: float) -> float | None:
    return x if is_number(x) else None


def cell_of(values: Iterable[Any], note: str = "") -> Cell:
    return Cell([float(v) if is_number(v) else math.nan for v in values], note)


def unavailable(reason: str) -> Cell:
    return Cell([], reason)


def lazyllm_missing(settings: Settings) -> Cell:
    return unavailable(f"LazyLLM: not available ({settings.lazyllm_reason})")


# --------------------------------------------------------------------------- formatting


def fmt(x: float) -> str:
    """A number with 3 significant digits, no exponent for the ranges we print."""
    if not is_number(x):
        return "NaN"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1:
        return f"{x:.2f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.2g}"


class Notes:
    """Footnotes of a table: each distinct note once, numbered in order of use."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def mark(self, note: str) -> str:
        if not note:
            return ""
        if note not in self.items:
            self.items.append(note)
        return f" *{self.items.index(note) + 1}"

    def lines(self) -> list[str]:
        return [f"*{i + 1} {n}" for i, n in enumerate(self.items)]


def fmt_cell(c: Cell | None, notes: Notes) -> str:
    if c is None:
        return "—"
    if not c.values:
        if not c.note:
            return "—"
        short = "n/a" if c.note.startswith(("LazyLLM: not available", "not run", "skipped")) else "error"
        return short + notes.mark(c.note)
    if not c.ok:
        return "NaN" + notes.mark(c.note)
    if len(c.values) == 1 or c.lo == c.hi:
        s = fmt(c.median)
    else:
        s = f"{fmt(c.median)} [{fmt(c.lo)}–{fmt(c.hi)}]"
    return s + notes.mark(c.note)


def fmt_ratio(x: float) -> str:
    if not is_number(x):
        return "—"
    if x >= 100:
        return f"{x:,.0f}x"
    if x >= 10:
        return f"{x:.1f}x"
    if x >= 0.01:
        return f"{x:.2f}x"
    return f"{x:.2g}x"


HEAD = ["figure", "unit", *[SYSTEM_TITLES[s] for s in SYSTEMS], "ours/LazyLLM", "ours/floor", "target", "met?"]


def table_rows(figures: Sequence[Figure], notes: Notes, verdicts: bool = True) -> list[list[str]]:
    """One row per figure; ``verdicts=False`` (the quick mode) leaves out the "met?" column."""
    rows = []
    for f in figures:
        label = f.label + notes.mark(f.note)
        target = f.target.text if f.target else ""
        if f.pending:
            row = [label, f.unit, f.pending, "—", "—", "—", "—", target, "pending"]
        else:
            row = [
                label,
                f.unit,
                *[fmt_cell(f.cells.get(s), notes) for s in SYSTEMS],
                fmt_ratio(f.ratio("lazyllm")),
                fmt_ratio(f.ratio("floor")),
                target,
                f.verdict(),
            ]
        rows.append(row if verdicts else row[:-1])
    return rows


#: wrap columns wider than this (figure, unit, 3 systems, 2 ratios, target, verdict)
CAPS = [44, 10, 28, 28, 22, 12, 11, 22, 7]


def render_text(figures: Sequence[Figure], verdicts: bool = True) -> str:
    """A plain-text table, one section per group; long cells wrap; notes are footnotes."""
    notes = Notes()
    head, caps = (HEAD, CAPS) if verdicts else (HEAD[:-1], CAPS[:-1])
    groups: dict[str, list[Figure]] = {}
    for f in figures:
        groups.setdefault(f.group, []).append(f)
    per_group = {name: table_rows(figs, notes, verdicts) for name, figs in groups.items()}
    rows_all = [r for rows in per_group.values() for r in rows] or [list(head)]
    widths = [min(cap, max(len(h), *(len(r[i]) for r in rows_all))) for i, (h, cap) in enumerate(zip(head, caps,
                                                                                                        strict=True))]
    sep = "  "

    def line(cols: list[str]) -> list[str]:
        wrapped = [_wrap(c, w) for c, w in zip(cols, widths, strict=True)]
        height = max(len(w) for w in wrapped)
        return [
            sep.join((w[i] if i < len(w) else "").ljust(widths[j]) for j, w in enumerate(wrapped)).rstrip()
            for i in range(height)
        ]

    out: list[str] = []
    out.extend(line([_short_head(h) for h in head]))
    out.append(sep.join("-" * w for w in widths))
    for name, rows in per_group.items():
        out.append(f"[{name}]")
        for row in rows:
            out.extend(line(row))
    if notes.items:
        out.append("")
        out.extend(notes.lines())
    return "\n".join(out)


def _short_head(h: str) -> str:
    return {"floor or peer": "floor/peer"}.get(h, h)


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width:
        return [text]
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        while len(w) > width:
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(w[:width])
            w = w[width:]
        if not cur:
            cur = w
        elif len(cur) + 1 + len(w) <= width:
            cur += " " + w
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    return lines


def render_markdown(figures: Sequence[Figure], verdicts: bool = True) -> str:
    notes = Notes()
    head = HEAD if verdicts else HEAD[:-1]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    current = None
    for f, row in zip(figures, table_rows(figures, notes, verdicts), strict=True):
        if f.group != current:
            current = f.group
            out.append(f"| **{f.group}** |" + " |" * (len(head) - 1))
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    if notes.items:
        out.append("")
        out.extend(f"{line}  " for line in notes.lines())
    return "\n".join(out)


# --------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def dist_version(name: str, python: str | None = None) -> str:
    """Version of an installed distribution, in this interpreter or another one."""
    if python is None:
        from importlib import metadata

        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"
    code = (
        "import importlib.metadata as m,sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: print('not installed')"
    )
    try:
        out = subprocess.run([python, "-c", code, name], capture_output=True, text=True, timeout=60)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def fsync_latency_ms(samples: int = 30) -> float | None:
    """Median fsync time of a small write under benchmarks/out/: LazyLLM's SQLite queue commits pay it."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / ".fsync-probe"
    xs = []
    try:
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            for _ in range(samples):
                os.write(fd, b"x" * 64)
                t0 = time.perf_counter()
                os.fsync(fd)
                xs.append((time.perf_counter() - t0) * 1000)
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)
    except OSError:
        return None
    return round(statistics.median(xs), 2)


def _our_version() -> str:
    v = dist_version("lazystream-widget")
    if v != "not installed":
        return v
    try:
        import lazystream_widget

        return f"{lazystream_widget.__version__} (from {Path(lazystream_widget.__file__).parent.parent})"
    except Exception as exc:
        return f"not importable ({exc})"


def machine_info(settings: Settings) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        "fsync_ms": fsync_latency_ms(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "lazystream_widget": _our_version(),
        "openai": dist_version("openai"),
        "filelock": dist_version("filelock"),
    }
    if settings.lazyllm_python:
        info["lazyllm"] = dist_version("lazyllm", settings.lazyllm_python)
        info["lazyllm_venv_openai"] = dist_version("openai", settings.lazyllm_python)
        info["lazyllm_venv_filelock"] = dist_version("filelock", settings.lazyllm_python)
        info["lazyllm_venv_requests"] = dist_version("requests", settings.lazyllm_python)
    else:
        info["lazyllm"] = f"not available ({settings.lazyllm_reason})"
    return info


def header_text(info: dict[str, Any], command: str) -> str:
    lines = [
        f"machine: {info['cpu']}, {info['cores']} cores, Python {info['python']} ({info['platform']})",
        f"load average at start: {info['load_avg_at_start']}   date: {info['date']}   "
        f"fsync in benchmarks/out: median {info['fsync_ms']} ms",
        f"versions: lazystream-widget {info['lazystream_widget']}, openai {info['openai']}, "
        f"filelock {info['filelock']}; LazyLLM {info['lazyllm']}",
    ]
    if "lazyllm_venv_openai" in info:
        lines.append(
            f"LazyLLM venv: openai {info['lazyllm_venv_openai']}, filelock {info['lazyllm_venv_filelock']}, "
            f"requests {info['lazyllm_venv_requests']}"
        )
    lines.append(f"command: {command}")
    lines.append("cells: median [min–max] over repeats; ratios are of medians measured in this run")
    return "\n".join(lines)


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str) -> str:
    return _SAFE.sub("-", text).strip("-")


# --------------------------------------------------------------------------- running workloads


def side_argv(settings: Settings, side: str, module: str) -> list[str]:
    """argv of a worker: our side (and the openai baseline) with this interpreter, LazyLLM's with its venv."""
    return lazyllm_worker(settings, module) if side == "lazyllm" else ours_worker(module)


def collect(settings: Settings, side: str, module: str, spec: dict[str, Any], name: str,
            timeout: float = 900) -> list[dict[str, Any]] | str:
    """The worker's per-run results, or an error string for the table."""
    if side == "lazyllm" and not settings.lazyllm:
        return f"LazyLLM: not available ({settings.lazyllm_reason})"
    t0 = time.perf_counter()
    try:
        res = run_worker(side_argv(settings, side, module), spec, timeout=timeout, name=name)
    except WorkerError as exc:
        settings.log(f"    {name}: FAILED: {exc}")
        return f"error: {exc}"
    settings.log(f"    {name}: {time.perf_counter() - t0:.1f} s")
    settings.extra.setdefault("raw", {})[name] = res
    return res["runs"]


def pick(runs: list[dict[str, Any]] | str, key: str, scale: float = 1.0, note: str = "") -> Cell:
    """A cell from one field (``a.b`` for nested) of each run; an error string becomes the cell's note."""
    if isinstance(runs, str):
        return Cell([], runs)
    vals = []
    for r in runs:
        v: Any = r
        for part in key.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        vals.append(v * scale if is_number(v) else math.nan)
    return cell_of(vals, note)


def collect_rounds(settings: Settings, jobs: list[tuple[str, str, str, dict[str, Any]]], rounds: int,
                   timeout: float = 900) -> dict[str, list[dict[str, Any]] | str]:
    """Run each job ``rounds`` times, one fresh process per job per round, interleaved
    (A B C A B C ...), so that load drifting on a shared machine hits every system alike.

    ``jobs``: (name, side, worker module, spec); each process does its warm-up then one run.
    Returns name -> all runs, or the first error string.
    """
    out: dict[str, list[dict[str, Any]] | str] = {name: [] for name, *_ in jobs}
    for i in range(rounds):
        for name, side, module, spec in jobs:
            if isinstance(out[name], str):
                continue
            runs = collect(settings, side, module, {**spec, "repeats": 1}, f"{name}-r{i + 1}", timeout=timeout)
            if isinstance(runs, str):
                out[name] = runs
            else:
                out[name].extend(runs)  # type: ignore[union-attr]
    return out
