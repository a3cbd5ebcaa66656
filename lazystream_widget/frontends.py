"""What differs between the notebook frontends a ``StreamView`` lives in: Jupyter, marimo.

**Showing a view.** In Jupyter a view displays itself through IPython. marimo has no IPython
display: a view shows itself with ``mo.output.append`` (so it streams while its cell is still
running, e.g. with ``ask(wait=True)``), and also when it is a cell's last expression or wrapped
in ``mo.ui.anywidget(view)``.

**Catching up in marimo.** marimo (checked in 0.25.2) creates a widget's front-end model when the
kernel opens it, but runs the widget's ``initialize()``, where the view listens for messages, only
when the first view of it mounts in the page: after the cell's output arrives and the widget's
JavaScript has loaded. Custom messages that arrive before that find no listener and are dropped
(nothing is buffered), while synced trait values are kept in the model. So the first deltas of a
run (its first tokens and the starts of its spans) are lost whenever the run starts before the
view mounted: "parent missing" spans and a "live updates were missed" notice until the run ends.

:class:`CatchUp` closes that window from the kernel side: in marimo, after live messages were
sent, the view writes what they carried (each running run's state as sent) into its ``runs``
trait, which the front end reads when it starts and applies like any trait update. Refreshes are
0.25 s, then 0.5, 1 and 2 s apart (at most :data:`~lazystream_widget.limits.MARIMO_CATCH_UP_MAX_INTERVAL_S`),
only while something new was sent, and stop for good once the browser has sent the kernel a
message (it is listening). A view mounted late shows the whole run within that interval.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from .limits import MARIMO_CATCH_UP_FIRST_S, MARIMO_CATCH_UP_MAX_INTERVAL_S

if TYPE_CHECKING:
    from .protocol import RunState
    from .runner import Run


def in_marimo() -> bool:
    """True inside a running marimo notebook (marimo is never imported here if the user did not import it)."""
    if "marimo" not in sys.modules:
        return False
    try:
        import marimo

        return bool(marimo.running_in_notebook())
    except Exception:  # an old or broken marimo: behave as outside it
        return False


def show(widget: Any) -> None:
    """Show ``widget`` as the current cell's output: ``mo.output.append`` in marimo, IPython's display in Jupyter;
    nothing elsewhere (a script, a terminal)."""
    if in_marimo():
        import marimo

        marimo.output.append(widget)
        return
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import display

        display(widget)


@dataclass
class Sent:
    """How much of one run the live messages have carried."""

    text: int = 0  # characters of run.text
    thinking: int = 0
    entries: int = 0


class CatchUp:
    """Refreshes a view's ``runs`` trait with what its live messages carried (see the module docstring).

    ``record(msg)`` is called for every live message, under the view's send lock; ``refresh`` (given by the
    view) takes that lock itself and writes :meth:`states_as_sent` into the trait.
    """

    def __init__(self, refresh: Callable[[], None]) -> None:
        self._refresh = refresh
        self._sent: dict[str, Sent] = {}
        self._interval = MARIMO_CATCH_UP_FIRST_S
        self._timer: threading.Timer | None = None
        self._stopped = False
        self._lock = threading.Lock()

    def record(self, msg: dict[str, Any]) -> None:
        """Note what a live message carried, and make sure a refresh follows it."""
        if msg.get("type") == "run_start":
            self._sent[msg["run"]["id"]] = Sent()
        elif msg.get("type") == "delta":
            sent = self._sent.setdefault(msg["run"], Sent())
            sent.text += len(msg.get("text", ""))
            sent.thinking += len(msg.get("thinking", ""))
            sent.entries += len(msg.get("entries", ()))
        with self._lock:
            if self._stopped or self._timer is not None:
                return
            self._timer = threading.Timer(self._interval, self._fire)
            self._timer.daemon = True
            self._timer.start()
            self._interval = min(self._interval * 2, MARIMO_CATCH_UP_MAX_INTERVAL_S)

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            if self._stopped:
                return
        self._refresh()

    def browser_is_listening(self) -> None:
        """The browser sent a message: its view has started and receives live messages; no more refreshes."""
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def state_as_sent(self, run: Run) -> RunState:
        """``run.state()`` cut to what the live messages carried (a run that ended is whole)."""
        state = run.state()
        if state["status"] != "running":
            return state
        sent = self._sent.get(run.id, Sent())
        state["text"] = state["text"][: sent.text]
        state["thinking"] = state["thinking"][: sent.thinking]
        state["entries"] = state["entries"][: sent.entries]
        return state
