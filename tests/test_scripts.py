"""scripts/test's flags for machines without root, and the pytest options behind them.

Without a flag, a missing chromium or redis-server stops ``scripts/test`` at once with a message naming the flag
that skips its suite; the pytest options ``--no-browser`` / ``--no-redis`` report those tests as skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "test"


def _run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    bash = shutil.which("bash") or "/bin/bash"  # an absolute path: some tests run it with a bare PATH
    return subprocess.run([bash, str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env=env or dict(os.environ), cwd=REPO)


def test_help_names_both_flags() -> None:
    proc = _run_script("--help")
    assert proc.returncode == 0 and "--no-browser" in proc.stdout and "--no-redis" in proc.stdout


def test_an_unknown_option_is_refused() -> None:
    proc = _run_script("--no-brwoser")
    assert proc.returncode == 2 and "unknown option --no-brwoser" in proc.stderr


def test_a_missing_chromium_fails_at_once_naming_the_flag() -> None:
    proc = _run_script(env={**os.environ, "LSW_CHROMIUM": "/nonexistent/chromium"})
    assert proc.returncode == 1
    assert "chromium is not installed at /nonexistent/chromium" in proc.stderr
    assert "bash scripts/test --no-browser" in proc.stderr
    assert "==== ruff" not in proc.stdout  # it stopped before running anything


def test_a_missing_redis_server_fails_at_once_naming_the_flag(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # a PATH with what the script needs before its checks, and no redis-server
    bin_dir.mkdir()
    for tool in ("dirname", "env", "grep"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    env = {**os.environ, "PATH": str(bin_dir), "LSW_CHROMIUM": sys.executable}
    proc = _run_script(env=env)
    assert proc.returncode == 1, proc.stderr
    assert "redis-server is not installed" in proc.stderr and "bash scripts/test --no-redis" in proc.stderr


def test_pytest_options_skip_and_report_and_a_missing_service_fails(tmp_path: Path) -> None:
    # the repo's conftest hooks, loaded under another name (a conftest cannot import "conftest")
    (tmp_path / "conftest.py").write_text(
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
        f"spec = importlib.util.spec_from_file_location('lsw_root_conftest', {str(REPO / 'tests' / 'conftest.py')!r})\n"
        "root = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(root)\n"
        "pytest_addoption = root.pytest_addoption\n"
        "pytest_configure = root.pytest_configure\n"
        "pytest_collection_modifyitems = root.pytest_collection_modifyitems\n"
        "pytest_runtest_setup = root.pytest_runtest_setup\n")
    (tmp_path / "test_marked.py").write_text(
        "import pytest\n"
        "@pytest.mark.browser\ndef test_b(): pass\n"
        "@pytest.mark.redis\ndef test_r(): pass\n"
        "def test_plain(): pass\n")
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", str(tmp_path)]
    env = {**os.environ, "LSW_CHROMIUM": "/nonexistent/chromium"}
    skipped = subprocess.run([*base, "--no-browser", "--no-redis"], capture_output=True, text=True, timeout=120,
                             env=env, cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 passed, 2 skipped" in skipped.stdout and "--no-browser given" in skipped.stdout
    failing = subprocess.run(base, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert failing.returncode == 1
    assert "chromium is missing: no chromium at /nonexistent/chromium" in failing.stdout
    assert "skip these tests with --no-browser" in failing.stdout


INSTALL = REPO / "scripts" / "install-test-deps"


def test_install_test_deps_without_apt_never_reaches_apt(tmp_path: Path) -> None:
    """``--no-apt`` (the README's recipe without root) goes straight to the JS and Python installs: with no
    chromium, no redis-server and no npm on PATH it stops at npm, never at (or naming) apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "id"):  # what the script needs before npm
        (bin_dir / tool).symlink_to(shutil.which(tool))
    bash = shutil.which("bash") or "/bin/bash"
    proc = subprocess.run([bash, str(INSTALL), "--no-apt"], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path)}, cwd=tmp_path)
    assert proc.returncode != 0 and "npm" in proc.stderr, proc.stderr
    assert "apt" not in proc.stderr and "missing:" not in proc.stderr, proc.stderr
    usage = subprocess.run([bash, str(INSTALL), "--help"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 0 and "--no-apt" in usage.stdout
    wrong = subprocess.run([bash, str(INSTALL), "--no-aptt"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "unknown option --no-aptt" in wrong.stderr
