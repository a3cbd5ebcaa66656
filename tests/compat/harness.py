"""Differential cases: the same LazyLLM code run on real ``lazyllm==1.4.0`` and on ours, imports swapped.

A :class:`Case` is a snippet written for LazyLLM (``import lazyllm``, ``from lazyllm import ...``) that
leaves its answer in ``result``. LazyLLM's side runs every case of a test module in one subprocess
(``lazyllm_runner.py``); ours runs the same text with only its import lines rewritten
(:func:`swap_imports`), in the test's process. Each case states LazyLLM's documented result
(``expected``), which is checked against real LazyLLM too, so the expectation cannot drift from it.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .lazyllm_runner import RESULT_PREFIX, normalize, run_case

RUNNER = Path(__file__).with_name("lazyllm_runner.py")
#: A python with lazyllm installed, when the test environment's own has none (a developer's separate venv).
PYTHON_ENV = "LAZYLLM_PYTHON"
LAZYLLM_VERSION = "1.4.0"
_MISSING = object()


@dataclass(frozen=True)
class Case:
    """One snippet of LazyLLM code and what LazyLLM documents it returns.

    ``expected``: the documented result (a Python value, compared after :func:`normalize`); omitted when the
    case only compares the two sides. ``raises=True``: LazyLLM raises (its message and type are not compared:
    LazyLLM turns a stage's error into ``FlowException``, we keep the original). ``ours``: where we differ on
    purpose, what ours returns instead (a documented difference; LazyLLM must still return ``expected``).
    """

    name: str
    source: str
    expected: Any = _MISSING
    raises: bool = False
    ours: Any = _MISSING
    vars: dict[str, Any] = field(default_factory=dict)


_FROM_RE = re.compile(r"^(\s*)from\s+lazyllm((?:\.\w+)*)\s+import\s", re.MULTILINE)
_IMPORT_RE = re.compile(r"^(\s*)import\s+([^\n#]+)$", re.MULTILINE)
_NAME_RE = re.compile(r"lazyllm((?:\.\w+)*)(\s+as\s+\w+)?")


def swap_imports(source: str) -> str:
    """The snippet with its LazyLLM imports pointed at our package, nothing else changed.

    ``from lazyllm[.x] import ...`` becomes ``from lazystream_widget[.x] import ...``; in an ``import`` statement
    (also in a list such as ``import threading, lazyllm``) ``lazyllm[.x]`` becomes ``lazystream_widget[.x]``, still
    bound to the name ``lazyllm`` unless the snippet gives its own ``as``.
    """
    source = _FROM_RE.sub(lambda m: f"{m.group(1)}from lazystream_widget{m.group(2)} import ", source)

    def one_import(m: re.Match) -> str:
        names = []
        for item in (part.strip() for part in m.group(2).split(",")):
            found = _NAME_RE.fullmatch(item)
            if found is None:
                names.append(item)
            elif found.group(2):
                names.append(f"lazystream_widget{found.group(1)}{found.group(2)}")
            else:  # `import lazyllm.flow` binds the name lazyllm (and loads the submodule)
                names += [f"lazystream_widget{found.group(1)}", "lazystream_widget as lazyllm"]
        return f"{m.group(1)}import {', '.join(dict.fromkeys(names))}"

    return _IMPORT_RE.sub(one_import, source)


def _refuse_lazyllm(name: str, *args: Any, **kwargs: Any) -> Any:
    if name == "lazyllm" or name.startswith("lazyllm."):
        raise ImportError(f"the snippet imports {name!r} on our side: swap_imports missed an import line")
    return builtins.__import__(name, *args, **kwargs)


def _our_builtins() -> dict[str, Any]:
    """The snippets' builtins on our side: real LazyLLM can neither be imported nor reached through the names it
    adds to ``builtins`` when something else in the process imported it (``bind``, ``package``)."""
    kept = {k: v for k, v in vars(builtins).items()
            if not str(getattr(v, "__module__", "") or "").startswith("lazyllm")}
    return {**kept, "__import__": _refuse_lazyllm}


def lazyllm_python() -> str | None:
    """A python that imports lazyllm 1.4.0: this one, or the one named by ``$LAZYLLM_PYTHON``."""
    if importlib.util.find_spec("lazyllm") is not None:
        return sys.executable
    return os.environ.get(PYTHON_ENV) or None


def need_lazyllm() -> str:
    python = lazyllm_python()
    if python is None:
        reason = (f"lazyllm=={LAZYLLM_VERSION} is not importable here (pip install -e '.[lazyllm]', or set "
                  f"{PYTHON_ENV} to a python that has it)")
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI installs it: scripts/install-test-deps)", pytrace=False)
        pytest.skip(reason)
    return python


def run_lazyllm(cases: list[Case], home: Path, extra_vars: dict[str, Any] | None = None) -> dict[str, dict]:
    """Every case on real LazyLLM, in one subprocess; {name: {"result": ...} or {"error": ...}}."""
    python = need_lazyllm()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LAZYLLM_", "LAZYSTREAM_", "OPENAI_")) and k != "PYTHONPATH"}
    home.mkdir(parents=True, exist_ok=True)
    env.update(LAZYLLM_HOME=str(home / "home"), LAZYLLM_TEMP_DIR=str(home / "tmp"), PYTHONUNBUFFERED="1")
    payload = [{"name": c.name, "source": c.source, "vars": {**c.vars, **(extra_vars or {})}} for c in cases]
    proc = subprocess.run([python, str(RUNNER)], input=json.dumps(payload), capture_output=True, text=True,
                          env=env, cwd=str(home), timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the LazyLLM runner failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    results = json.loads(lines[-1][len(RESULT_PREFIX):])
    version = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('lazyllm'))"],
                             capture_output=True, text=True, env=env, timeout=60).stdout.strip()
    assert version == LAZYLLM_VERSION, f"the differential cases need lazyllm {LAZYLLM_VERSION}, found {version!r}"
    return results


def run_ours(case: Case, extra_vars: dict[str, Any] | None = None) -> dict[str, Any]:
    """The case on our package: the same source with its imports swapped, on a fresh thread."""
    variables = {**case.vars, **(extra_vars or {}), "__builtins__": _our_builtins()}
    return run_case(swap_imports(case.source), case.name, variables)


def check(case: Case, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    """LazyLLM did what it documents, and ours did the same (or the documented difference)."""
    if case.raises:
        assert "error" in theirs, f"{case.name}: LazyLLM was expected to raise, got {theirs}"
    elif case.expected is not _MISSING:
        want = {"result": normalize(case.expected)}
        assert theirs == want, f"{case.name}: LazyLLM 1.4.0 returned {theirs}, its documented result is {want}"
    if case.ours is not _MISSING:
        want = {"result": normalize(case.ours)}
        assert ours == want, f"{case.name}: ours returned {ours}, our documented difference says {want}"
        return
    if case.raises:
        assert "error" in ours, f"{case.name}: LazyLLM raised {theirs['error']}, ours returned {ours}"
        return
    assert ours == theirs, f"{case.name}: ours returned {ours}, LazyLLM 1.4.0 {theirs}"
