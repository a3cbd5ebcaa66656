"""Group ``footprint``: import time (fresh processes) and installed size, ours vs LazyLLM vs openai.

* Import time: ``python -c "t=perf_counter(); import X; print(perf_counter()-t)"`` in a fresh
  process, one unmeasured run first (so bytecode caches exist), then the median of 5. The
  process's whole wall time is reported too, and bare ``python -c pass`` beside it.
* Installed size: the bytes of every file the distributions' RECORDs list, for the package and
  its dependency closure (``benchmarks/size_probe.py``), each measured in a fresh venv: ours in
  ``benchmarks/out/ours-venv`` (our wheel built from a copy of the tree, installed with its
  dependencies), LazyLLM's in its venv. ``--quick`` skips the venvs: it measures the current
  interpreter and counts our package from its source files.

Why fresh venvs: like for like. LazyLLM's venv holds LazyLLM, its dependencies and openai; ours
holds our package and its dependencies; the development interpreter also has every test tool
installed and runs site ``.pth`` hooks at start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import tomllib

from .common import (
    BENCH,
    LOGS,
    OUT,
    REPO,
    Cell,
    Figure,
    Settings,
    Target,
    cell_of,
    child_env,
    is_number,
    lazyllm_missing,
    unavailable,
)

OURS_VENV = OUT / "ours-venv"
OURS_SRC = OUT / "ours-src"
WHEELS = OUT / "wheels"

_IMPORT = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def _env(pythonpath: bool) -> dict[str, str]:
    env = child_env()
    if not pythonpath:
        env.pop("PYTHONPATH", None)
    return env


def import_times(python: str, module: str | None, repeats: int, pythonpath: bool) -> tuple[list[float], list[float]]:
    """(in-process import ms, whole process wall ms) per fresh process; ``module=None``: ``-c pass``."""
    code = "pass" if module is None else _IMPORT.format(mod=module)
    env = _env(pythonpath)
    inner, wall = [], []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                              cwd=str(OUT))
        t1 = time.perf_counter()
        if proc.returncode != 0:
            raise RuntimeError((proc.stderr.strip().splitlines() or ["?"])[-1][:200])
        if i == 0:
            continue  # unmeasured: writes bytecode caches, warms the page cache
        wall.append((t1 - t0) * 1000)
        if module is not None:
            inner.append(float(proc.stdout.strip().splitlines()[-1]) * 1000)
    return inner, wall


# --------------------------------------------------------------------------- our venv


def _copy_tree() -> Path:
    """A copy of the tree to build our wheel from, so the build writes nothing into the work tree."""
    if OURS_SRC.exists():
        shutil.rmtree(OURS_SRC)
    ignore = shutil.ignore_patterns(
        ".git", "node_modules", "out", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
        "*.egg-info", "dist", "build", ".benchmarks", ".ipynb_checkpoints",
    )
    shutil.copytree(REPO, OURS_SRC, ignore=ignore, symlinks=True)
    for nm in REPO.rglob("node_modules"):
        if "node_modules" in nm.relative_to(REPO).parts[:-1] or "out" in nm.relative_to(REPO).parts:
            continue
        target = OURS_SRC / nm.relative_to(REPO)
        if target.parent.exists() and not target.exists():
            target.symlink_to(nm, target_is_directory=True)
    return OURS_SRC


def ensure_ours_venv(log) -> tuple[str | None, str]:
    """Build our wheel from a copy of the tree and install it with its dependencies into ours-venv.

    Returns (python, note); python is None when even the dependencies could not be installed.
    The note says how our package got there (or why the wheel did not build).
    """
    LOGS.mkdir(parents=True, exist_ok=True)
    logf_path = LOGS / "ours-venv-install.log"
    py = OURS_VENV / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with open(logf_path, "w", encoding="utf-8") as logf:

        def run(cmd: list[str], timeout: float = 1800, cwd: Path | None = None) -> None:
            logf.write(f"$ {' '.join(cmd)}\n")
            logf.flush()
            subprocess.run(cmd, check=True, stdout=logf, stderr=logf, timeout=timeout, env=env,
                           cwd=str(cwd) if cwd else None)

        try:
            if not py.exists():
                log("creating benchmarks/out/ours-venv (python -m venv)")
                run([sys.executable, "-m", "venv", str(OURS_VENV)], timeout=300)
        except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired) as exc:
            return None, f"could not create ours-venv: {exc}"
        pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        wheel_note = ""
        try:
            log("building our wheel from a copy of the tree (pip wheel; the JS bundle needs npm)")
            src = _copy_tree()
            if WHEELS.exists():
                shutil.rmtree(WHEELS)
            run([str(py), "-m", "pip", "wheel", "--disable-pip-version-check", "-q", "--no-deps", "-w",
                 str(WHEELS), str(src)], timeout=1200)
            wheel = next(WHEELS.glob("lazystream_widget-*.whl"))
            log("installing it with its dependencies into ours-venv")
            run([*pip, "--force-reinstall", "--no-deps", str(wheel)])
            run([*pip, str(wheel)])
        except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired, StopIteration) as exc:
            reason = _last_error(logf_path) or str(exc)
            wheel_note = f"our wheel did not build ({reason[:120]}); our package counted from its source files"
            log(f"  {wheel_note}")
            deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
            try:
                subprocess.run([str(py), "-m", "pip", "uninstall", "-y", "-q", "lazystream-widget"],
                               capture_output=True, env=env, timeout=300)
                run([*pip, *deps])
            except (subprocess.CalledProcessError, OSError, subprocess.TimeoutExpired):
                return None, f"could not install our dependencies into ours-venv: {_last_error(logf_path)}"
    return str(py), wheel_note


def _last_error(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errs = [ln for ln in lines if "error" in ln.lower()]
    return (errs or lines or [""])[-1][:200]


# --------------------------------------------------------------------------- sizes


def probe_sizes(python: str, roots: list[str]) -> dict:
    proc = subprocess.run([python, str(BENCH / "size_probe.py"), *roots], capture_output=True, text=True,
                          timeout=300, env=_env(False))
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError((proc.stderr.strip().splitlines() or ["size probe failed"])[-1][:200])


def source_size(pkg_dir: Path) -> int:
    return sum(p.stat().st_size for p in pkg_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def ours_size(python: str) -> tuple[int, dict[str, int], str]:
    """Bytes of our package + its dependency closure in ``python``'s environment."""
    probe = probe_sizes(python, ["lazystream-widget"])
    root = probe["roots"]["lazystream-widget"]
    if root["installed"] and root["dists"].get("lazystream-widget", 0) > 50_000:
        return root["total"], root["dists"], ""
    # not installed (or only an editable stub): our dependencies + our source files
    deps = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = [d.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].split("!")[0].strip()
             for d in deps]
    probe = probe_sizes(python, names)
    dists: dict[str, int] = {}
    for r in probe["roots"].values():
        dists.update(r["dists"])
    dists["lazystream-widget (source files)"] = source_size(REPO / "lazystream_widget")
    return sum(dists.values()), dists, "package counted from its source files"


# --------------------------------------------------------------------------- the group


def run(settings: Settings) -> list[Figure]:
    log = settings.log
    reps = 2 if settings.quick else 5  # quick: 3 processes per interpreter and module instead of 6
    ours_py, ours_note, pythonpath = sys.executable, "dev interpreter", True
    if not settings.quick:
        py, note = ensure_ours_venv(log)
        if py is not None:
            ours_py, pythonpath = py, bool(note)  # wheel missing: import our package from the tree
            ours_note = "fresh venv" + ("; package from the source tree" if note else "")
        settings.extra["ours_venv_note"] = note
    figs: list[Figure] = []

    def measure(python: str, module: str | None, pp: bool) -> tuple[Cell, Cell]:
        try:
            inner, wall = import_times(python, module, reps, pp)
            return cell_of(inner), cell_of(wall)
        except Exception as exc:
            return unavailable(f"error: {exc}"), unavailable(f"error: {exc}")

    log(f"  import times ({ours_note})")
    ours_in, ours_wall = measure(ours_py, "lazystream_widget", pythonpath)
    oai_in, oai_wall = measure(ours_py, "openai", pythonpath)
    bare_ours = measure(ours_py, None, pythonpath)[1]
    if settings.lazyllm:
        lz_in, lz_wall = measure(settings.lazyllm_python, "lazyllm", False)
        bare_lz = measure(settings.lazyllm_python, None, False)[1]
    else:
        lz_in = lz_wall = bare_lz = lazyllm_missing(settings)

    def import_ok(f: Figure) -> bool | None:
        ours, lz = f.med("ours"), f.med("lazyllm")
        if not is_number(ours):
            return None
        if not is_number(lz):
            return None if ours <= 50 else False
        return ours <= 50 and ours <= lz / 10

    figs.append(Figure("footprint", "import_time", "import in a fresh process: lazystream_widget / lazyllm / "
                       "(peer) openai", "ms", {"ours": ours_in, "lazyllm": lz_in, "floor": oai_in},
                       Target("<= 50 ms and <= 1/10 of import lazyllm", import_ok),
                       note=f"ours measured in the {ours_note}"))
    figs.append(Figure("footprint", "import_wall", "whole process `python -c 'import X'`", "ms",
                       {"ours": ours_wall, "lazyllm": lz_wall, "floor": oai_wall}, Target("report")))
    figs.append(Figure("footprint", "bare_python", "bare `python -c pass` (same interpreters)", "ms",
                       {"ours": bare_ours, "lazyllm": bare_lz}, Target("report")))

    # sizes
    log("  installed sizes")
    try:
        total, dists, note = ours_size(ours_py)
        ours_size_cell = Cell([total / 1e6], note)
        settings.extra["ours_size_dists"] = dists
    except Exception as exc:
        ours_size_cell = unavailable(f"error: {exc}")
    try:
        probe = probe_sizes(ours_py, ["openai"])
        oai_size = Cell([probe["roots"]["openai"]["total"] / 1e6])
        settings.extra["openai_size_dists"] = probe["roots"]["openai"]["dists"]
    except Exception as exc:
        oai_size = unavailable(f"error: {exc}")
    if settings.lazyllm:
        try:
            probe = probe_sizes(settings.lazyllm_python, ["lazyllm"])
            lz_size = Cell([probe["roots"]["lazyllm"]["total"] / 1e6])
            settings.extra["lazyllm_size_dists"] = probe["roots"]["lazyllm"]["dists"]
        except Exception as exc:
            lz_size = unavailable(f"error: {exc}")
    else:
        lz_size = lazyllm_missing(settings)
    figs.append(Figure("footprint", "installed_size", "installed size, package + its dependencies", "MB",
                       {"ours": ours_size_cell, "lazyllm": lz_size, "floor": oai_size}, Target("report"),
                       note="one measurement (not timed): sum of RECORD files of the dependency closure"))
    return figs
