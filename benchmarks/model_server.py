"""The benchmark's model: the scripted OpenAI-compatible server, in its own process.

``python -m benchmarks.model_server`` prints ``READY <base url>`` and serves until
SIGTERM. Every request is answered from the *query itself*: the last message that
contains ``BENCH{...}`` holds a JSON spec, so each workload (ours, LazyLLM's, the
plain openai client's) asks for exactly the reply it measures, over real HTTP on
loopback, from one server shared by all of them:

* ``{"n": 500, "delay": 0.0}``: ``n`` stamped deltas ``"{i}@{time_ns} "``, the stamp
  taken when the delta is written to the socket (``Reply.timed``);
* ``"first_delay": 30``: stay silent that long before the first delta (an idle model);
* ``"tag": "r7"``: deltas ``"r7.{i} "`` instead of stamps (to spot tokens of one run
  delivered to another).

Running the model in its own process keeps its CPU out of the consumer's figures.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from typing import Any

BENCH_RE = re.compile(r"BENCH(\{[^{}]*\})")


def bench_query(n: int, delay: float = 0.0, **extra: Any) -> str:
    """The user message that makes the model answer with ``n`` deltas ``delay`` s apart."""
    spec = {"n": int(n), "delay": float(delay), **extra}
    return "Stream for the benchmark. BENCH" + json.dumps(spec, separators=(",", ":"))


def _spec_of(request: dict[str, Any]) -> dict[str, Any] | None:
    for message in reversed(request.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str):
            match = BENCH_RE.search(content)
            if match:
                return json.loads(match.group(1))
    return None


def bench_responder(request: dict[str, Any]):
    from lazystream_widget.testing import Reply

    spec = _spec_of(request)
    if spec is None:
        return Reply(text="No BENCH spec in the request.")
    n, delay = int(spec.get("n", 10)), float(spec.get("delay", 0.0))
    first = spec.get("first_delay")
    if spec.get("tag"):
        tag = str(spec["tag"])
        return Reply(chunks=[f"{tag}.{i} " for i in range(n)], delay=delay, first_delay=first)
    return Reply.timed(n, delay, first_delay=first)


def main() -> int:
    from lazystream_widget.testing import ScriptedServer, server

    # socketserver's default listen backlog is 5: 20 runs connecting at once would overflow it
    # and wait for a SYN retransmit (1 s). The benchmark's server process raises it.
    server._HTTPServer.request_queue_size = 128
    server._HTTPServer6.request_queue_size = 128

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = ScriptedServer(responder=bench_responder).start()
    print(f"READY {server.base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


class ModelServer:
    """Start ``python -m benchmarks.model_server`` as a child process; ``.base_url`` once ready."""

    def __init__(self, python: str = sys.executable, cwd: str | None = None) -> None:
        self.python = python
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> ModelServer:
        from .common import REPO, child_env

        self.proc = subprocess.Popen(
            [self.python, "-m", "benchmarks.model_server"],
            cwd=self.cwd or str(REPO),
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"the benchmark model server did not start (said {line!r})")
        self.base_url = line.split(" ", 1)[1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


if __name__ == "__main__":
    sys.exit(main())
