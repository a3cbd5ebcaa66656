"""A real Jupyter kernel for the kernel-side figures: ipykernel started by jupyter_client, iopub drained.

What the Jupyter server does, minus the browser: the kernel runs our code in a cell (so
widget messages carry the cell's parent header and travel on iopub like in a notebook),
and a thread here reads every iopub message as it arrives, stamping when it came. So the
comm figures count the messages that Jupyter's ``iopub_msg_rate_limit`` would count, and
CPU and memory are the kernel process's own (``/proc/<pid>``), the model server being
another process.

    with Kernel() as k:
        out = k.run("print(1 + 1)")          # stdout of the cell; raises KernelError on an error
        k.cpu_seconds(), k.rss_kib(), k.peak_rss_kib()
        k.messages                           # [IopubMessage], in arrival order
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .common import REPO, child_env

_TICKS = os.sysconf("SC_CLK_TCK")


class KernelError(RuntimeError):
    """The cell raised in the kernel (its traceback is the message)."""


@dataclass
class IopubMessage:
    at: float  # time.monotonic() when it arrived here
    wall_ns: int  # time.time_ns() when it arrived (to compare with the model server's stamps)
    msg_type: str
    parent_id: str
    comm_id: str = ""
    method: str = ""  # comm_msg: "custom" (a widget's send) or "update" (a trait change)
    content: dict[str, Any] = field(default_factory=dict)
    nbytes: int = 0  # JSON size of the content


class Kernel:
    def __init__(self, keep_content: bool = True, extra_env: dict[str, str] | None = None) -> None:
        self.keep_content = keep_content
        self.extra_env = extra_env or {}
        self.messages: list[IopubMessage] = []
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self.km: Any = None
        self.kc: Any = None

    def __enter__(self) -> Kernel:
        from jupyter_client import KernelManager

        self._ipc = tempfile.mkdtemp(prefix="bench-kernel-")
        # IPC sockets in a private directory: no TCP port, no "running over TCP without encryption" warning
        self.km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(self._ipc, "k"))
        env = child_env(self.extra_env)
        self.km.start_kernel(env=env, cwd=str(REPO))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        self._reader = threading.Thread(target=self._read_iopub, name="bench-iopub", daemon=True)
        self._reader.start()
        self.run(f"import sys; sys.path.insert(0, {str(REPO)!r})")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)
            shutil.rmtree(self._ipc, ignore_errors=True)

    @property
    def pid(self) -> int:
        return self.km.provisioner.process.pid

    def _read_iopub(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            except Exception:  # channels closing
                if self._stop.is_set():
                    return
                continue
            at, wall = time.monotonic(), time.time_ns()
            content = msg.get("content", {})
            m = IopubMessage(at, wall, msg.get("msg_type", ""), msg.get("parent_header", {}).get("msg_id", ""))
            if m.msg_type == "comm_msg":
                m.comm_id = content.get("comm_id", "")
                data = content.get("data", {})
                m.method = data.get("method", "")
                m.nbytes = len(json.dumps(data, ensure_ascii=False))
            if self.keep_content or m.msg_type in ("stream", "error", "execute_result", "status"):
                m.content = content
            self.messages.append(m)

    def run(self, code: str, timeout: float = 600) -> str:
        """Execute ``code`` as a cell; return its stdout. Raises :class:`KernelError` if the cell raised."""
        msg_id = self.kc.execute(code, store_history=False)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the cell did not finish within {timeout:.0f} s: {code[:200]!r}")
            try:
                reply = self.kc.get_shell_msg(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        # the reply can overtake the last iopub messages of the cell: wait for its idle status
        while time.monotonic() < deadline and not any(
            m.parent_id == msg_id and m.msg_type == "status" and m.content.get("execution_state") == "idle"
            for m in self.messages[-50:]
        ):
            time.sleep(0.01)
        out = "".join(m.content.get("text", "") for m in list(self.messages)
                      if m.parent_id == msg_id and m.msg_type == "stream" and m.content.get("name") == "stdout")
        if reply["content"].get("status") != "ok":
            err = reply["content"]
            trace = "\n".join(err.get("traceback", []))[-3000:]
            raise KernelError(f"{err.get('ename')}: {err.get('evalue')}\n{trace}")
        return out

    def result(self, code: str, timeout: float = 600) -> Any:
        """Run ``code``, which prints one ``RESULT <json>`` line; return the parsed object."""
        out = self.run(code, timeout)
        for line in reversed(out.splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        raise KernelError(f"the cell printed no RESULT line; its output ended: {out[-500:]!r}")

    # ---- the kernel process ---------------------------------------------------------

    def cpu_seconds(self) -> float:
        """User + system CPU time of the kernel process (all its threads) so far."""
        with open(f"/proc/{self.pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)

    def _status(self, key: str) -> int:
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def rss_kib(self) -> int:
        return self._status("VmRSS")

    def peak_rss_kib(self) -> int:
        return self._status("VmHWM")

    def reset_peak_rss(self) -> bool:
        """Reset the kernel's peak RSS to its current RSS (Linux >= 4.0; False where not allowed)."""
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
            return True
        except OSError:
            return False


def max_rate(times: list[float], window: float = 3.0) -> float:
    """The highest number of events per second over any ``window``-second span (Jupyter's limiter's view)."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best / window
