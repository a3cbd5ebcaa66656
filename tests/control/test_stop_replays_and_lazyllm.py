"""Stop while the cell waits (``view.ask(q, wait=True)``) for a cassette replay and for a real LazyLLM module
(QA 1 finding 4): the Stop reaches the busy kernel on its subshell, the run ends cancelled at once, and the
cell raises RunCancelled. A real ipykernel; the test process plays the browser (as test_stop_and_resync.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lazystream_widget.testing import Reply, ScriptedServer
from lazystream_widget.testing.kernel import WidgetKernel

from .kernel_env import isolated_kernel_env

pytest.importorskip("ipykernel")
pytest.importorskip("jupyter_client")

WORDS = " ".join(f"word{i}" for i in range(120))
#: Generous bound for "at once" on a loaded 2-core machine (the replay alone has about 15 s left).
STOP_BOUND_S = 5.0


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WidgetKernel]:
    home = tmp_path_factory.mktemp("stop-kernel")
    env = isolated_kernel_env(home, drop=("LAZYSTREAM_", "LAZYLLM_", "OPENAI_", "JUPYTER_"),
                              LAZYLLM_HOME=str(home / "lazyllm"), LAZYLLM_OPENAI_API_KEY="sk-stop-test-0123456789")
    with WidgetKernel(env) as k:
        k.run("import json\nimport lazystream_widget as lsw")
        yield k


@pytest.fixture
def model() -> Iterator[ScriptedServer]:
    server = ScriptedServer(responder=lambda request: Reply(text=WORDS, delay=0.03)).start()
    try:
        yield server
    finally:
        server.stop()


def _stop_the_waiting_run(kernel: WidgetKernel, cell: str) -> dict:
    """Run ``cell`` (it makes ``view`` and ends in ``view.ask(..., wait=True)``), Stop its run once it streams."""
    indent = cell.split("ASK")[0].rsplit("\n", 1)[-1]
    ask = ('print("IDS " + json.dumps({"comm": view.comm.comm_id, "route": view.control_route}), flush=True)\n'
           f"{indent}view.ask('question', wait=True)")
    msg_id = kernel.execute(cell.replace("ASK", ask))
    ids = json.loads(kernel.wait_stdout(msg_id, "IDS ", 60))
    assert ids["route"] == "subshell"
    comm = ids["comm"]
    run_id = kernel.wait(lambda: next((m["run"]["id"] for m in kernel.customs(comm) if m.get("type") == "run_start"),
                                      None), 60, "the run to start")
    kernel.wait(lambda: len("".join(m.get("text", "") for m in kernel.customs(comm)
                                    if m.get("type") == "delta").split()) >= 5, 60, "5 words to stream")
    assert kernel.busy(msg_id), "the cell waits for the run"
    sent = kernel.send_custom(comm, {"type": "cancel", "run": run_id})

    def cancelled():
        for t, runs in kernel.runs_updates(comm):
            for r in runs:
                if r["id"] == run_id and r["status"] == "cancelled":
                    return t, r
        return None

    ended_at, final = kernel.wait(cancelled, STOP_BOUND_S, "the run to end cancelled")
    reply = kernel.reply(msg_id, 30)["content"]
    assert reply["status"] == "error" and reply["ename"] == "RunCancelled", reply
    assert final["text"] and WORDS.startswith(final["text"].strip()) and len(final["text"]) < len(WORDS), final
    return {"took": ended_at - sent, "final": final}


def test_stop_ends_a_replay_at_a_quarter_speed_that_the_cell_waits_for(kernel, model, tmp_path: Path) -> None:
    import lazystream_widget as lsw
    from lazystream_widget.runner import Run

    path = tmp_path / "long.json"
    with lsw.cassette(path, "record"):  # about 4 s of answer, recorded here; replayed in the kernel at 0.25x
        recorded = Run(lsw.OnlineChatModule(base_url=model.base_url, model="scripted", stream=True), "question")
        assert recorded.start().wait(60) == WORDS
    cell = (f"view = lsw.StreamView(lsw.OnlineChatModule(base_url={model.base_url!r}, model='scripted', "
            f"stream=True))\nwith lsw.cassette({str(path)!r}, 'replay', 0.25):\n    ASK")
    out = _stop_the_waiting_run(kernel, cell)  # the ask (and its ids line) inside the block
    assert out["took"] < STOP_BOUND_S
    assert any(n.startswith("Replaying recorded model traffic") for n in out["final"].get("notices", [])), out


def test_stop_ends_a_lazyllm_run_that_the_cell_waits_for(kernel, model) -> None:
    pytest.importorskip("lazyllm")
    cell = ("import lazyllm\n"
            f"llm = lazyllm.OnlineChatModule(source='openai', model='scripted', base_url={model.base_url + '/'!r}, "
            "stream=True)\nview = lsw.StreamView(llm)\nASK")
    out = _stop_the_waiting_run(kernel, cell)
    assert out["took"] < STOP_BOUND_S
