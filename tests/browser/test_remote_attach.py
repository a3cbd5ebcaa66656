"""A run in a worker process, watched from JupyterLab 4 in chromium through Redis (``StreamView.attach``).

The test starts a redis-server; the notebook's own code starts a worker process (``python -m
lazystream_widget.worker``) and attaches to its session. The attached view's answer must grow live in the page
while the worker streams, end as the worker's full answer with status done and its span in the tree, and a second
view attached after the worker exited must replay the same run.
"""

from __future__ import annotations

import textwrap
import time

import pytest
from remote_agents import agent_source, answer_of

from .jupyter import NotebookPage, normalize_ws, tree, wait_for, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.redis]

AGENT = agent_source(n=60, word="word", delay=0.05, span="remote agent", result="worker done")
ANSWER = answer_of(60, "word")


def test_a_worker_process_streams_live_into_an_attached_view_and_replays_late(lab, open_page, redis_factory) -> None:
    server = redis_factory()
    (lab.root / "browser_remote_agent.py").write_text(AGENT)
    name = "remote_attach.ipynb"
    write_notebook(lab.root / name, [
        textwrap.dedent(f"""
            import os, subprocess, sys
            import lazystream_widget as lsw
            lsw.configure(queue={server.url!r})
            env = dict(os.environ, LAZYSTREAM_QUEUE={server.url!r}, PYTHONPATH=os.getcwd())
            worker = subprocess.Popen([sys.executable, "-m", "lazystream_widget.worker", "browser_remote_agent:agent",
                                       "count to sixty"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True)
            session_id = worker.stderr.readline().split()[1]
            view = lsw.StreamView.attach(session_id)
        """),
        'assert worker.wait(60) == 0\nreplay = lsw.StreamView.attach(session_id)\nreplay.last_run.wait(30)\n'
        'print("replayed", replay.last_run.status, replay.last_run.text == view.last_run.text)',
    ])  # fmt: skip
    bp = open_page()
    nbp = NotebookPage(bp.page, lab, name).open()
    nbp.run_cell(0)
    wait_for(lambda: nbp.runs() or nbp.error_outputs(), 60, "the attached view to show its run")
    assert not nbp.error_outputs(), nbp.error_outputs()
    partial: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = nbp.runs()
        if runs and runs[0]["answer"] and runs[0]["status"] == "running":
            partial.add(normalize_ws(runs[0]["answer"]))
        if runs and runs[0]["status"] == "done":
            break
        time.sleep(0.05)
    final = nbp.runs()[0]
    assert final["status"] == "done", final
    assert normalize_ws(final["answer"]) == normalize_ws(ANSWER)
    partial.discard(normalize_ws(ANSWER))
    assert len(partial) >= 3, f"the answer did not stream live in the page: {sorted(partial, key=len)}"
    assert all(normalize_ws(ANSWER).startswith(p) for p in partial)
    assert [n["name"] for n in tree(bp.page, final["id"])] == ["remote agent"]

    nbp.run_cell(1)
    nbp.wait_cells_done()
    assert not nbp.error_outputs(), nbp.error_outputs()
    assert "replayed done True" in nbp.cell_text(1)
    runs = nbp.runs()
    assert len(runs) == 2 and runs[1]["status"] == "done"
    assert normalize_ws(runs[1]["answer"]) == normalize_ws(ANSWER)
