"""Watching a run that executes elsewhere: ``StreamView.attach(session_id)``.

A run started in another process (a worker, a cluster job, another notebook) streams into a
session; anyone who has the session id can watch it. The watcher reads the session with
``read_from`` (non-destructive, from the first item), so it sees the run from its beginning
however late it attaches, several watchers never take items from each other, and the session's
own consumer loses nothing. It follows the session's first run: until that run's ``run_end``
marker (status, truncated result, error), or until the session ends without one (a producer that
is not a lazystream runner), or until you stop watching.

The watcher is one more feed of the process's pump (:mod:`.pump`, :class:`AttachFeed`): no thread of
its own, paced like any run's view, woken by appends to the session (inotify on files; a blocking
``XREAD`` on Redis) and, while nothing arrives, looking at the session's state about once a second.

With Redis a finished session stays readable until it expires (``queue_expiry``), so attaching
after the run ended replays it. The file backend deletes a session when its owner closes it: there
a watcher on the same machine follows a live run, not a closed one.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any, Callable

from .limits import REDIS_READ_BATCH, REDIS_RETRY_BACKOFF_MAX_S
from .protocol import ANSWER_QUEUE, RUN_END_EVENT, RUN_START_EVENT, THINK_QUEUE, TRACE_QUEUE, parse_entry
from .pump import Feed, serve
from .run_text import StreamedText
from .runner import Run, RunSink, _cell_number
from .runtime.backend import START, QueueUnavailableError, SessionClosedError
from .runtime.cancel import CancelToken, RunCancelled

_QUEUES = (ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE)
#: While nothing arrives, the session's state (ended? expired?) is checked this often.
_STATE_EVERY_S = 1.0


class RemoteRunError(RuntimeError):
    """The watched run failed in its own process; ``type``, ``message`` and ``detail`` are its error's."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.type = str(info.get("type") or "Exception")
        self.message = str(info.get("message") or "")
        self.detail = str(info.get("detail") or "")
        super().__init__(f"{self.type}: {self.message} (raised in the process that ran it)")


class SessionNotFoundError(SessionClosedError, LookupError):
    """There is no such session to watch."""


class AttachedRun(Run):
    """A :class:`Run` handle on a run executing in another process: ``text``, ``thinking``, ``trace``,
    ``status``, ``wait()`` as for any run. ``result`` is ``str()`` of the run's return value as its
    run-end marker carried it (cut at 8 KiB); a failed run raises :class:`RemoteRunError`; ``cancel()``
    stops watching (the run goes on where it runs) and ends this handle as cancelled."""

    def __init__(self, session_id: str) -> None:
        super().__init__(_not_callable, f"session {session_id[:8]}…")
        self.attached_session = session_id
        self.remote_id: str | None = None  # the run's id in the process that runs it (its run-start entry)
        self._token = CancelToken()
        # what was streamed, in memory (no backend to read it back from: StreamedText without one)
        self._text = StreamedText(None, session_id, ANSWER_QUEUE)
        self._thinking = StreamedText(None, session_id, THINK_QUEUE)

    @property
    def session_id(self) -> str:
        return self.attached_session

    def cancel(self, reason: str = "stopped watching") -> bool:
        if self._final.done():
            return False
        return self._token.cancel(reason)

    # ---- fed by the follower --------------------------------------------------------

    def _take_start(self, marker: dict[str, Any]) -> None:
        # our own ``id`` stays (a display keys the run by it); the producer's is ``remote_id``
        self.remote_id = str(marker.get("span") or "") or None
        if marker.get("input") is not None:
            self.query = marker["input"]
        if isinstance(marker.get("ts"), (int, float)):
            self.started_at = float(marker["ts"])

    def _absorb(self, text: str, thinking: str, entries: list[Any], deltas: int) -> None:
        with self._lock:
            if (text or thinking) and self.ttft_ms is None:
                self.ttft_ms = round((time.perf_counter() - self._t0) * 1000, 1)
            if text:
                self.tokens += deltas
            self._entries.extend(entries)
        if text:
            self._text.drained(text)  # type: ignore[union-attr]
        if thinking:
            self._thinking.drained(thinking)  # type: ignore[union-attr]

    def _end(self, marker: dict[str, Any] | None, *, stopped: str | None = None) -> None:
        for streamed in (self._text, self._thinking):
            streamed.finish()  # type: ignore[union-attr]
        self.ended_at = time.time()
        if stopped is not None:
            self.status = "cancelled"
            self._exception = RunCancelled(stopped)
        elif marker is None:
            self.status = "done"
            self.add_notice("the session ended without a run-end entry (its producer is not a lazystream runner), "
                            "so how its work ended is not known here")
        else:
            self.status = str(marker.get("status") or "done")  # type: ignore[assignment]
            if isinstance(marker.get("ts"), (int, float)):
                self.ended_at = float(marker["ts"])
            attrs = marker.get("attrs") if isinstance(marker.get("attrs"), dict) else {}
            if isinstance(attrs.get("ttft_ms"), (int, float)):
                self.ttft_ms = attrs["ttft_ms"]  # the producer's, not the time it took us to attach
            if self.status == "done":
                self._result = marker.get("output")
            elif self.status == "cancelled":
                self._exception = RunCancelled((marker.get("error") or {}).get("message") or "cancelled")
            else:
                self._exception = RemoteRunError(marker.get("error") or {})


def _not_callable(_query: Any) -> Any:
    raise TypeError("an attached view watches a run elsewhere: it cannot ask; use StreamView(module) to run here")


class AttachFeed(Feed):
    """One :class:`AttachedRun` on the process's pump (:mod:`.pump`): reads its session with ``read_from``
    and hands what is new to the view, paced like any run; it ends at the run-end marker."""

    __slots__ = ("backend", "reader", "logs", "cursors", "end_marker", "ended", "outage", "backoff", "retry_at",
                 "state_checked")

    def __init__(self, backend: Any, run: AttachedRun, sink: RunSink | None, ctx: contextvars.Context) -> None:
        super().__init__(run, sink, ctx, session_id=run.attached_session)
        self.backend = backend
        self.reader = backend
        self.logs = None  # file backend: the logs opened at attach (readable after the owner deletes them)
        self.cursors = dict.fromkeys(_QUEUES, START)
        self.end_marker: dict[str, Any] | None = None
        self.ended = False  # the session ended (or went) without a run-end marker
        self.outage = False
        self.backoff = 0.05
        self.retry_at: float | None = None  # the queue is unreachable: try again then
        self.state_checked = 0.0

    def open(self) -> None:
        open_logs = getattr(self.backend, "open_logs", None)
        if open_logs is not None:
            try:
                self.reader = self.logs = open_logs(self.session_id, _QUEUES)
            except (SessionClosedError, FileNotFoundError):
                pass  # gone already: what there was cannot be read any more

    def peek_start(self) -> None:
        """Take the run-start entry if the session begins with one (it does once a runner started there)."""
        try:
            items, _ = self.backend.read_from(self.session_id, TRACE_QUEUE, START, limit=1)
        except (SessionClosedError, QueueUnavailableError):
            return
        entry = parse_entry(items[0].decode("utf-8", "surrogatepass")) if items else None
        if isinstance(entry, dict) and entry.get("event") == RUN_START_EVENT:
            self.run._take_start(entry)

    def note_trimmed(self) -> None:
        trimmed = getattr(self.backend, "trimmed", None)  # Redis: MAXLEN may have dropped a long run's start
        if trimmed is None:
            return
        for queue in _QUEUES:
            try:
                n = trimmed(self.session_id, queue)
            except QueueUnavailableError:
                return
            if n:
                self.run.add_notice(f"the first {n} items of {queue} were trimmed away (each stream keeps about "
                                    f"{self.backend.maxlen} items): this replay starts after them")

    # ---- reading ------------------------------------------------------------------------

    def _read(self) -> tuple[str, str, list[Any], int]:
        """Everything new in the three queues (the trace only up to the run's end marker)."""
        out: dict[str, list[bytes]] = {}
        for queue in _QUEUES:
            got: list[bytes] = []
            while True:
                try:
                    items, cursor = self.reader.read_from(self.session_id, queue, self.cursors[queue])
                except SessionClosedError:
                    break  # deleted (file backend): what we read is what there was
                if items:
                    self.cursors[queue] = cursor
                    got.extend(items)
                if len(items) < REDIS_READ_BATCH:
                    break
            out[queue] = got
        entries: list[Any] = []
        for raw in out[TRACE_QUEUE]:
            if self.end_marker is not None:
                break
            entry = parse_entry(raw.decode("utf-8", "surrogatepass"))
            event = entry.get("event") if isinstance(entry, dict) else None
            if event == RUN_START_EVENT:
                self.run._take_start(entry)
            elif event == RUN_END_EVENT:
                self.end_marker = entry
            else:
                entries.append(entry)
        text = "".join(b.decode("utf-8", "surrogatepass") for b in out[ANSWER_QUEUE])
        thinking = "".join(b.decode("utf-8", "surrogatepass") for b in out[THINK_QUEUE])
        return text, thinking, entries, len(out[ANSWER_QUEUE])

    # ---- the pump's hooks (pump thread) ------------------------------------------------------

    def drain(self, files: set[str] | None = None) -> None:
        if self.run._token.cancelled:
            return  # stopped watching: nothing more is read
        now = time.monotonic()
        run: AttachedRun = self.run  # type: ignore[assignment]
        try:
            text, thinking, entries, deltas = self._read()
            quiet = not (text or thinking or entries)
            if self.end_marker is None and quiet and now - self.state_checked >= _STATE_EVERY_S:
                self.state_checked = now  # nothing new for a while: did the session end without a marker?
                if self.backend.session_state(self.session_id) != "open":
                    text, thinking, entries, deltas = self._read()  # the last items before it ended
                    self.ended = True
            if self.outage:
                self.outage = False
                run.add_notice("the queue is reachable again: watching resumed where it stopped")
            self.backoff, self.retry_at = 0.05, None
        except QueueUnavailableError as exc:
            if not self.outage:
                self.outage = True
                run.add_notice(f"the queue is unreachable, retrying: {exc}")
            self.retry_at = now + self.backoff
            self.backoff = min(self.backoff * 2, REDIS_RETRY_BACKOFF_MAX_S)
            return
        if text or thinking or entries:
            run._absorb(text, thinking, entries, deltas)
            if text:
                self.text.append(text)
            if thinking:
                self.thinking.append(thinking)
            self.entries.extend(entries)
        if (self.end_marker is not None or self.ended) and self.pump is not None:
            # the pump decides whether a feed is over before draining it: ask for the next turn, which
            # ends this watcher (nothing more is appended after a run's end to wake it otherwise)
            self.pump.poke(self)

    def over(self, now: float) -> bool:
        return self.end_marker is not None or self.ended or self.run._token.cancelled

    def recheck_at(self, now: float) -> float | None:
        # an outage's next try; else a heartbeat, so a session that ends without a marker (or whose
        # deletion no event reports) is noticed within about _STATE_EVERY_S
        return self.retry_at if self.retry_at is not None else now + _STATE_EVERY_S

    def finish(self) -> None:
        run: AttachedRun = self.run  # type: ignore[assignment]
        stopped: str | None = None
        if self.failure is not None:
            stopped = f"watching failed: {type(self.failure).__name__}: {self.failure}"
        elif run._token.cancelled:
            stopped = run._token.reason or "stopped watching"
            run.add_notice("you stopped watching: the run goes on in its own process (attach again to follow it)")
        run._end(self.end_marker if stopped is None else None, stopped=stopped)

    def close(self) -> None:
        if self.logs is not None:
            self.logs.close()


def attach_run(session_id: str, sink: RunSink | None = None, *, backend: Any = None,
               keep: Callable[[AttachedRun], None] | None = None) -> AttachedRun:
    """Start watching ``session_id``; returns its :class:`AttachedRun` (the sink sees it start, stream, end).

    Raises :class:`SessionNotFoundError` when the session does not exist (closed and deleted, expired,
    or a wrong id / queue setting), and ``ValueError`` for a malformed id.
    """
    from .runtime.session import SESSION_ID_RE, get_backend

    if not isinstance(session_id, str) or not SESSION_ID_RE.fullmatch(session_id):
        raise ValueError(
            f"invalid session id {session_id!r}: expected 32 lowercase hex characters, as given by run.session_id "
            "or printed by python -m lazystream_widget.worker"
        )
    backend = backend or get_backend()
    if backend.session_state(session_id) == "missing":
        hint = (" The file backend deletes a session when its owner closes it; to watch runs after they end, "
                "use Redis (LAZYSTREAM_QUEUE=redis://...).") if not backend.replays else ""
        raise SessionNotFoundError(
            f"no session {session_id[:8]}… in {backend.describe()}: it ended and was deleted, expired, or the id "
            f"or the queue setting is not the producer's.{hint}"
        )
    run = AttachedRun(session_id)
    run.settings = None
    run._cell = _cell_number()
    run._backend = backend
    feed = AttachFeed(backend, run, sink, contextvars.copy_context())
    feed.open()
    feed.peek_start()  # the query is known before the display first shows the run
    feed.note_trimmed()
    if keep is not None:
        keep(run)  # e.g. a view's history, before the view is told the run started
    if sink is not None:
        sink.run_started(run)
    run._sink = sink
    run._feed = feed
    try:
        pump = serve(feed, backend)  # the process's pump for this backend: one thread for every run and watcher
    except BaseException:
        feed.close()
        raise
    run._token.on_cancel(lambda: pump.poke(feed))
    return run
