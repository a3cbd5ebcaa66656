"""A notebook whose run fails fails strict nbval, with the run's error message in the report.

``view.ask(q, wait=True)`` raises the run's exception in the cell, so nbval sees a cell
error. The model errors here are scripted HTTP errors that end the run: a 400 (never
retried) and a 500 that stays a 500 through our two retries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

MESSAGE_400 = "scripted refusal: this request is not allowed"
MESSAGE_500 = "scripted outage: the model is down"

CELLS = [
    f"""
from lazystream_widget import OnlineChatModule, StreamView
from lazystream_widget.testing import HTTPError, ScriptedServer

server = ScriptedServer([HTTPError(400, {MESSAGE_400!r})] + [HTTPError(500, {MESSAGE_500!r})] * 3).start()
llm = OnlineChatModule(stream=True, base_url=server.base_url, model="scripted")
view = StreamView(llm)
""",
    'run = view.ask("hello", wait=True)',
    'run = view.ask("hello again", wait=True)',
    "server.stop()",
]


def model_free_env() -> dict[str, str]:
    """This environment without model endpoints, keys or launch commands (the queue home stays)."""
    model_vars = ("OPENAI_", "LAZYSTREAM_")
    return {k: v for k, v in os.environ.items() if not k.startswith(model_vars) or k == "LAZYSTREAM_HOME"}


def test_a_failing_run_fails_strict_nbval_with_its_message(tmp_path: Path) -> None:
    nb = new_notebook(cells=[new_code_cell(source.strip()) for source in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "failing.ipynb"
    nbformat.write(nb, path)
    env = model_free_env()

    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-cell-timeout=60",
         "-p", "no:cacheprovider", "-q", "--color=no", path.name],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr

    assert proc.returncode == 1, out[-4000:]
    assert "2 failed, 2 passed" in out, out[-4000:]
    assert "failing.ipynb::Cell 1" in out and "failing.ipynb::Cell 2" in out
    assert "ModelError" in out
    assert f"failed with HTTP 400: BadRequestError: Error code: 400 - {MESSAGE_400}" in out
    assert f"failed with HTTP 500 after 3 attempts: InternalServerError: Error code: 500 - {MESSAGE_500}" in out
