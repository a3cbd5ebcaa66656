"""LazyLLM 1.4.0 in a virtual environment of its own, never a dependency of our package.

``ensure()`` creates ``benchmarks/out/lazyllm-venv`` (``python -m venv`` + ``pip install
lazyllm==1.4.0 openai``) unless it is already there and imports, and returns its python, or
``None`` and a one-line reason the table prints in LazyLLM's cells.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .common import LOGS, OUT, child_env

VERSION = "1.4.0"
PACKAGES = [f"lazyllm=={VERSION}", "openai"]
VENV = OUT / "lazyllm-venv"

_CHECK = (
    "import importlib.metadata as m, sys\n"
    "import lazyllm, lazyllm.tools, openai\n"
    "v = m.version('lazyllm')\n"
    "sys.exit(0 if v == sys.argv[1] else f'lazyllm {v} installed, not ' + sys.argv[1])\n"
)


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _check(python: Path) -> str | None:
    """None when LazyLLM imports at the right version, else why not."""
    try:
        proc = subprocess.run(
            [str(python), "-c", _CHECK, VERSION], capture_output=True, text=True, timeout=180, env=child_env()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if proc.returncode == 0:
        return None
    lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else f"import check exited {proc.returncode}"


def ensure(log: Callable[[str], None] = print, install: bool = True,
           python: str | None = None) -> tuple[str | None, str]:
    """Return (python of the LazyLLM venv, "") or (None, reason). ``python``: use that interpreter instead."""
    if python:
        reason = _check(Path(python))
        return (python, "") if reason is None else (None, f"{python}: {reason}")
    py = venv_python(VENV)
    if py.exists() and _check(py) is None:
        return str(py), ""
    if not install:
        return None, "its venv is missing and --no-install was given"
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / "lazyllm-venv-install.log"
    with open(log_path, "w", encoding="utf-8") as logf:
        try:
            if not py.exists():
                log(f"creating {VENV.relative_to(OUT.parent.parent)} (python -m venv)")
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, stdout=logf, stderr=logf,
                               timeout=300)
            log(f"installing {' '.join(PACKAGES)} into it (pip; log: {log_path.name})")
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            subprocess.run(
                [str(py), "-m", "pip", "install", "--disable-pip-version-check", *PACKAGES],
                check=True, stdout=logf, stderr=logf, timeout=1800, env=env,
            )
        except subprocess.CalledProcessError as exc:
            tail = _tail(log_path)
            return None, f"pip install failed (exit {exc.returncode}): {tail}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"could not create its venv: {exc}"
    reason = _check(py)
    if reason is not None:
        return None, f"installed but cannot be imported: {reason}"
    return str(py), ""


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or [""])[-1][:200]
