"""Notebook 07 (recorded runs) as CI and a reader meet it (QA 1 findings 7 and 12).

CI runs it with strict nbval in replay mode (as docs/cassettes.md tells readers to), so its
saved outputs must not depend on the mode; and each cell that asks shows the view it streams
into, so "Ask, and watch" is watched in that cell, not two cells above.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07-recorded-runs.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_each_cell_that_asks_shows_the_view_it_streams_into() -> None:
    cells = [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]
    asks = [c for c in cells if ".ask(" in c.source]
    assert len(asks) == 3
    for cell in asks:
        shown = [o for o in cell.outputs if o.output_type == "display_data" and WIDGET_VIEW in o.get("data", {})]
        assert len(shown) == 1, f"this cell asks but shows no view of its own:\n{cell.source}"


def test_strict_nbval_in_replay_mode_as_the_docs_and_ci_run_it() -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "LAZYSTREAM_")) or k == "LAZYSTREAM_HOME"}
    env["LAZYSTREAM_CASSETTE_MODE"] = "replay"  # nothing may reach the network, whatever the notebook says
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-cell-timeout=120",
         "--nbval-sanitize-with", "notebooks/sanitize.cfg", "-p", "no:cacheprovider", "-q", "--color=no",
         "notebooks/07-recorded-runs.ipynb"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert " passed" in out and "failed" not in out, out[-3000:]
