"""Every group of figures ``python -m benchmarks`` knows: one line each.

A group is a module with ``run(settings: Settings) -> list[Figure]`` (see ``benchmarks/common.py``
for ``Settings``, ``Figure``, ``Cell`` and ``Target``). To add figures, write such a module and
add ONE line below; ``--only NAME`` then runs it, the table prints it, ``--json`` stores it.

``needs``: what the harness must provide before the group runs:

* ``"server"``: the benchmark model server in its own process (``settings.base_url``);
* ``"lazyllm"``: LazyLLM 1.4.0 in its venv (``settings.lazyllm_python``), skipped by ``--quick``;

``quick``: whether ``--quick`` (CI) runs the group (at its small sizes: ``settings.quick``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    name: str
    module: str
    about: str
    needs: frozenset[str] = frozenset()
    quick: bool = True


GROUPS: list[Group] = [
    Group("queue", "benchmarks.queue_bench", "FileSystemQueue alone: enqueue rate vs a raw os.write floor, "
          "enqueue-to-seen latency", frozenset({"lazyllm"})),
    Group("e2e", "benchmarks.e2e", "model -> queue -> consumer: last token vs the openai client, per-token lag, "
          "tokens lost", frozenset({"server", "lazyllm"})),
    Group("cpu", "benchmarks.cpu", "consumer CPU: idle on a silent model, streaming", frozenset({"server", "lazyllm"})),
    Group("concurrency", "benchmarks.concurrency", "20 runs at once in one process",
          frozenset({"server", "lazyllm"})),
    Group("scale", "benchmarks.scale", "1, 10, 100 views in a real Jupyter kernel; comm messages on iopub",
          frozenset({"server"})),
    Group("memory", "benchmarks.memory", "kernel RSS growth for a big run vs its answer and trace",
          frozenset({"server"})),
    Group("footprint", "benchmarks.footprint", "import time, installed size", frozenset({"lazyllm"})),
    Group("widget", "benchmarks.widget", "comm payload; the bundle in a minimal host page in chromium",
          frozenset({"server"})),
    Group("notebook", "benchmarks.notebook", "JupyterLab in chromium: lag a user sees, longest task vs a minimal "
          "anywidget, JS heap, nothing lost", frozenset({"server"}), quick=False),
    Group("replay", "benchmarks.replay", "cassette replay fidelity at speed 1.0"),
    Group("control", "benchmarks.control", "Stop and resync reaching a busy kernel"),
    Group("filter", "benchmarks.trace_filter", "trace filter keystroke on a 100,000-entry trace"),
    Group("redis", "benchmarks.redis_bench", "Redis backend on loopback beside the file backend: enqueue rate vs "
          "raw redis-py, enqueue-to-seen p50/p95, 1-200 sessions"),
]


def by_name() -> dict[str, Group]:
    return {g.name: g for g in GROUPS}
