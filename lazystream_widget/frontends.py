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
from typing import Any, Callable

from .limits import MARIMO_CATCH_UP_FIRST_S, MARIMO_CATCH_UP_MAX_INTERVAL_S


def in_marimo() -> bool:
    """True inside a running marimo notebook (marimo is never imported here if the user did not import it)."""
    if "marimo" not in sys.modules:
        return False
    try:
        import marimo

        return bool(marimo.running_in_notebook())
    except Exception:  # an old or broken marimo: behave as outside it
        return False


class NotANotebookWarning(UserWarning):
    """A view was made where nothing can show it (a script, a terminal): the console view is the one to use."""


def show(widget: Any) -> None:
    """Show ``widget`` as the current cell's output: ``mo.output.append`` in marimo, IPython's display in Jupyter;
    elsewhere (a script, a terminal) nothing can show it: warn once, naming ``StreamConsole``."""
    if in_marimo():
        import marimo

        marimo.output.append(widget)
        return
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None  # no IPython: certainly not a notebook
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import display

        display(widget)
        return
    import warnings

    warnings.warn(  # stacklevel 3: the user's StreamView(...) line (show <- StreamView.__init__ <- the caller)
        f"{type(widget).__name__} shows itself only in a notebook (JupyterLab, Notebook 7, marimo); here nothing "
        "will be displayed. In a script or a terminal use lazystream_widget.StreamConsole(module): it prints the "
        "answer as it streams and the trace as a tree (display=False silences this).",
        NotANotebookWarning, stacklevel=3)


class CatchUp:
    """When to refresh a view's ``runs`` trait with what its live messages carried (see the module docstring).

    ``message_sent()`` is called for every live message, under the view's send lock; ``refresh`` (given by the
    view) takes that lock itself and writes each running run's state as sent (the view's
    :class:`~lazystream_widget.resync.SentLedger`) into the trait.
    """

    def __init__(self, refresh: Callable[[], None]) -> None:
        self._refresh = refresh
        self._interval = MARIMO_CATCH_UP_FIRST_S
        self._timer: threading.Timer | None = None
        self._stopped = False
        self._lock = threading.Lock()

    def message_sent(self) -> None:
        """A live message went out: make sure a refresh follows it."""
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
