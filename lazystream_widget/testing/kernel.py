"""A real ipykernel driven over the Jupyter protocol, standing in for a browser's widget manager.

For tests and benchmarks of what a widget does in a kernel without a browser: :class:`WidgetKernel`
starts ``ipykernel`` through ``jupyter_client``, runs cells without waiting, sends widget custom messages
on the shell channel (with no subshell in the header, as a frontend that knows nothing of subshells does)
and collects everything the kernel publishes, stamped with its arrival time.

    with WidgetKernel(env) as k:
        msg_id = k.execute("view = StreamView(agent); run = view.ask('hi'); time.sleep(30)")
        ...
        k.send_custom(comm_id, {"type": "cancel", "run": run_id})

Needs ``jupyter_client`` and ``ipykernel`` (the notebook extras); imported only when used.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any


class WidgetKernel:
    """``with WidgetKernel(env) as k:``; ``k.execute(code)`` returns the request's msg_id at once.

    The kernel is the ``python3`` kernelspec, whose stock ``python`` command jupyter_client runs with this
    process's ``sys.executable``, so the kernel imports the same packages as the caller.
    """

    def __init__(self, env: dict[str, str]) -> None:
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.messages: list[dict[str, Any]] = []  # every IOPub message, with "t": time.monotonic() on arrival
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_iopub, daemon=True, name="iopub-reader")
        self._reader.start()

    def __enter__(self) -> WidgetKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._reader.join(5)
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def _read_iopub(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            msg["t"] = time.monotonic()
            with self._lock:
                self.messages.append(msg)
                self._lock.notify_all()

    # -- running code -----------------------------------------------------------------

    def execute(self, code: str) -> str:
        # stop_on_error=False: a cell that raises (e.g. RunCancelled) must not make the kernel abort the
        # requests that follow it, as a notebook's "run all" would want
        return self.kc.execute(code, store_history=False, stop_on_error=False)

    def run(self, code: str, timeout: float = 60) -> str:
        """Run ``code`` to the end; returns its stdout; fails on an error."""
        msg_id = self.execute(code)
        reply = self.reply(msg_id, timeout)
        self.wait(lambda: not self.busy(msg_id), timeout, "the cell's idle status")  # outputs come before it
        out = self.stdout(msg_id)
        if reply["content"]["status"] != "ok":
            raise AssertionError(f"cell failed: {reply['content'].get('ename')}: {reply['content'].get('evalue')}"
                                 f"\n{out}")
        return out

    def reply(self, msg_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no execute_reply for {msg_id} within {timeout} s")
            try:
                msg = self.kc.get_shell_msg(timeout=remaining)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def stdout(self, msg_id: str) -> str:
        with self._lock:
            return "".join(m["content"].get("text", "") for m in self.messages
                           if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id)

    def busy(self, msg_id: str) -> bool:
        """Whether the cell ``msg_id`` is still running (no idle status for it yet)."""
        with self._lock:
            return not any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                           and m["parent_header"].get("msg_id") == msg_id for m in self.messages)

    def wait_stdout(self, msg_id: str, marker: str, timeout: float = 60) -> str:
        """Wait until the cell printed a line starting with ``marker``; returns the rest of that line."""
        def found() -> str | None:
            for line in self.stdout(msg_id).splitlines():
                if line.startswith(marker):
                    return line[len(marker):].strip()
            return None
        return self.wait(found, timeout, f"the cell to print {marker!r}")

    def wait(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
                self._lock.wait(min(remaining, 0.1))

    # -- the widget's comm --------------------------------------------------------------

    def send_custom(self, comm_id: str, content: dict[str, Any]) -> float:
        """Send an anywidget custom message to ``comm_id`` (as ``model.send`` does); returns the send time.

        The time is taken *before* the send: the kernel may answer within milliseconds, and on a busy
        machine the IOPub reader thread can stamp the answer before this thread runs again, so a time
        taken after the send could be later than the answer's (and ``customs(comm, since)`` would miss it).
        """
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}})
        sent = time.monotonic()
        self.kc.shell_channel.send(msg)
        return sent

    def customs(self, comm_id: str, since: float = 0.0) -> list[dict[str, Any]]:
        """The custom messages the kernel sent on ``comm_id`` (content, with "t" and "mseq" where numbered)."""
        out = []
        with self._lock:
            for m in self.messages:
                c = m["content"]
                if m["msg_type"] == "comm_msg" and c.get("comm_id") == comm_id and m["t"] >= since:
                    data = c.get("data") or {}
                    if data.get("method") == "custom":
                        out.append({**data["content"], "t": m["t"]})
        return out

    def runs_updates(self, comm_id: str) -> list[tuple[float, list[dict[str, Any]]]]:
        """Each ``runs`` trait update the kernel published on ``comm_id``: (arrival time, runs)."""
        out = []
        with self._lock:
            for m in self.messages:
                c = m["content"]
                data = c.get("data") or {}
                if (m["msg_type"] == "comm_msg" and c.get("comm_id") == comm_id and data.get("method") == "update"
                        and "runs" in (data.get("state") or {})):
                    out.append((m["t"], data["state"]["runs"]))
        return out


def ids_line(view: str = "view", run: str = "run") -> str:
    """Cell code printing ``IDS {"comm": ..., "run": ..., "route": ...}`` for the test to read."""
    return (f'print("IDS " + json.dumps({{"comm": {view}.comm.comm_id, "run": {run}.id, '
            f'"route": {view}.control_route}}), flush=True)')


def parse_ids(text: str) -> dict[str, str]:
    return json.loads(text)
