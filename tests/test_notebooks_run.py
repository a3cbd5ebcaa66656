"""Every notebook in notebooks/ runs top to bottom on a fresh kernel with no model configured.

A fast sanity check next to strict nbval (which also compares outputs): here a cell only
has to finish without an error. Also checks the rules that make nbval meaningful for
widget cells: outputs are committed, and every ``ask`` waits in its own cell and is
followed by a cell that prints.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
EXPECTED = ["01-quick-start", "02-anatomy-of-a-stream", "03-bring-your-own-model", "04-testing-with-notebooks",
            "05-integrations", "06-flows", "07-recorded-runs", "08-remote-runs"]


def clean_model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint, key or launch command reaches the kernel: the notebooks must fall back on their own."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "LAZYSTREAM_")) and name != "LAZYSTREAM_HOME":
            monkeypatch.delenv(name)


def _code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def test_the_notebooks_are_there() -> None:
    assert [p.stem for p in PATHS] == EXPECTED


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_is_committed_with_outputs_and_checked_asks(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    cells = _code_cells(nb)
    unrun = [i for i, c in enumerate(cells) if c.execution_count is None]
    assert not unrun, f"{path.name}: code cells {unrun} have no stored outputs; execute the notebook (README)"
    assert not any(o.output_type == "error" for c in cells for o in c.outputs), f"{path.name}: stored error output"
    # StreamView.attach (a run elsewhere) is held to the same rule as ask
    asks = [i for i, c in enumerate(cells) if ".ask(" in c.source or ".attach(" in c.source]
    assert asks, f"{path.name}: no StreamView.ask or StreamView.attach"
    for i in asks:
        source = cells[i].source
        assert "wait=True" in source or ".wait(" in source, (
            f"{path.name}: the ask in code cell {i} must wait in its own cell (wait=True or run.wait()), "
            "so the run's final state is saved and its failure fails the cell"
        )
        assert i + 1 < len(cells) and "print(" in cells[i + 1].source, (
            f"{path.name}: the ask in code cell {i} must be followed by a cell that prints the result, "
            "so nbval compares the answer"
        )


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_notebook_runs_without_errors(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_model_env(monkeypatch)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,  # collect every error below instead of stopping at the first
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    errors = [
        f"code cell {i}: {o.ename}: {o.evalue}"
        for i, cell in enumerate(_code_cells(nb))
        for o in cell.outputs
        if o.output_type == "error"
    ]
    assert not errors, f"{path.name} raised:\n" + "\n".join(errors)
