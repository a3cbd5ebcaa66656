"""What every view of runs shares (``StreamView`` in notebooks, ``StreamConsole`` in terminals).

A view runs one module: each ``ask`` starts a :class:`~lazystream_widget.runner.Run` with the view as its
sink and keeps it in ``history``.
"""

from __future__ import annotations

from typing import Any, Callable

from . import limits
from .runner import Run


def check_module(view: str, module: Any) -> None:
    """A clear error for something that cannot be run on a query."""
    if not callable(module):
        raise TypeError(
            f"{view} needs something callable on a query (an agent, a model, a flow or a function), "
            f"got {type(module).__name__}"
        )


def module_name(module: Callable[[Any], Any]) -> str:
    """A stable, readable name for a module (reprs must not hold memory addresses: nbval compares them)."""
    return getattr(module, "name", None) or getattr(module, "__name__", type(module).__name__)


class RunHistory:
    """Mixin: ``module``, ``history`` and the start of a run; the class supplies the sink methods."""

    module: Callable[[Any], Any]
    history: list[Run]

    def _start_run(self, query: Any, wait: bool, timeout: float | None) -> Run:
        __tracebackhide__ = True  # IPython and pytest skip this frame in the traceback
        run = Run(self.module, query)
        self._remember(run)
        run.start(self)  # type: ignore[arg-type]  # the class is a RunSink
        if wait:
            self._waiting(run)
            run.wait(timeout)
        return run

    def _waiting(self, run: Run) -> None:
        """Called when ``ask(wait=True)`` starts blocking on ``run`` (a view adds what the user should know)."""

    def _remember(self, run: Run) -> None:
        """Keep the new run in ``history``: the last ``WIDGET_MAX_HISTORY`` runs (a long session stays bounded)."""
        self.history.append(run)
        del self.history[: -limits.WIDGET_MAX_HISTORY]

    @property
    def last_run(self) -> Run | None:
        """The newest run, or None before the first ``ask``."""
        return self.history[-1] if self.history else None
