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
from pathlib import Path
from typing import Any

import pytest

from .helpers import FIGURES, Figures

# Isolation (a private queue home per test, LAZYSTREAM_*/OPENAI_* unset, a fresh backend) and the scripted-server
# fixtures come from tests/conftest.py, which applies here too.


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
