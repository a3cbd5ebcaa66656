"""Tool calls abandoned after their timeout, counted while their threads live on.

Python cannot kill a thread, so a tool that hangs past its timeout is abandoned: the run
goes on with a timeout error for that call, but the tool's thread (and any thread it
started) keeps running in the process. This module counts those threads, so the count
can be shown (the tool span's ``abandoned_tool_threads`` attribute and ``abandoned``
event, and a notice of the run) and a warning given past ``TOOL_ABANDONED_WARN_AT``.
A tool that must be killable belongs in a subprocess (see ``docs/killable-tools.md``).
"""

from __future__ import annotations

import threading
import warnings

from .. import limits


class AbandonedToolsWarning(RuntimeWarning):
    """Many abandoned tool threads are still running in this process."""


_lock = threading.Lock()
_live: set[object] = set()
_total = 0


def abandon(call: object, done: threading.Event) -> int:
    """Count ``call`` as abandoned while it runs; return how many abandoned tools still run (it included)."""
    global _total
    with _lock:
        if not done.is_set():
            _live.add(call)
            _total += 1
        return len(_live)


def finished(call: object) -> None:
    """The tool's thread returned at last (called from that thread)."""
    with _lock:
        _live.discard(call)


def still_running() -> int:
    """Abandoned tool calls whose threads still run in this process."""
    with _lock:
        return len(_live)


def running_tools() -> list[str]:
    """Names of the abandoned tools whose threads still run (one entry per call)."""
    with _lock:
        return sorted(str(getattr(call, "name", "?")) for call in _live)


def total() -> int:
    """Tool calls abandoned in this process since it started."""
    with _lock:
        return _total


def warn_if_many(count: int) -> str | None:
    """Warn (once per count) past the documented number; return the warning text, if any."""
    if count < limits.TOOL_ABANDONED_WARN_AT:
        return None
    text = (f"{count} abandoned tool threads are still running in this process (warned from "
            f"{limits.TOOL_ABANDONED_WARN_AT} on): Python threads cannot be killed, so run a tool that can hang "
            "in a subprocess with its own timeout (see docs/killable-tools.md)")
    warnings.warn(text, AbandonedToolsWarning, stacklevel=2)
    return text
