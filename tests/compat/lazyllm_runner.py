"""Runs snippets of LazyLLM code and prints what they produced as JSON (the LazyLLM side of the differential tests).

    python lazyllm_runner.py < cases.json

``cases.json`` is a list of ``{"name", "source", "vars"}``. Each source runs with ``exec`` on a fresh thread
(so LazyLLM's per-thread session and flow stack start empty) in a namespace holding ``vars``; it leaves its
answer in the variable ``result``. The last stdout line is ``RESULT <json>``: ``{name: {"result": <normalized>}
or {"error": {"type", "message"}}}``.

Standard library only (and whatever the snippets import): it runs in an environment with ``lazyllm`` installed,
with or without our package. ``normalize`` is shared with our side (tests/compat/harness.py imports it).
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

CASE_TIMEOUT_S = 60.0
RESULT_PREFIX = "RESULT "


def normalize(value: Any, _depth: int = 0) -> Any:
    """``value`` as JSON data that keeps the distinctions the flows care about (package vs tuple vs list)."""
    if _depth > 30:
        return {"deep": type(value).__name__}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value else {"float": "nan"}
    kind = type(value).__name__
    if isinstance(value, tuple):
        return {"package" if kind == "package" else "tuple": [normalize(v, _depth + 1) for v in value]}
    if isinstance(value, list):
        return [normalize(v, _depth + 1) for v in value]
    if isinstance(value, dict):
        tag = "kwargs" if kind == "kwargs" else "dict"
        return {tag: [[normalize(k, _depth + 1), normalize(v, _depth + 1)] for k, v in value.items()]}
    if isinstance(value, (set, frozenset)):
        return {"set": sorted(repr(v) for v in value)}
    return {"object": kind}


def run_case(source: str, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run one snippet on a fresh thread; its ``result`` normalized, or the exception it raised."""
    namespace: dict[str, Any] = {"__name__": f"case_{name}", **variables}
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            exec(compile(source, f"case_{name}.py", "exec"), namespace)
            out["result"] = normalize(namespace.get("result"))
        except BaseException as exc:  # the snippet's failure is a result to compare
            out["error"] = {"type": type(exc).__name__, "message": str(exc)}

    thread = threading.Thread(target=target, name=f"case-{name}", daemon=True)
    thread.start()
    thread.join(CASE_TIMEOUT_S)
    if thread.is_alive():
        return {"error": {"type": "Timeout", "message": f"still running after {CASE_TIMEOUT_S:g} s"}}
    return out


def main() -> None:
    cases = json.load(sys.stdin)
    results = {c["name"]: run_case(c["source"], c["name"], c.get("vars") or {}) for c in cases}
    sys.stdout.write(RESULT_PREFIX + json.dumps(results) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
