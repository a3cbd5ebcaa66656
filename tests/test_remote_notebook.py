"""A producer in another process, a watcher in a notebook: executed by nbclient on a real kernel, on both backends.

The notebook attaches to a worker process's session (``StreamView.attach``); the saved notebook must hold the
attached run's final state in its widget state (what a reader of the saved notebook sees) and print its answer.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from remote_agents import agent_source

pytestmark = pytest.mark.backends("file", "redis")

AGENT = agent_source(n=40, word="t", delay=0.01, span="remote agent", result="remote done")


def test_a_notebook_watches_a_worker_process_and_saves_the_final_state(tmp_path: Path, queue_backend: str) -> None:
    (tmp_path / "nb_agent.py").write_text(AGENT)
    cells = [
        new_code_cell(textwrap.dedent("""
            import subprocess, sys, os
            import lazystream_widget as lsw
            worker = subprocess.Popen([sys.executable, "-m", "lazystream_widget.worker", "nb_agent:agent", "hi"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      env=dict(os.environ, PYTHONPATH=os.getcwd()))
            session_id = worker.stderr.readline().split()[1]
        """)),
        new_code_cell("view = lsw.StreamView.attach(session_id)\nresult = view.last_run.wait(60)"),
        new_code_cell("print(result, view.last_run.status, len(view.last_run.text.split()))\n"
                      "print(type(lsw.current_session().backend).__name__)\nassert worker.wait(60) == 0"),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    # the kernel inherits this test's environment: LAZYSTREAM_HOME, and LAZYSTREAM_QUEUE under redis
    assert ("LAZYSTREAM_QUEUE" in os.environ) == (queue_backend == "redis")
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    backend = "RedisBackend" if queue_backend == "redis" else "FileBackend"
    assert printed == f"remote done done 40\n{backend}\n"
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    runs = [run for model in states.values() for run in model["state"].get("runs", [])]
    assert len(runs) == 1, json.dumps(runs)[:500]
    run = runs[0]
    assert run["status"] == "done" and run["query"] == "hi" and run["result"] == "remote done"
    assert run["text"] == "".join(f"t{i} " for i in range(40))
    assert [e["name"] for e in run["entries"] if isinstance(e, dict)] == ["remote agent", "remote agent"]
    nbformat.validate(nb)
