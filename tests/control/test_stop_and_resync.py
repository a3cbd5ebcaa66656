"""Stop and resync reach a busy kernel: a real ipykernel, its real shell channel and subshells.

The test process plays the browser's widget manager (``lazystream_widget.testing.kernel``): it sends the widget's custom
messages on the shell channel with no subshell in the header, as a frontend that knows nothing of subshells
would, while the kernel's only cell is blocked. The scripted model server runs here, so the test sees the
kernel-side run close its HTTP stream. The same paths in JupyterLab and Notebook 7 are in
``tests/browser/test_stop_while_busy.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from lazystream_widget.control import is_control_request
from lazystream_widget.resync import ResyncRequest
from lazystream_widget.testing import Reply, ScriptedServer
from lazystream_widget.testing.kernel import WidgetKernel, ids_line, parse_ids

from .kernel_env import isolated_kernel_env

pytest.importorskip("ipykernel")
pytest.importorskip("jupyter_client")

#: 200 words at 0.05 s a token: about 20 s of answer, far longer than any test waits.
LONG = " ".join(f"word{i}" for i in range(200))
#: Generous bound for "within about a second" on a loaded 2-core machine; benchmarks give the precise figure.
STOP_BOUND_S = 5.0


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WidgetKernel]:
    home = tmp_path_factory.mktemp("control-kernel")
    with WidgetKernel(isolated_kernel_env(home)) as k:
        k.run("import json, time\nfrom lazystream_widget import OnlineChatModule, StreamView")
        yield k


@pytest.fixture
def model() -> Iterator[ScriptedServer]:
    server = ScriptedServer(responder=lambda request: Reply(text=LONG, delay=0.05)).start()
    try:
        yield server
    finally:
        server.stop()


def _start(kernel: WidgetKernel, model: ScriptedServer, then: str) -> tuple[str, dict[str, str]]:
    """Run a cell that makes a view, asks, prints the ids, then does ``then`` (which blocks)."""
    msg_id = kernel.execute(
        f"view = StreamView(OnlineChatModule(base_url={model.base_url!r}, model='scripted', stream=True))\n"
        f"run = view.ask('question')\n{ids_line()}\n{then}"
    )
    ids = parse_ids(kernel.wait_stdout(msg_id, "IDS "))
    return msg_id, ids


def _streamed(kernel: WidgetKernel, comm: str) -> str:
    return "".join(m.get("text", "") for m in kernel.customs(comm) if m.get("type") == "delta")


def _wait_text(kernel: WidgetKernel, comm: str, words: int = 5) -> None:
    kernel.wait(lambda: len(_streamed(kernel, comm).split()) >= words, 30, f"{words} words to stream")


def _final_state(kernel: WidgetKernel, comm: str, run_id: str, status: str, timeout: float) -> tuple[float, dict]:
    def found():
        for t, runs in kernel.runs_updates(comm):
            for r in runs:
                if r["id"] == run_id and r["status"] == status:
                    return t, r
        return None
    return kernel.wait(found, timeout, f"run {run_id} to be {status} in the runs trait")


def test_the_kernel_gives_views_a_subshell_route(kernel: WidgetKernel) -> None:
    out = kernel.run(
        "v1 = StreamView(lambda q: q, display=False); v2 = StreamView(lambda q: q, display=False)\n"
        "from ipykernel.kernelbase import Kernel\n"
        "print('ROUTE', v1.control_route, v2.control_route, len(Kernel.instance().shell_channel_thread._manager"
        ".list_subshell()))"
    )
    route1, route2, subshells = out.split("ROUTE ", 1)[1].split()
    assert (route1, route2) == ("subshell", "subshell"), out
    assert subshells == "1", f"every view shares one subshell per kernel: {out}"


@pytest.mark.parametrize("blocking", ["sleep", "ask_wait", "run_wait"])
def test_stop_reaches_a_busy_cell(kernel: WidgetKernel, model: ScriptedServer, blocking: str) -> None:
    """A Stop sent while the cell blocks (time.sleep after ask, ask(wait=True), run.wait()) is handled at once
    on the kernel's subshell: the run ends cancelled with its partial answer and its HTTP stream closed,
    while the cell is still busy (sleep) or raises RunCancelled (the waits)."""
    then = {
        "sleep": "time.sleep(30)",
        "ask_wait": "view.ask('second', wait=True)",
        "run_wait": "run.wait()",
    }[blocking]
    msg_id, ids = _start(kernel, model, then)
    assert ids["route"] == "subshell"
    if blocking == "ask_wait":  # Stop the run the cell waits for: the second one
        run_id = kernel.wait(lambda: next((m["run"]["id"] for m in kernel.customs(ids["comm"])
                                          if m.get("type") == "run_start" and m["run"]["id"] != ids["run"]), None),
                             30, "the second run to start")
    else:
        run_id = ids["run"]
    _wait_text(kernel, ids["comm"])
    assert kernel.busy(msg_id)

    sent = kernel.send_custom(ids["comm"], {"type": "cancel", "run": run_id})
    reply = kernel.wait(lambda: next((m for m in kernel.customs(ids["comm"], sent)
                                      if m.get("type") == "control_reply"), None), STOP_BOUND_S, "the Stop reply")
    ended_at, final = _final_state(kernel, ids["comm"], run_id, "cancelled", STOP_BOUND_S)
    took = ended_at - sent
    assert reply["ok"] is True and reply["run"] == run_id, reply
    assert "MainThread" not in reply["thread"], f"handled on the busy main thread: {reply}"
    assert took < STOP_BOUND_S, f"the run ended {took:.2f} s after Stop"
    assert model.wait_for("disconnect", 1 if blocking != "ask_wait" else 1, timeout=5), "the HTTP stream stayed open"
    assert final["text"] and LONG.startswith(final["text"]) and len(final["text"]) < len(LONG), final["text"][:200]

    if blocking == "sleep":
        assert kernel.busy(msg_id), "the cell is still sleeping: the Stop did not wait for it"
        kernel.km.interrupt_kernel()
        reply_msg = kernel.reply(msg_id, 30)
        assert reply_msg["content"].get("ename") == "KeyboardInterrupt"
    else:
        reply_msg = kernel.reply(msg_id, 30)
        assert reply_msg["content"]["status"] == "error"
        assert reply_msg["content"]["ename"] == "RunCancelled", reply_msg["content"]
    out = kernel.run(f"r = next(r for r in view.history if r.id == {run_id!r})\n"
                     "print('STATE', json.dumps({'status': r.status, 'text': r.text}))")
    state = json.loads(out.split("STATE ", 1)[1])
    assert state == {"status": "cancelled", "text": final["text"]}
    print(f"[control] Stop during {blocking}: reply {reply['t'] - sent:.3f} s, cancelled {took:.3f} s after the send")


def test_interrupt_cancels_the_waited_on_run(kernel: WidgetKernel, model: ScriptedServer) -> None:
    msg_id, ids = _start(kernel, model, "run.wait()")
    _wait_text(kernel, ids["comm"])
    kernel.km.interrupt_kernel()
    reply = kernel.reply(msg_id, 30)
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    _final_state(kernel, ids["comm"], ids["run"], "cancelled", STOP_BOUND_S)
    assert model.wait_for("disconnect", timeout=5)


def test_resync_catches_up_while_the_cell_is_busy(kernel: WidgetKernel, model: ScriptedServer) -> None:
    """Lost delta messages leave a gap in ``mseq``; a resync request answered on the subshell gives exactly what
    was sent so far, and the deltas after it continue it with no overlap and no hole."""
    msg_id, ids = _start(kernel, model, "view._lose_next_deltas(3)\ntime.sleep(30)")
    comm = ids["comm"]

    def numbered() -> list[dict]:
        return [m for m in kernel.customs(comm) if m.get("type") in ("run_start", "delta")]

    def lost() -> set[int]:
        seqs = {m["mseq"] for m in numbered()}
        return set(range(1, max(seqs, default=0))) - seqs

    kernel.wait(lambda: len(lost()) == 3 and len(_streamed(kernel, comm).split()) >= 5, 30, "three lost deltas")
    deltas = numbered()

    sent = kernel.send_custom(comm, {"type": "resync", "runs": {ids["run"]: "running"}, "stale": [ids["run"]]})
    snap = kernel.wait(lambda: next((m for m in kernel.customs(comm, sent) if m.get("type") == "snapshot"), None),
                       STOP_BOUND_S, "the snapshot")
    assert kernel.busy(msg_id)
    [state] = snap["runs"]
    assert state["id"] == ids["run"] and state["status"] == "running"
    received = "".join(m.get("text", "") for m in deltas)
    assert len(state["text"]) > len(received) - 1 and LONG.startswith(state["text"]), "the snapshot has a hole"

    # what the browser shows from now on: the snapshot, then every delta numbered after it
    kernel.send_custom(comm, {"type": "cancel", "run": ids["run"]})
    _, final = _final_state(kernel, comm, ids["run"], "cancelled", STOP_BOUND_S)
    after = "".join(m.get("text", "") for m in kernel.customs(comm)
                    if m.get("type") == "delta" and m["mseq"] > snap["mseq"])
    assert state["text"] + after == final["text"], "the snapshot and the deltas after it overlap or leave a hole"
    kernel.km.interrupt_kernel()
    kernel.reply(msg_id, 30)
    print(f"[control] resync reply {snap['t'] - sent:.3f} s after the request, {len(state['text'])} chars")


def test_without_the_subshell_stop_waits_for_the_cell(kernel: WidgetKernel, model: ScriptedServer) -> None:
    """``configure(control_route="shell")`` (the escape hatch) keeps ipykernel's own routing: a Stop sent while
    the cell sleeps is handled only once the cell ends, on the main thread."""
    kernel.run("import lazystream_widget; lazystream_widget.configure(control_route='shell')")
    try:
        msg_id, ids = _start(kernel, model, "time.sleep(3)")
        assert ids["route"] == "shell"
        _wait_text(kernel, ids["comm"])
        sent = kernel.send_custom(ids["comm"], {"type": "cancel", "run": ids["run"]})
        reply = kernel.wait(lambda: next((m for m in kernel.customs(ids["comm"], sent)
                                          if m.get("type") == "control_reply"), None), 30, "the Stop reply")
        assert not kernel.busy(msg_id), "the reply came while the cell was still busy"
        assert reply["thread"] == "MainThread" and reply["ok"] is True, reply
        _final_state(kernel, ids["comm"], ids["run"], "cancelled", STOP_BOUND_S)
    finally:
        kernel.run("lazystream_widget.configure(control_route=None)")


def test_only_our_control_requests_take_the_subshell() -> None:
    assert is_control_request({"method": "custom", "content": {"type": "cancel", "run": "x"}})
    assert is_control_request({"method": "custom", "content": {"type": "resync"}})
    assert not is_control_request({"method": "custom", "content": {"type": "other"}})
    assert not is_control_request({"method": "update", "state": {"title": "x"}})
    assert not is_control_request(None)


def test_a_malformed_resync_request_asks_for_everything() -> None:
    request = ResyncRequest.parse({"type": "resync", "runs": ["not", "a", "map"], "stale": "x"})
    assert request.runs == {} and request.stale == set()
    request = ResyncRequest.parse({"runs": {"a": "running", "b": 3}, "stale": ["a", 4]})
    assert request.runs == {"a": "running"} and request.stale == {"a"}


def test_a_view_outside_a_kernel_has_no_route() -> None:
    from lazystream_widget import StreamView

    assert StreamView(lambda q: q, display=False).control_route == "none"
    time.sleep(0)  # nothing to wait for: no kernel, no subshell
