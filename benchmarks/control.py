"""Group ``control``: Stop and resync while a cell is busy (ours only: no notebook peer has them).

A real ipykernel (``lazystream_widget.testing.kernel.WidgetKernel``) runs a cell that asks a
``StreamView`` and then sleeps; this process plays the browser and sends the widget's requests on
the kernel's shell channel. Timed from the send to what the kernel publishes in reply:

* Stop: the run's final state (``cancelled``) in the ``runs`` trait, with its model stream closed;
* resync: the ``snapshot`` message.

The floor is the kernel's own round trip for a request the main shell answers (``kernel_info``
while idle), measured in the same run. The browser adds its own hop (tens of ms in JupyterLab 4.6:
see ``tests/browser/test_stop_while_busy.py``, which prints it).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

from .common import Figure, Settings, Target, cell_of, unavailable

#: 200 words at 0.05 s a token: far longer than one measurement.
_ANSWER = " ".join(f"word{i}" for i in range(200))


def _measure(settings: Settings, repeats: int) -> dict[str, list[float]]:
    from lazystream_widget.testing import Reply, ScriptedServer
    from lazystream_widget.testing.kernel import WidgetKernel, ids_line, parse_ids

    home = tempfile.mkdtemp(prefix="lsw-bench-control-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAZYSTREAM_", "OPENAI_", "JUPYTER_"))}
    env.update(LAZYSTREAM_HOME=os.path.join(home, "lazystream"), IPYTHONDIR=os.path.join(home, "ipython"),
               JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"))
    out: dict[str, list[float]] = {"stop": [], "resync": [], "floor": []}
    server = ScriptedServer(responder=lambda request: Reply(text=_ANSWER, delay=0.05)).start()
    try:
        with WidgetKernel(env) as k:
            k.run("import json, time\nfrom lazystream_widget import OnlineChatModule, StreamView")
            for _ in range(repeats):
                t0 = time.monotonic()
                k.kc.kernel_info()
                k.kc.get_shell_msg(timeout=30)
                out["floor"].append((time.monotonic() - t0) * 1000)
            for i in range(repeats):
                msg_id = k.execute(
                    f"view = StreamView(OnlineChatModule(base_url={server.base_url!r}, model='scripted', "
                    f"stream=True), display=False)\nrun = view.ask('q')\n{ids_line()}\ntime.sleep(60)")
                ids = parse_ids(k.wait_stdout(msg_id, "IDS "))
                comm, run_id = ids["comm"], ids["run"]
                k.wait(lambda: sum(m.get("type") == "delta" for m in k.customs(comm)) >= 3, 30, "deltas")  # noqa: B023
                sent = k.send_custom(comm, {"type": "resync", "runs": {}, "stale": [run_id]})
                snap = k.wait(lambda: next((m for m in k.customs(comm, sent)  # noqa: B023
                                            if m.get("type") == "snapshot"), None), 30, "the snapshot")
                out["resync"].append((snap["t"] - sent) * 1000)
                sent = k.send_custom(comm, {"type": "cancel", "run": run_id})

                def ended(comm=comm, run_id=run_id):
                    for t, runs in k.runs_updates(comm):
                        if any(r["id"] == run_id and r["status"] == "cancelled" for r in runs):
                            return t
                    return None

                out["stop"].append((k.wait(ended, 30, "the cancelled state") - sent) * 1000)
                k.km.interrupt_kernel()
                k.reply(msg_id, 30)
                settings.log(f"  stop while busy #{i + 1}: {out['stop'][-1]:.1f} ms; resync {out['resync'][-1]:.1f} ms")
    finally:
        server.stop()
    return out


def run(settings: Settings) -> list[Figure]:
    repeats = 1 if settings.quick else max(3, settings.repeats)
    try:
        res = _measure(settings, repeats)
        stop, resync, floor = cell_of(res["stop"]), cell_of(res["resync"]), cell_of(res["floor"])
        settings.extra["control_floor_ms"] = statistics.median(res["floor"])
    except Exception as exc:  # no ipykernel / jupyter_client: say so, never a number
        settings.log(f"  control figures not available: {type(exc).__name__}: {exc}")
        stop = resync = floor = unavailable(f"error: {type(exc).__name__}: {exc}"[:200])
    return [
        Figure("control", "stop_while_busy_ms", "Stop while a cell sleeps: request to cancelled state (kernel)", "ms",
               {"ours": stop}, Target("<= 1,000 ms", lambda f: f.med("ours") <= 1000)),
        Figure("control", "resync_while_busy_ms", "resync while a cell sleeps: request to snapshot (kernel)", "ms",
               {"ours": resync}, Target("report")),
        Figure("control", "kernel_round_trip_ms", "floor: kernel_info round trip, idle kernel", "ms",
               {"ours": floor}, Target("report")),
    ]
