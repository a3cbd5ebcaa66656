"""Runs a module on a query (on a thread of its own) and hands what it streams to a display.

Each run gets a fresh session (so concurrent runs never mix), a cancel token, and
tracing of everything in it. The process's one pump thread (:mod:`.pump`) drains the
run's queues as they fill and hands a :class:`RunSink` only what is new, at most once
per display frame per view and within one message budget per kernel (:mod:`.pacing`);
when the run ends, the sink gets the last delta, then the final state, last.

The runner knows nothing of widgets: the StreamView is one sink; tests and
benchmarks use others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import os
import pathlib
import secrets
import sys
import threading
import time
from typing import Any, Callable, Protocol

from .protocol import (
    ANSWER_QUEUE,
    THINK_QUEUE,
    TRACE_QUEUE,
    ErrorInfo,
    RunState,
    TraceEntry,
    is_run_marker,
    parse_entry,
)
from .pump import CANCEL_GRACE_S, Feed, get_pump, serve
from .result_text import result_markdown
from .run_reading import RunReader
from .run_text import StreamedText
from .runtime.backend import QueueUnavailableError
from .spans import SpanRecord, build_spans, format_tree
from .tracebacks import mark_for_user, user_facing


class RunDisplayError(RuntimeError):
    """The run's display (its sink) failed while the run streamed; the run was stopped, its text kept."""


def _cell_number() -> int | None:
    """The notebook cell running now (IPython's execution count), None outside IPython."""
    ipython = sys.modules.get("IPython")  # not imported: not in IPython (importing it would cost ~0.3 s)
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return getattr(shell, "execution_count", None) if shell is not None else None


#: The run the current code belongs to (set in each run's context), for code that adds notices.
_current_run: contextvars.ContextVar[Run | None] = contextvars.ContextVar("lazystream_current_run", default=None)


def current_run() -> Run | None:
    """The run the current code belongs to; None outside a run."""
    return _current_run.get()


class RunSink(Protocol):
    def run_started(self, run: Run) -> None: ...

    def run_delta(self, run: Run, text: str, thinking: str, entries: list[TraceEntry | str]) -> None:
        """What is new since the last call; a sink that shows notices takes them with ``run.take_new_notices()``."""

    def run_finished(self, run: Run) -> None: ...

    def run_resync(self, run: Run) -> None:
        """Send the (final) state again, from the caller's context."""


class Run:
    """A handle on one query's run: its streamed text, trace, status and result.

    ``run.wait(timeout)`` blocks until it ends and returns the result (raising the run's
    exception if it failed, :class:`~lazystream_widget.RunCancelled` if cancelled);
    ``await run`` does the same in async code; ``run.cancel()`` stops it.
    """

    def __init__(self, module: Callable[[Any], Any], query: Any) -> None:
        self.id = secrets.token_hex(6)
        self.query = query
        self.module = module
        self.status = "running"
        self.started_at = time.time()
        self.ended_at: float | None = None
        self.ttft_ms: float | None = None
        self.tokens = 0
        self._t0 = time.perf_counter()
        # what was streamed to the answer / thinking queues: read from the queue's log while the run
        # goes on (no second copy of a long answer in memory), in memory once it ended (run_text.py)
        self._text: StreamedText | None = None
        self._thinking: StreamedText | None = None
        self._entries: list[TraceEntry | str] = []
        self._notices: list[str] = []
        self._notices_sent = 0  # how many notices the sink has been handed
        self._lock = threading.Lock()
        self._result: Any = None
        self._exception: BaseException | None = None
        self._failure: tuple[ErrorInfo, str] | None = None  # (error info, full traceback) before any trimming
        self._raised = False  # the exception was raised to a caller (and trimmed) already
        self._worker_tb: Any = None  # its traceback in the worker, trimmed to the user's frames
        self._final: concurrent.futures.Future = concurrent.futures.Future()
        self._token = None  # set in start()
        self._session = None
        self._sink: RunSink | None = None
        self._resynced = False
        self._cell: int | None = None
        self._feed: Feed | None = None  # the run's link to the pump, once started
        #: per queue, the log position the pump has read up to, when it reads by position (see
        #: _reads_by_position; pump thread only); None: it consumes the queues (``backend.read``)
        self._reader: RunReader | None = None
        self._backend: Any = None
        self._work_ended_at: float | None = None  # when the module's call returned or raised
        self.settings: Any = None  # the settings snapshot taken at start()
        self._asked_through: str | None = None  # the kind of view that started it, for error notes

    # ---- reading ----------------------------------------------------------------

    @property
    def text(self) -> str:
        """Everything streamed to the answer queue so far (never truncated)."""
        return self._text.value() if self._text is not None else ""

    @property
    def thinking(self) -> str:
        """The model's reasoning streamed so far (empty for models that send none)."""
        return self._thinking.value() if self._thinking is not None else ""

    @property
    def entries(self) -> list[TraceEntry | str]:
        """The raw trace entries received so far, in queue order."""
        with self._lock:
            return list(self._entries)

    @property
    def trace(self) -> list[SpanRecord]:
        """The run's spans as Python objects, in start order (see :mod:`lazystream_widget.spans`)."""
        return build_spans(self.entries)

    @property
    def notices(self) -> list[str]:
        """One-line remarks about the run that the display shows above the answer (e.g. why nothing streamed)."""
        with self._lock:
            return list(self._notices)

    def add_notice(self, text: str) -> None:
        """Add a one-line remark for the display (thread-safe; repeated text is kept once)."""
        line = " ".join(str(text).split())
        if not line:
            return
        with self._lock:
            if line in self._notices:
                return
            self._notices.append(line)
        feed = self._feed
        if feed is not None and feed.pump is not None and not self._final.done():
            feed.pump.poke(feed)  # a notice appends nothing to the queues: wake the pump

    def take_new_notices(self) -> list[str]:
        """The notices added since the last call (what a display has not been sent yet)."""
        with self._lock:
            new = self._notices[self._notices_sent :]
            self._notices_sent = len(self._notices)
            return new

    def _has_new_notices(self) -> bool:
        with self._lock:
            return len(self._notices) > self._notices_sent

    def to_otlp(self) -> dict[str, Any]:
        """The run as an OTLP/JSON ``ExportTraceServiceRequest`` dict: one trace, a root span for the run."""
        from .integrations.otlp import to_otlp

        return to_otlp(self)

    def trace_tree(self, *, internal: bool = False) -> str:
        """The spans as an indented text tree; ``internal=True`` also shows a producer's plumbing spans."""
        return format_tree(self.trace, internal=internal)

    @property
    def usage(self) -> dict[str, int]:
        """Tokens of the run's model calls: ``{"prompt_tokens": ..., "completion_tokens": ...}`` summed."""
        from .rollups import run_totals
        from .spans import roots

        t = run_totals(roots(self.trace), None)
        return {"prompt_tokens": int(t.in_tokens), "completion_tokens": int(t.out_tokens)}

    @property
    def cost(self) -> float | None:
        """The run's cost from ``configure(prices=...)`` (per 1M tokens), or None if no call was priced."""
        from .rollups import run_totals
        from .spans import roots

        prices = (self.settings or {}).get("prices") if self.settings is not None else None
        t = run_totals(roots(self.trace), prices)
        return t.cost if t.priced else None

    def to_markdown(self) -> str:
        """The question, the answer and a readable trace as Markdown (what the widget's "Copy as Markdown" gives)."""
        from .export import to_markdown

        return to_markdown(self.state())

    def to_html(self, path: str | os.PathLike[str]) -> pathlib.Path:
        """Write the answer and its interactive trace tree as one self-contained HTML file (no server, no network)."""
        from .export import to_html

        return to_html(self.state(), path)

    def done(self) -> bool:
        """Whether the run has ended (done, error or cancelled)."""
        return self._final.done()

    @property
    @user_facing
    def result(self) -> Any:
        """The module's return value; raises the run's exception if it failed (waits if still running)."""
        __tracebackhide__ = True
        return self.wait()

    @property
    def error(self) -> BaseException | None:
        """The run's exception (None unless it failed or was cancelled)."""
        return self._exception

    @property
    def traceback(self) -> str | None:
        """The run's full traceback, chain included, as it was in the worker (None unless it failed).

        What ``wait()`` raises into a cell is trimmed to the user's code; this is the whole story.
        """
        return self._failure[1] if self._failure is not None else None

    @user_facing
    def wait(self, timeout: float | None = None) -> Any:
        """Block until the run ends; return its result or raise its exception.

        The exception is the run's own (same type and message), its traceback trimmed to your
        code; :attr:`traceback` holds the full one. A kernel interrupt (KeyboardInterrupt) while
        waiting cancels the run cleanly, then re-raises.
        """
        __tracebackhide__ = True  # IPython and pytest skip this frame in the traceback
        try:
            self._final.result(timeout)
        except concurrent.futures.TimeoutError:
            raise mark_for_user(TimeoutError(
                f"run {self.id} is still running after {timeout} s; wait longer (run.wait(timeout=...)) "
                "or stop it (run.cancel())"
            )) from None
        except KeyboardInterrupt as interrupt:
            mark_for_user(interrupt)  # the user's line, not the pool's and threading's frames it landed in
            self.cancel("interrupted")
            try:
                self._final.result(CANCEL_GRACE_S + 1)
            except BaseException:
                pass
            raise
        if self._sink is not None and not self._resynced and _cell_number() != self._cell:
            self._resynced = True
            # Re-send the final state from the waiting cell: notebook executors (nbclient,
            # nbconvert --execute) keep only messages of the running cell, so a run that
            # ended after its own cell would otherwise be saved as still running. Only
            # from another cell: in the asking cell the final state was already sent.
            resync = getattr(self._sink, "run_resync", None)  # optional for sinks other than the widget
            if resync is not None:
                try:
                    resync(self)
                except Exception as exc:  # the display failing to resend must not replace the run's own outcome
                    import warnings

                    warnings.warn(f"run {self.id}: resending the final state failed: {exc!r}", RuntimeWarning,
                                  stacklevel=2)
        if self._exception is not None:
            self._raise_error()
        return self._result

    def _raise_error(self) -> None:
        __tracebackhide__ = True
        from .tracebacks import prepare, raise_for_user

        exc = self._exception
        if not self._raised:
            self._raised, self._worker_tb = True, prepare(exc, self._asked_through)
        raise_for_user(exc, self._worker_tb)

    def __await__(self):
        return self._await().__await__()

    @user_facing
    async def _await(self) -> Any:
        __tracebackhide__ = True
        await asyncio.wrap_future(self._final)
        if self._exception is not None:
            self._raise_error()
        return self._result

    def cancel(self, reason: str = "cancelled by the user") -> bool:
        """Stop the run: closes its model stream, starts no new tool. False if it already ended."""
        if self._final.done() or self._token is None:
            return False
        return self._token.cancel(reason)

    def state(self) -> RunState:
        """The run as the widget's ``runs`` trait stores it."""
        text, thinking = self.text, self.thinking
        with self._lock:
            entries = list(self._entries)
        error = self._failure[0] if self._failure is not None else None
        return {
            "id": self.id,
            "query": self.query if isinstance(self.query, str) else repr(self.query),
            "status": self.status,  # type: ignore[typeddict-item]
            "text": text,
            "thinking": thinking,
            "entries": entries,
            "error": error,
            # the result only where it says more than the streamed text (no second copy of the answer)
            "result": None if self._result is None or str(self._result) == text else result_markdown(self._result),
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "stats": self.stats(),
            "notices": self.notices,
            **self._price_state(),
        }

    def _price_state(self) -> dict[str, Any]:
        """The run's prices and currency (from its settings snapshot), for the widget's cost roll-ups."""
        snap = self.settings
        if not snap or not snap.get("prices"):
            return {}
        return {"prices": {m: list(p) for m, p in snap["prices"].items()}, "currency": snap.get("currency", "$")}

    def stats(self) -> dict[str, Any]:
        """Answer deltas streamed (``tokens``), time to the first one (``ttft_ms``) and time so far (``elapsed_ms``)."""
        end = self.ended_at if self.ended_at is not None else time.time()
        return {"tokens": self.tokens, "ttft_ms": self.ttft_ms, "elapsed_ms": round((end - self.started_at) * 1000, 1)}

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.status} tokens={self.tokens}>"

    # ---- running ----------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The id of the session the run streams into: hand it to ``StreamView.attach`` in another
        process to watch this run there (with Redis, also after it ended)."""
        return self._session.id if self._session is not None else None

    def start(self, sink: RunSink | None = None, *, session: Any = None) -> Run:
        """Submit the module to the pool under a fresh session and hand the run to the pump.

        Call it from the thread whose context should reach the sink (the notebook cell):
        ipykernel routes a widget's messages by the context they are sent from, so the
        pump calls the sink in a copy of this context.
        ``session``: stream into this session instead of a fresh one (e.g. one a watcher elsewhere
        follows); it is closed at the end only if this process created it.
        """
        from .runtime.cancel import CancelToken, set_token
        from .runtime.run_threads import RunLimitError, start_run_thread
        from .runtime.session import new_session, use_session
        from .runtime.trace import activate, set_trace_everything

        cell_ctx = contextvars.copy_context()
        self._cell = _cell_number()
        from . import settings
        from .integrations import invoker_for
        from .integrations.otlp import export_sink

        self.settings = settings.snapshot()  # a later configure() never reaches this run
        self._asked_through = getattr(sink, "handle_name", None)  # "view", "console": named in error notes
        sink = export_sink(self, sink)  # sends the run's spans live when an OTLP endpoint is configured
        self._sink = sink
        self._session = session if session is not None else new_session()
        self._backend = self._session.backend  # the one it was opened on (file or Redis): its pump serves the run
        self._reader = RunReader(self._backend, self._session.id, fresh=session is None)
        from .run_markers import run_start_marker, write_marker

        write_marker(self._session, run_start_marker(self))  # for watchers elsewhere (StreamView.attach)
        self._text = StreamedText(self._backend, self._session.id, ANSWER_QUEUE)
        self._thinking = StreamedText(self._backend, self._session.id, THINK_QUEUE)
        self._token = CancelToken()
        run_ctx = contextvars.copy_context()
        run_ctx.run(settings.use, self.settings)
        run_ctx.run(_current_run.set, self)
        run_ctx.run(use_session, self._session)
        run_ctx.run(set_token, self._token)
        run_ctx.run(set_trace_everything, True)
        run_ctx.run(activate, None)
        feed = self._feed = Feed(self, sink, cell_ctx)
        try:
            pump = get_pump(self._backend)  # starts the pump thread the first time (that can fail too)
            if sink is not None:
                sink.run_started(self)
            invoke = invoker_for(self.module, self.add_notice)  # foreign code (LazyLLM, OpenTelemetry) adapted
            # a thread of its own (runtime/run_threads.py): a stuck, abandoned run never blocks a new one
            future = start_run_thread(functools.partial(self._work, invoke, feed), self.query, run_ctx,
                                      f"lazystream-run-{self.id}")
        except BaseException as exc:  # e.g. too many stuck runs: end the run now, never leave it "running"
            if isinstance(exc, RunLimitError):
                self.add_notice(str(exc))
            self._token.cancel("the run could not start")
            self._end_now(exc, sink)
            raise
        feed.future = future
        # the pump drains a new run at once, so what the work appended before this line is not missed
        pump = serve(feed, self._backend)
        future.add_done_callback(lambda _f: pump.poke(feed))
        self._token.on_cancel(lambda: pump.poke(feed))
        return self

    def _work(self, invoke: Callable[[Any], Any], feed: Feed, query: Any) -> Any:
        """The run's work, on its thread: the module on the query, then tell the pump at once."""
        try:
            return invoke(query)
        finally:
            if self._reader.by_position:  # the pump ends the run after a last read of everything: no need to wait
                from .runtime.pool import forget_reads_to_wait_for

                forget_reads_to_wait_for(self._session.id)
            # the run's end is when its work ended (not when the pump next looked), so a run's elapsed
            # time and its top span's duration tell the same story; and the last tokens go out now,
            # not at the next display frame (the pump reads them, which also lets our pool's future,
            # waiting for them to be read, complete)
            self._work_ended_at = time.time()
            feed.work_ended = True
            if feed.pump is not None:  # (not yet added: the pump serves it at once when it is)
                feed.pump.poke(feed)

    def _end_now(self, exc: BaseException, sink: RunSink | None) -> None:
        self.ended_at = time.time()
        self._set_exception(exc)
        self.status = "error"
        try:
            if sink is not None:
                sink.run_finished(self)
        finally:
            for streamed in (self._text, self._thinking):
                if streamed is not None:
                    streamed.finish()
            self._close_session()
            self._final.set_result(None)

    def _close_session(self) -> None:
        """Write the run-end marker (how the run ended, for watchers elsewhere), then close the session.

        When the run failed because its queue (Redis) stayed away, neither is retried again: the run
        ends now, and Redis expires the session on its own."""
        from .run_markers import run_end_marker, write_marker

        if isinstance(self._exception, QueueUnavailableError):
            self._session.abandon()
            return
        try:
            write_marker(self._session, run_end_marker(self))
        finally:
            try:
                self._session.close()
            except QueueUnavailableError:
                pass  # Redis went away at the very end: the session expires there on its own

    def _drain(self, queues: list[str] | None = None) -> tuple[str, str, list[TraceEntry | str]]:
        """Take what the run's queues hold (the pump calls it); returns (text, thinking, trace entries).

        ``queues``: read only these (the ones an append event named); None: all three.
        """
        reader = self._reader

        def read(queue: str) -> list[bytes]:
            return [] if queues is not None and queue not in queues else reader.read(queue)

        deltas = read(ANSWER_QUEUE)
        text = "".join(b.decode("utf-8", "surrogatepass") for b in deltas)
        raw = read(THINK_QUEUE)
        thinking = "".join(b.decode("utf-8", "surrogatepass") for b in raw)
        raw = read(TRACE_QUEUE)
        entries = [parse_entry(b.decode("utf-8", "surrogatepass")) for b in raw]
        entries = [e for e in entries if not is_run_marker(e)]  # our own run_start: for watchers, not the display
        if text or thinking or entries:
            with self._lock:
                if (text or thinking) and self.ttft_ms is None:
                    self.ttft_ms = round((time.perf_counter() - self._t0) * 1000, 1)
                if text:
                    self.tokens += len(deltas)  # one delta is one token for the models we know
                self._entries.extend(entries)
            if text:
                self._text.drained(text, reader.position(ANSWER_QUEUE))
            if thinking:
                self._thinking.drained(thinking, reader.position(THINK_QUEUE))
        return text, thinking, entries

    def _finish(self, future: concurrent.futures.Future, failure: BaseException | None = None) -> None:
        try:
            self._settle(future, failure)
        finally:  # whatever the outcome, before the session's files go: the streamed text moves into memory
            if self._text is not None:
                self._text.finish(self._result)
            if self._thinking is not None:
                self._thinking.finish()

    def _settle(self, future: concurrent.futures.Future, failure: BaseException | None) -> None:
        from .runtime.cancel import RunCancelled

        self.ended_at = self._work_ended_at if future.done() and self._work_ended_at is not None else time.time()
        if isinstance(failure, QueueUnavailableError):  # the queue (Redis) stayed away: say so, not "display"
            self._set_exception(failure)
            self.status = "error"
            return
        if failure is not None:
            error = RunDisplayError(
                f"run {self.id} was stopped: its display failed while streaming "
                f"({type(failure).__name__}: {failure}); run.text holds what was streamed"
            )
            error.__cause__ = failure
            self._set_exception(error)
            self.status = "error"
            return
        if not future.done():  # abandoned after a cancel the module did not honour
            from .runtime.run_threads import mark_abandoned

            mark_abandoned(future)  # its thread still counts against RUN_THREADS_MAX until it returns
            self._set_exception(RunCancelled(self._token.reason))
            self.status = "cancelled"
            return
        exc = future.exception()
        if exc is None:
            self._result = future.result()
            self.status = "done"
        else:
            self._set_exception(exc)
            self.status = "cancelled" if isinstance(exc, RunCancelled) else "error"

    def _set_exception(self, exc: BaseException) -> None:
        """The run failed with ``exc``: keep its error info and full traceback before anyone trims it."""
        from .runtime.trace import error_info
        from .tracebacks import full_traceback

        self._failure = (error_info(exc), full_traceback(exc))
        self._exception = exc
