"""Browser requests that must reach the kernel while a cell is busy: Stop and resync.

The problem: a Jupyter kernel reads browser messages on its *shell* channel, one
at a time, on the main thread. While a cell blocks there (``view.ask(q,
wait=True)``, ``run.wait()``, ``time.sleep(30)``, a long computation), a widget
message waits behind it, so a Stop button would do nothing until the cell ends.

The route: ipykernel >= 7 has *subshells* (JEP 91): extra shell threads, each with
its own event loop, fed by a shell-channel thread that routes every incoming
message. The kernel decides which thread handles a comm message:

* ipykernel >= 7.4 routes a comm's messages to the subshell that last *sent* on
  that comm (``comm._reply_subshell_for``); our runner sends from the cell's
  context (the main shell), so Stop would land on the busy main shell. We give
  the kernel one subshell of our own (created once per kernel) and route our
  control messages (Stop, resync) of every view's comm to it, whatever the
  frontend put in the message header. Route ``"subshell"``: works while any cell
  is busy, in every frontend that talks to the kernel (JupyterLab, Notebook 7,
  VS Code, ...).
* ipykernel 7.0-7.3 routes by the ``subshell_id`` the frontend puts in the
  message header. JupyterLab 4.6 sends widget messages to a subshell by default
  (Settings > Kernels > "Kernel Comms over subshells"); other frontends may not.
  Route ``"frontend"``: works while busy where the frontend uses subshells.
* A kernel without subshells (ipykernel < 7, another kernel): route ``"shell"``,
  requests wait for the running cell. The front end says so on the Stop button
  when no reply comes instead of silently doing nothing.

Everything a request does runs on the subshell thread: ``run.cancel()`` is
thread-safe, and a resync reply goes through the view's numbered send path
(see :mod:`lazystream_widget.resync`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Literal

from .limits import CONTROL_SUBSHELL_START_TIMEOUT_S
from .protocol import MSG_CANCEL, MSG_RESYNC

if TYPE_CHECKING:
    from .widget import StreamView

log = logging.getLogger(__name__)

ControlRoute = Literal["subshell", "frontend", "shell", "none"]
#: Browser -> kernel message types that take the control route (anything else keeps the default route).
CONTROL_TYPES = frozenset({MSG_CANCEL, MSG_RESYNC})

_subshells: dict[int, str] = {}  # id(kernel) -> the subshell we made in it
_subshells_lock = threading.Lock()


def is_control_request(data: Any) -> bool:
    """Whether a comm message's ``data`` is one of our control requests (an anywidget custom message)."""
    if not isinstance(data, dict) or data.get("method") != "custom":
        return False
    content = data.get("content")
    return isinstance(content, dict) and content.get("type") in CONTROL_TYPES


def _current_kernel() -> Any:
    try:
        from ipykernel.kernelbase import Kernel
    except ImportError:
        return None
    return Kernel.instance() if Kernel.initialized() else None


def _subshell_manager(kernel: Any) -> Any:
    """ipykernel's SubshellManager, or None where the kernel has no subshells."""
    if not getattr(kernel, "_supports_kernel_subshells", False):
        return None
    thread = getattr(kernel, "shell_channel_thread", None)
    manager = getattr(thread, "_manager", None)  # set at kernel start; the `manager` property asserts its thread
    if manager is None or not hasattr(manager, "_create_subshell") or not hasattr(manager, "list_subshell"):
        return None
    return manager


def control_subshell(kernel: Any, timeout: float = CONTROL_SUBSHELL_START_TIMEOUT_S) -> str | None:
    """The id of our subshell in ``kernel``, created on first use; None if the kernel cannot make one.

    Subshells are created on the kernel's shell-channel thread (ipykernel asserts it), so the
    creation is posted to that thread's event loop; it answers even while a cell is busy.
    """
    manager = _subshell_manager(kernel)
    if manager is None:
        return None
    with _subshells_lock:
        known = _subshells.get(id(kernel))
        if known is not None and known in manager.list_subshell():
            return known
        box: dict[str, Any] = {}
        done = threading.Event()

        def create() -> None:
            try:
                box["id"] = manager._create_subshell()
            except BaseException as exc:  # reported below, in the asking thread
                box["error"] = exc
            finally:
                done.set()

        kernel.shell_channel_thread.io_loop.add_callback(create)
        if not done.wait(timeout):
            log.warning("lazystream-widget: the kernel did not create a subshell within %s s", timeout)
            return None
        if "error" in box:
            log.warning("lazystream-widget: the kernel could not create a subshell: %r", box["error"])
            return None
        _subshells[id(kernel)] = box["id"]
        return box["id"]


def install_route(comm: Any) -> ControlRoute:
    """Route the control requests arriving on ``comm`` to a kernel subshell where the kernel allows it
    (and the ``control_route`` setting is ``"auto"``, its default).

    Never raises on a kernel or comm we do not know: they keep the default route.
    """
    kernel = getattr(comm, "kernel", None) or _current_kernel()
    if kernel is None:
        return "none"
    if _subshell_manager(kernel) is None:
        return "shell"
    default_route = getattr(comm, "_reply_subshell_for", None)
    if default_route is None:
        return "frontend"  # ipykernel 7.0-7.3: the header's subshell_id decides
    from . import settings

    if settings.get("control_route") == "shell":  # the user's escape hatch: no subshell of ours
        return "shell"
    try:
        subshell = control_subshell(kernel)
    except Exception:  # an ipykernel we do not know: keep its routing
        log.warning("lazystream-widget: no control subshell", exc_info=True)
        subshell = None
    if subshell is None:
        return "shell"
    manager = _subshell_manager(kernel)

    def route(data: Any, default: Any) -> Any:
        # Runs on ipykernel's shell-channel thread for every comm message of this widget: it must be
        # quick and must never raise (ipykernel would drop the message).
        try:
            if is_control_request(data) and subshell in manager.list_subshell():
                return subshell
        except Exception:
            pass
        return default_route(data, default)

    comm._reply_subshell_for = route
    return "subshell"


def handle_request(view: StreamView, content: Any) -> bool:
    """Act on one browser -> kernel custom message; False if it is not a control request.

    Runs on whichever thread the kernel chose (our subshell while a cell is busy).
    """
    if not isinstance(content, dict):
        return False
    kind = content.get("type")
    if kind == MSG_CANCEL:
        run_id = content.get("run")
        run = next((r for r in view.history if r.id == run_id), None)
        stopped = run.cancel("stopped from the widget") if run is not None else False
        view.send_control_reply({
            "type": "control_reply", "request": MSG_CANCEL, "run": run_id if isinstance(run_id, str) else "",
            "ok": bool(stopped), "status": run.status if run is not None else "unknown",
            "thread": threading.current_thread().name,
        })  # fmt: skip
        return True
    if kind == MSG_RESYNC:
        from .resync import ResyncRequest

        view.send_snapshot(ResyncRequest.parse(content))
        return True
    return False
