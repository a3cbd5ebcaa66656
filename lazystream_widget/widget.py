"""``StreamView``: the notebook widget (anywidget): traits and messages only.

    view = StreamView(agent)          # shows itself as the cell's output
    run = view.ask("What's the weather in Tokyo?")   # returns at once; the answer streams in

Live updates travel as custom messages holding only what is new (the runner sends
at most ``WIDGET_MAX_MESSAGES_PER_S`` per view); the finished run lands in the
synced ``runs`` trait, sent last, so re-rendered outputs, second displays, saved
notebooks and static HTML exports all show the final answer and trace.

The browser's Stop and resync requests take the control route of
:mod:`lazystream_widget.control` (a kernel subshell), so they work while a cell is busy.
"""

from __future__ import annotations

import pathlib
import threading
import time
import warnings
from typing import Any, Callable

import anywidget
import traitlets

from . import control
from .frontends import CatchUp, in_marimo, show
from .protocol import MSG_SNAPSHOT, DeltaMessage, RunStartMessage, SnapshotMessage
from .resync import ResyncRequest, SentLedger, snapshot_states
from .run_list import RunList
from .runner import Run
from .tracebacks import user_facing
from .views import RunHistory, check_module, module_name

_STATIC = pathlib.Path(__file__).parent / "static"

#: marimo delivers the Stop button's message only once the cell ends, and ``ask(wait=True)`` keeps the cell
#: running until the run ends: Stop cannot stop it. marimo's interrupt can (the wait cancels the run).
MARIMO_WAIT_NOTICE = ("This cell waits for the run (ask(wait=True)), and marimo reads Stop only after a cell ends: "
                      "to stop the run now, interrupt the cell (marimo's stop button); the answer so far stays in "
                      "view.last_run.text. Without wait=True, Stop works at once.")
_MISSING_BUNDLE = """
export default { render({ el }) {
  el.textContent = "lazystream-widget: the JavaScript bundle is missing. "
    + "Reinstall the package (pip install lazystream-widget) or, from a source checkout, run: npm ci && npm run build";
} };
"""


def _bundle(name: str, fallback: str) -> pathlib.Path | str:
    path = _STATIC / name
    if path.exists():
        return path
    if name.endswith(".js"):
        warnings.warn(f"lazystream-widget: {path} is missing; run `npm ci && npm run build`", stacklevel=3)
    return fallback


class StreamView(RunHistory, anywidget.AnyWidget):
    """A live view of a module's runs: the streaming answer and the trace tree.

    Args:
        module: anything callable on a query: a ``FunctionCallAgent``, a chat module, a ``pipeline``,
            a ``ModuleBase`` subclass or a plain function.
        display: show the view as the current cell's output right away (inside a notebook).
        title: an optional heading shown above the runs.
        max_runs: runs kept in full in the widget (and a saved notebook); older ones are summarised
            (default ``limits.WIDGET_FULL_RUNS``, 10). See :mod:`lazystream_widget.run_list`.
        max_history: run handles kept in ``view.history`` (default ``limits.WIDGET_MAX_HISTORY``, 200).
    """

    handle_name = "view"  # a failed run's note: "run.traceback, e.g. view.last_run.traceback"
    _esm = _bundle("widget.js", _MISSING_BUNDLE)
    _css = _bundle("widget.css", "")

    #: the runs of this view, as :class:`~lazystream_widget.protocol.RunState` dicts (final state once ended)
    runs = traitlets.List(traitlets.Dict()).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    #: how Stop and resync reach the kernel (see :mod:`lazystream_widget.control`): "subshell" (also while a
    #: cell is busy), "frontend" (while busy if the frontend uses subshells), "shell" (between cells), "none"
    control_route = traitlets.Unicode("none").tag(sync=True)

    def __init__(self, module: Callable[[Any], Any], *, display: bool = True, title: str = "",
                 max_runs: int | None = None, max_history: int | None = None, **kwargs: Any):
        check_module("StreamView", module)
        super().__init__(title=title, **kwargs)
        self.module = module
        self.attached_session: str | None = None  # set by attach(): a read-only view of a run elsewhere
        self._run_list = RunList(max_runs, max_history)  # bounded: last runs in full, older summarised
        #: the view's last ``max_history`` runs (handles), oldest first
        self.history: list[Run] = self._run_list.history
        self._mseq = 0
        self._stats_sent_at: dict[str, float] = {}
        self._ttft_sent: set[str] = set()
        self._tokens_sent: dict[str, int] = {}
        self._runs_lock = threading.Lock()
        self._ledger = SentLedger()  # what the live messages carried of each run (for resync replies)
        self._lose_deltas = 0  # test-only: see _lose_next_deltas
        # marimo drops messages sent before the view's front end starts: catch it up through the trait
        self._catch_up = CatchUp(self._refresh_as_sent) if in_marimo() else None
        self.on_msg(self._on_browser_message)
        self.control_route = control.install_route(self.comm)
        if display:
            show(self)  # Jupyter: IPython display; marimo: mo.output.append

    # ---- the API ----------------------------------------------------------------

    @classmethod
    def attach(cls, session_id: str, *, display: bool = True, title: str = "") -> StreamView:
        """A read-only view of a run executing elsewhere (a worker, another kernel), by its session id.

        It shows the run's answer and trace as they stream, from the beginning however late you
        attach (with Redis, also after the run ended); ``view.last_run`` is its handle (``text``,
        ``trace``, ``status``, ``wait()``). Watchers never take items from each other or from the
        session's own consumer. Stop (or ``last_run.cancel()``) stops watching, not the run.
        See :mod:`lazystream_widget.attach`.
        """
        from .attach import _not_callable, attach_run

        view = cls(_not_callable, display=False, title=title)
        view.attached_session = session_id
        attach_run(session_id, view, keep=view._remember)
        if display:
            show(view)  # Jupyter: IPython display; marimo: mo.output.append
        return view

    @user_facing
    def ask(self, query: Any, *, wait: bool = False, timeout: float | None = None) -> Run:
        """Start a run of the module on ``query`` and return its handle at once.

        With ``wait=True`` block until it ends (still streaming live) and raise its
        exception if it failed, so a failing notebook fails under nbval. The exception is
        the run's own, its traceback trimmed to your code (the full one:
        ``view.last_run.traceback``). ``timeout`` (seconds, with ``wait=True``) raises
        ``TimeoutError`` if the run is still going by then; the run goes on.
        """
        __tracebackhide__ = True  # IPython and pytest skip this frame in the traceback
        if self.attached_session is not None:
            raise TypeError(
                f"this view watches session {self.attached_session[:8]}… (StreamView.attach): it cannot ask; "
                "make a StreamView(module) to run queries here"
            )
        return self._start_run(query, wait, timeout)

    def _remember(self, run: Run) -> None:
        self._run_list.add(run)  # bounded history (run_list.py)

    def _waiting(self, run: Run) -> None:
        if self._catch_up is not None:  # marimo: its kernel reads widget messages only between cells
            run.add_notice(MARIMO_WAIT_NOTICE)

    def cancel_all(self) -> None:
        """Stop every run of this view that is still running (what the Stop buttons do, all at once)."""
        for run in list(self.history):
            run.cancel()

    def __repr__(self) -> str:
        if self.attached_session is not None:
            return "StreamView.attach(<session>)"  # stable: nbval compares it
        return f"StreamView({module_name(self.module)})"  # stable: nbval compares it

    # ---- the runner's sink (called from the pump thread) ----------------------------

    def run_started(self, run: Run) -> None:
        msg: RunStartMessage = {"type": "run_start", "mseq": 0, "run": run.state()}
        self._send_message(msg, lambda: self._ledger.started(run.id))
        self._store_run(run)

    def run_delta(self, run: Run, text: str, thinking: str, entries: list) -> None:
        msg: DeltaMessage = {"type": "delta", "mseq": 0, "run": run.id}
        # stats ride along about once a second (and when the first token arrives): the browser
        # ticks the clock itself, and per-message bytes matter more than stats freshness
        now = time.monotonic()
        first_token = run.ttft_ms is not None and run.id not in self._ttft_sent
        if first_token or now - self._stats_sent_at.get(run.id, 0.0) >= 1.0:
            msg["stats"] = run.stats()
            self._stats_sent_at[run.id] = now
            if run.ttft_ms is not None:
                self._ttft_sent.add(run.id)
        else:
            # the token count rides with every message that carries text (a few bytes), so the status
            # line's count keeps step with the text on screen between the once-a-second stats
            n = run.tokens - self._tokens_sent.get(run.id, 0)
            if n:
                msg["n"] = n
        self._tokens_sent[run.id] = run.tokens
        if text:
            msg["text"] = text
        if thinking:
            msg["thinking"] = thinking
        if entries:
            msg["entries"] = entries
        notices = run.take_new_notices()
        if notices:
            msg["notices"] = notices
        self._send_message(msg, lambda: self._ledger.add(run.id, text, thinking, entries))

    def run_finished(self, run: Run) -> None:
        for table in (self._stats_sent_at, self._tokens_sent):
            table.pop(run.id, None)
        self._ttft_sent.discard(run.id)
        self._store_run(run)  # the final state, as a trait: sent last, kept in saved notebooks
        self._stats_sent_at.pop(run.id, None)
        self._ttft_sent.discard(run.id)
        self._tokens_sent.pop(run.id, None)
        with self._runs_lock:  # an ended run is resent whole: what its live messages carried is no longer needed
            self._ledger.forget(run.id)

    def run_resync(self, run: Run) -> None:
        self.send_state("runs")

    # ---- the browser's control requests (called on the control route's thread) ----------

    def send_snapshot(self, request: ResyncRequest) -> None:
        """Answer a resync request: the runs the browser lacks, as far as the live messages carried them."""
        with self._runs_lock:  # no delta can slip between reading the ledger and numbering the snapshot
            states = snapshot_states(list(self.history), request, self._ledger)
            self._mseq += 1
            msg: SnapshotMessage = {"type": MSG_SNAPSHOT, "mseq": self._mseq, "runs": states}
            self.send(msg)

    def send_control_reply(self, msg: dict) -> None:
        """An acknowledgement outside the numbered stream (a lost one costs nothing but a hint)."""
        self.send(msg)

    def _lose_next_deltas(self, count: int) -> None:
        """Test-only: number the next ``count`` delta messages but never send them, as Jupyter does
        when it drops messages, to exercise gap detection and resync."""
        with self._runs_lock:
            self._lose_deltas = count

    # ---- plumbing -------------------------------------------------------------------

    def _send_message(self, msg: dict, record: Callable[[], None] | None = None) -> None:
        """Number and send a live message; ``record`` notes what it carried, under the same lock."""
        with self._runs_lock:
            self._mseq += 1
            msg["mseq"] = self._mseq
            if record is not None:
                record()
            if self._catch_up is not None:
                self._catch_up.message_sent()  # marimo: a trait refresh follows (frontends.py)
            if self._lose_deltas > 0 and msg.get("type") == "delta":
                self._lose_deltas -= 1
                return
            self.send(msg)

    def _store_run(self, run: Run) -> None:
        with self._runs_lock:
            self.runs = self._run_list.update(run)

    def _refresh_as_sent(self) -> None:
        """marimo: write each running run's state as the live messages carried it into ``runs`` (frontends.py)."""
        with self._runs_lock:
            stored = {r.get("id"): r for r in self.runs}
            runs = []
            for run in list(self.history):
                if run.status == "running":
                    runs.append(self._ledger.state_as_sent(run))
                elif run.id in stored:
                    runs.append(stored[run.id])
            self.runs = runs

    def _on_browser_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if self._catch_up is not None:
            self._catch_up.browser_is_listening()
        control.handle_request(self, content)
