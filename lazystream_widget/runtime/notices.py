"""Notices from code inside a run: one-line remarks the run's display shows above its answer.

The runner makes the run's ``add_notice`` current in the run's context (it reaches every
thread our pool and the agent start for the run); code anywhere inside calls
:func:`add_notice`. Outside a run it does nothing and returns False.
"""

from __future__ import annotations

import contextvars
from typing import Callable

_current: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "lazystream_notice", default=None
)


def add_notice(text: str) -> bool:
    """Show ``text`` as a notice of the current run; False when no run is listening."""
    sink = _current.get()
    if sink is None:
        return False
    sink(text)
    return True


def use(sink: Callable[[str], None] | None) -> contextvars.Token:
    """Make ``sink`` receive the notices of the current context (runners call it in the run's context)."""
    return _current.set(sink)
