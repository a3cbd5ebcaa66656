"""Catching a browser up after lost messages ("never silently behind").

Jupyter drops messages silently when a kernel sends faster than the server and
browser take them (the IOPub rate limit, full socket buffers). Every live message
of a view carries a number (``mseq``), so the browser sees a gap; it then asks the
kernel (by the control route of :mod:`lazystream_widget.control`, so it works
while a cell is busy) for the current state of the runs it holds.

The reply is a numbered ``snapshot`` message holding, for each run the browser
lacks or holds stale, exactly what the view has *sent* of it so far, so that the
deltas numbered after the snapshot continue it without overlap or hole. The
:class:`SentLedger` keeps those counts; it is updated under the same lock as the
message numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .limits import RESYNC_MAX_RUNS

if TYPE_CHECKING:
    from .protocol import RunState
    from .runner import Run


@dataclass
class Sent:
    """How much of one run's streams the view has handed to the browser."""

    text: int = 0  # characters of run.text
    thinking: int = 0  # characters of run.thinking
    entries: int = 0  # trace entries


class SentLedger:
    """Per run: what the live messages carried so far. Not thread-safe: the view's send lock guards it."""

    def __init__(self) -> None:
        self._sent: dict[str, Sent] = {}

    def started(self, run_id: str) -> None:
        self._sent[run_id] = Sent()

    def add(self, run_id: str, text: str, thinking: str, entries: list) -> None:
        sent = self._sent.setdefault(run_id, Sent())
        sent.text += len(text)
        sent.thinking += len(thinking)
        sent.entries += len(entries)

    def forget(self, run_id: str) -> None:
        self._sent.pop(run_id, None)

    def state_as_sent(self, run: Run) -> RunState:
        """``run.state()`` cut to what was sent; a run that ended is whole (all its deltas went before its end)."""
        state = run.state()
        if state["status"] != "running":
            return state
        sent = self._sent.get(run.id, Sent())
        state["text"] = state["text"][: sent.text]
        state["thinking"] = state["thinking"][: sent.thinking]
        state["entries"] = state["entries"][: sent.entries]
        return state


@dataclass
class ResyncRequest:
    """What the browser holds: ``runs`` maps each run id it knows to its status; ``stale`` lists runs it
    knows to be incomplete (a message about them was lost)."""

    runs: dict[str, str] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, content: dict[str, Any]) -> ResyncRequest:
        """Lenient: a malformed field counts as empty (then every run is sent)."""
        runs = content.get("runs")
        stale = content.get("stale")
        return cls(
            runs={k: v for k, v in runs.items() if isinstance(k, str) and isinstance(v, str)}
            if isinstance(runs, dict) else {},
            stale={s for s in stale if isinstance(s, str)} if isinstance(stale, list) else set(),
        )  # fmt: skip

    def wants(self, run: Run) -> bool:
        """Send ``run`` unless the browser already holds it, not stale, with the status it has now."""
        return run.id in self.stale or self.runs.get(run.id) != run.status


def snapshot_states(runs: list[Run], request: ResyncRequest, ledger: SentLedger) -> list[RunState]:
    """The states to send (newest runs first when there are too many; the rest come with a later request)."""
    wanted = [run for run in runs if request.wants(run)]
    return [ledger.state_as_sent(run) for run in wanted[-RESYNC_MAX_RUNS:]]
