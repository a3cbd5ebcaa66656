"""Shared set-up of the reliability suite: a private queue home per test, and the figures it measured.

Everything the suite drives is the real thing: real files under a per-test ``LAZYSTREAM_HOME``, real child processes
(``python -c``), the real ``openai`` client against the scripted server over loopback HTTP. Nothing is mocked.

Figures: tests record what they measured with the ``figures`` fixture (``figures.add(name, runs=..., tokens=...,
lost=...)``); they are printed at the end of the run under "reliability figures" (and written as JSON to the file named
by ``LSW_RELIABILITY_FIGURES`` if set), and copied into ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lazystream_widget.runtime import session as session_mod

# The scripted-server fixtures, whether or not the package's pytest11 entry point is installed (tests/conftest.py
# registers the plugin only when it is not). Defining them here as well is harmless: a conftest fixture overrides a
# plugin fixture of the same name.
from lazystream_widget.testing.pytest_plugin import scripted_server, scripted_server_factory  # noqa: F401

from .helpers import FIGURES, Figures

# --------------------------------------------------------------------------- isolation


def _close_backend() -> None:
    backend = session_mod._backend
    if backend is None:
        return
    for sid in {key[0] for key in getattr(backend, "_files", {})} | set(getattr(backend, "_seq_fds", {})):
        try:
            backend.delete_session(sid)
        except OSError:
            pass


@pytest.fixture(autouse=True)
def queue_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private queue home per test, every LAZYSTREAM_* / OPENAI_* variable unset, a fresh backend around the test.

    Same contract as ``tests/conftest.py`` (which this overrides for the reliability tests, so the suite does not
    depend on it).
    """
    for name in list(os.environ):
        if name.startswith(("LAZYSTREAM_", "OPENAI_")):
            monkeypatch.delenv(name)
    home = tmp_path / "lazystream-home"
    monkeypatch.setenv("LAZYSTREAM_HOME", str(home))
    session_mod.set_backend(None)
    yield home
    _close_backend()
    session_mod.set_backend(None)


# --------------------------------------------------------------------------- figures


@pytest.fixture
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES.rows:
        return
    terminalreporter.section("reliability figures")
    for name, row in sorted(FIGURES.rows.items()):
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
        terminalreporter.write_line(f"{name}: {json.dumps(shown)}")
    out = os.environ.get("LSW_RELIABILITY_FIGURES")
    if out:
        Path(out).write_text(json.dumps(FIGURES.rows, indent=2, sort_keys=True))
