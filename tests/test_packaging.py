"""Packaging a user can trust: ``python -m build`` makes a wheel and an sdist that ``twine check`` accepts; the
wheel carries the built front end and installs into a fresh venv (no Node.js, no source tree) where the demo
runs; a wheel builds from the sdist without Node.js.

The distributions are built once per session, without build isolation (offline, a few seconds: hatchling and
hatch-jupyter-builder come with the ``[dev]`` extra). Installing into the fresh venv fetches the package's
dependencies from the package index (about a minute the first time on a 2-core machine, less from pip's cache).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import lazystream_widget

REPO = Path(__file__).resolve().parents[1]
VERSION = lazystream_widget.__version__
STATIC = ("lazystream_widget/static/widget.js", "lazystream_widget/static/widget.css")


def _run(cmd: list[str], *, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _no_node_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """An environment whose PATH holds only ``bin_dir``: no node, no npm, no other Python."""
    return {"PATH": str(bin_dir), "HOME": os.environ.get("HOME", str(home)), "LAZYSTREAM_HOME": str(home / "queues"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LANG": "C.UTF-8"}


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import importlib.util

    if importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None:
        pytest.fail('the packaging tests need the [dev] extra: pip install -e ".[dev]"', pytrace=False)
    if not (REPO / STATIC[0]).exists():
        pytest.fail("the front end is not built: npm ci && npm run build", pytrace=False)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)])
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_twine_check_passes(dist: dict[str, Path]) -> None:
    proc = _run([sys.executable, "-m", "twine", "check", "--strict", str(dist["wheel"]), str(dist["sdist"])])
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_the_wheel_carries_the_front_end_license_and_metadata(dist: dict[str, Path]) -> None:
    assert dist["wheel"].name == f"lazystream_widget-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
        for path in STATIC:
            assert path in names and whl.getinfo(path).file_size > 1000, path
        info = f"lazystream_widget-{VERSION}.dist-info"
        assert f"{info}/licenses/LICENSE" in names
        meta = whl.read(f"{info}/METADATA").decode()
    assert f"Version: {VERSION}" in meta and "License-Expression: MIT" in meta
    # no Project-URL: the package has no public repository, docs host or PyPI page to point at yet
    assert "Project-URL: " not in meta and "Requires-Python: >=3.10" in meta
    for extra in ("console", "marimo", "docs", "test"):
        assert f"Provides-Extra: {extra}" in meta, extra
    assert "# lazystream-widget" in meta  # the README is the long description
    assert not any(n.startswith(("tests/", "js/", "node_modules/")) for n in names)


def test_the_sdist_holds_sources_front_end_and_docs_but_no_node_modules(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for path in (*STATIC, "LICENSE", "CHANGELOG.md", "README.md", "package.json", "package-lock.json",
                 "js/widget.js", "pyproject.toml", "mkdocs.yml"):
        assert path in names, path
    assert not any(n.startswith("node_modules/") for n in names)


def test_a_wheel_builds_from_the_sdist_without_node(dist: dict[str, Path], tmp_path: Path) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        sdist.extractall(tmp_path, filter="data")
    src = tmp_path / f"lazystream_widget-{VERSION}"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python"  # this Python (it has build and hatchling), and nothing else on PATH
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    _run([str(bin_dir / "python"), "-m", "build", "--no-isolation", "--wheel", "--outdir", str(tmp_path / "out"),
          str(src)], env=_no_node_env(bin_dir, tmp_path))
    (wheel,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(wheel) as whl:
        assert set(STATIC) <= set(whl.namelist())


def test_the_wheel_installs_in_a_fresh_venv_and_the_demo_runs(dist: dict[str, Path], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    env = _no_node_env(venv / "bin", tmp_path)
    py = str(venv / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", str(dist["wheel"])], env=env, timeout=900)
    where = _run([py, "-c", "import lazystream_widget, sys; print(lazystream_widget.__file__); print(sys.prefix)"],
                 env=env, cwd=tmp_path).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == str(venv)  # the installed copy, not this checkout
    demo = _run([py, "-m", "lazystream_widget.demo", "--token-delay", "0"], env=env, cwd=tmp_path, timeout=120)
    lines = demo.stdout.splitlines()
    assert "The current weather in Tokyo is 10 degrees Celsius" in demo.stdout
    assert lines[-1].startswith("done · "), demo.stdout
    # the widget finds its bundle inside the installed package (a missing one would warn)
    probe = ("import warnings; warnings.simplefilter('error')\n"
             "from lazystream_widget import StreamView\n"
             "v = StreamView(lambda q: q, display=False)\n"
             "print(len(v._esm) if isinstance(v._esm, str) else v._esm.stat().st_size)")
    size = int(_run([py, "-c", probe], env=env, cwd=tmp_path).stdout.strip())
    assert size > 100_000


def test_a_build_with_unreleased_changes_never_carries_a_released_version() -> None:
    """CHANGELOG.md's "## X.Y.Z" headings are releases; while "## Unreleased" lists changes, the package's
    version must be none of them (a wheel built today said 0.1.0, the older release's number)."""
    import re

    text = (REPO / "CHANGELOG.md").read_text()
    released = re.findall(r"^## (\d+\.\d+\.\d+)\b", text, flags=re.M)
    unreleased = text.split("## Unreleased", 1)[1].split("\n## ", 1)[0] if "## Unreleased" in text else ""
    assert released, "CHANGELOG.md lists no release"
    if re.search(r"^- ", unreleased, flags=re.M):
        assert VERSION not in released, f"__version__ {VERSION} is a released version, but Unreleased has changes"
        newest = tuple(int(x) for x in released[0].split("."))
        assert tuple(int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", VERSION).groups()) > newest, VERSION
