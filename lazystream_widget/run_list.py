"""The runs a view keeps, bounded: handles in ``view.history``, states in the ``runs`` trait.

A view's ``runs`` trait is what the browser holds and what a saved notebook keeps, and
ipywidgets sends a trait whole whenever it changes: each run's end re-sends the list.
Unbounded, 200 asks in one view made every run end send 200 runs (quadratic traffic),
and the history held every run's text and trace forever. So:

* the last ``max_runs`` runs (``WIDGET_FULL_RUNS``, 10) are kept in full in the trait;
* the ``WIDGET_SUMMARISED_RUNS`` (20) before them are summarised: a valid run state with
  the status, the question, the first ``WIDGET_SUMMARY_CHARS`` of the answer, the error's
  type and message, and a notice saying where the full run is;
* runs older than that collapse into one entry that says how many there were;
* ``view.history`` keeps the last ``max_history`` run handles (``WIDGET_MAX_HISTORY``, 200).

So one run's end sends at most ``max_runs`` full runs plus about 20 small ones, however
long the session. The handle ``ask()`` returned always keeps the whole run.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from .limits import WIDGET_FULL_RUNS, WIDGET_MAX_HISTORY, WIDGET_SUMMARISED_RUNS, WIDGET_SUMMARY_CHARS
from .protocol import RunState

if TYPE_CHECKING:
    from .runner import Run

#: The id of the entry standing for runs older than the summarised ones.
EARLIER_RUNS_ID = "earlier-runs"


def _bound(name: str, value: int | None, default: int, minimum: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


class RunList:
    """Run handles (``history``, bounded) and the bounded list of states for the ``runs`` trait."""

    def __init__(self, max_runs: int | None = None, max_history: int | None = None) -> None:
        self.max_runs = _bound("max_runs", max_runs, WIDGET_FULL_RUNS, 1)
        self.max_history = _bound("max_history", max_history, max(WIDGET_MAX_HISTORY, self.max_runs), self.max_runs)
        self.history: list[Run] = []
        self.total = 0  # runs ever added
        self._known: weakref.WeakSet[Run] = weakref.WeakSet()  # every run added and still referenced somewhere
        self._order: list[str] = []  # ids of every run the trait may show, oldest first (bounded below)
        self._states: dict[str, RunState] = {}  # latest state of each id in _order
        self._summaries: dict[str, tuple[str, RunState]] = {}  # id -> (status it was made at, summary)
        self._lock = threading.Lock()

    def add(self, run: Run) -> None:
        """A new run of the view (idempotent)."""
        with self._lock:
            self._add_locked(run)

    def update(self, run: Run) -> list[RunState]:
        """Store the run's current state; return what the ``runs`` trait should now hold."""
        state = run.state()
        with self._lock:
            self._add_locked(run)
            if run.id in self._states:  # else: a run so old it is only counted among the earlier ones
                self._states[run.id] = state
            return self._trait_locked()

    # ---- under the lock ---------------------------------------------------------------

    def _add_locked(self, run: Run) -> None:
        if run in self._known:
            return
        self._known.add(run)
        self.total += 1
        self.history.append(run)
        del self.history[: -self.max_history]
        self._order.append(run.id)
        self._states.setdefault(run.id, {"id": run.id, "status": run.status})  # type: ignore[typeddict-item]
        keep = self.max_runs + WIDGET_SUMMARISED_RUNS
        for gone in self._order[:-keep]:
            self._states.pop(gone, None)
            self._summaries.pop(gone, None)
        del self._order[:-keep]

    def _trait_locked(self) -> list[RunState]:
        full = self._order[-self.max_runs :]
        summarised = self._order[: -self.max_runs] if len(self._order) > self.max_runs else []
        out: list[RunState] = []
        earlier = self.total - len(self._order)
        if earlier > 0:
            out.append(self._earlier(earlier))
        for run_id in summarised:
            out.append(self._summary(run_id))
        out.extend(self._states[run_id] for run_id in full)
        return out

    def _summary(self, run_id: str) -> RunState:
        state = self._states[run_id]
        cached = self._summaries.get(run_id)
        if cached is not None and cached[0] == state.get("status"):
            return cached[1]
        summary = summarise(state, self.max_runs, self.max_history)
        self._summaries[run_id] = (str(state.get("status")), summary)
        return summary

    def _earlier(self, count: int) -> RunState:
        return {
            "id": EARLIER_RUNS_ID, "query": f"{count} earlier run{'s' if count > 1 else ''}", "status": "done",
            "text": "", "thinking": "", "entries": [], "error": None, "result": None,
            "started_at": None, "ended_at": None, "stats": {},  # type: ignore[typeddict-item]  # no timing to show
            "notices": [f"{count} earlier run{'s' if count > 1 else ''} of this view are not shown; view.history "
                        f"keeps the last {self.max_history} run handles, and each ask() returned its own"],
        }


def summarise(state: RunState, max_runs: int, max_history: int) -> RunState:
    """A small, valid run state standing for ``state``: status, question, the start of the answer, the error."""
    text = state.get("text") or ""
    query = state.get("query") or ""
    error = state.get("error")
    short_error: Any = None
    if error:
        short_error = {"type": error.get("type", "Error"), "message": str(error.get("message", ""))[:300]}
    return {
        "id": state.get("id", ""),
        "query": query if len(query) <= 200 else query[:200] + "…",
        "status": state.get("status", "done"),  # type: ignore[typeddict-item]
        "text": text if len(text) <= WIDGET_SUMMARY_CHARS else text[:WIDGET_SUMMARY_CHARS] + "…",
        "thinking": "",
        "entries": [],
        "error": short_error,
        "result": None,
        "started_at": state.get("started_at", 0.0),
        "ended_at": state.get("ended_at"),
        "stats": state.get("stats", {}),
        "notices": [f"Summarised: this view keeps its last {max_runs} runs in full. The whole run (id "
                    f"{state.get('id', '')}) is in view.history while among the last {max_history} runs, and in "
                    "the handle ask() returned."],
    }
