"""The pump: one thread that drains every live run's queues into its display, paced.

One daemon thread serves all runs of the process. It waits on one
:class:`~lazystream_widget.runtime.watchset.InotifyWatchSet` (one descriptor, a watch per
live session, plus a wake-up pipe), so an idle kernel costs nothing and CPU grows with
tokens per second, not with the number of runs (a thread per run woke, drained and slept
on its own: 100 runs at 20 tokens/s took a whole core).

For each run (a :class:`Feed`):

* something was appended → drain its queues; if its view may send now (:mod:`.pacing`:
  one message per display frame per view, one budget per kernel), hand the sink what is
  new at once, so the first delta after a quiet spell is never held back (nor the run's
  first answer text, even right after a message of trace entries);
* otherwise *park* it: stop watching its session until its send slot, then drain once and
  send everything that gathered meanwhile. A fast stream costs one drain and one message
  per frame, not one wake-up per token (which would take the GIL from the producer);
* when the kernel's budget, not the view's frame, holds it back, it waits *in line*: parked
  runs whose frame has come are served first come, first served, one per message the budget
  allows. Each waiting run costs nothing until its turn (no timer, no drain); with a timer
  each, every run woke whenever the budget allowed one message, one of them sent it and the
  others drained their queues and parked again (100 runs at 20 tokens/s: seven useless
  drain-and-park rounds per message sent);
* its work returned, its future finished, or it was cancelled → serve it at once (pokes
  through the wake-up pipe); when it is over, the last delta then the final state go out,
  in that order, whatever the pacing.

Sinks are called in the context of the cell that started the run (``feed.ctx.run``):
ipykernel routes widget messages by that context. A sink that raises stops its own run
(:class:`RunDisplayError`), never the pump or another run. A sink that *blocks* holds every
run of the process: sinks must not block (the StreamView only queues messages).
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from .limits import READ_HOLD_MAX_S, READ_HOLD_SHARE
from .pacing import Pacer

if TYPE_CHECKING:
    from .runner import Run, RunSink

#: After a cancel, how long the run may take to wind down before we call it cancelled anyway.
CANCEL_GRACE_S = 2.0
#: Messages a sink sends when a run starts (``run_start`` and the ``runs`` trait) and when it ends
#: (the final ``runs`` trait): counted against the kernel's budget.
START_MESSAGES = 2
FINISH_MESSAGES = 1


class Feed:
    """One run's link to the pump. Created by ``Run.start``; after :meth:`Pump.add`, the pump thread owns it.

    A run of this process is the usual feed; a watcher of a run elsewhere (``attach.py``) is another
    kind, overriding the hooks below (:meth:`drain`, :meth:`over`, :meth:`recheck_at`, :meth:`finish`,
    :meth:`close`), so one pump serves both.
    """

    __slots__ = ("run", "sink", "ctx", "lane", "session_id", "future", "text", "thinking", "entries",
                 "parked", "timer", "cancelled_at", "failure", "work_ended", "text_sent", "pump", "__weakref__")

    def __init__(self, run: Run, sink: RunSink | None, ctx: Any, session_id: str | None = None) -> None:
        self.run = run
        self.sink = sink
        self.ctx = ctx  # the starting cell's context: every sink call runs in it
        #: views pace per lane: one lane per sink (several runs of one view share it), else per run
        self.lane: Hashable = ("sink", id(sink)) if sink is not None else ("run", id(self))
        self.session_id: str = session_id if session_id is not None else run._session.id
        self.pump: Pump | None = None  # the pump serving it (set by Pump.add)
        self.future: Any = None  # set once the work is submitted
        self.text: list[str] = []  # drained, not yet handed to the sink
        self.thinking: list[str] = []
        self.entries: list[Any] = []
        self.parked = False
        self.timer: int | None = None  # the sequence number of this feed's live timer
        self.cancelled_at: float | None = None
        self.failure: BaseException | None = None  # the sink raised: the run stops
        self.work_ended = False
        self.text_sent = False  # the first answer text went (it goes at once, whatever the frame)

    # ---- what the pump calls (pump thread) ----------------------------------------

    def drain(self, files: set[str] | None = None) -> None:
        """Take what the run's queues hold; ``files``: only the queues whose log files changed (None: all)."""
        queues = None if files is None else [name[:-4] for name in files if name.endswith(".log")]
        if queues is not None and not queues:
            return  # something else in the directory changed
        text, thinking, entries = self.run._drain(queues)
        if text:
            self.text.append(text)
        if thinking:
            self.thinking.append(thinking)
        if entries:
            self.entries.extend(entries)

    def pending(self) -> bool:
        return bool(self.text or self.thinking or self.entries) or self.run._has_new_notices()

    def send(self) -> None:
        """Hand the sink what is new (in the starting cell's context); a failing sink stops this run."""
        text, thinking, entries = "".join(self.text), "".join(self.thinking), self.entries
        self.text_sent = self.text_sent or bool(text)
        self.text, self.thinking, self.entries = [], [], []
        if self.sink is None or self.failure is not None:
            self.run.take_new_notices()  # nobody to show them to
            return
        try:
            self.ctx.run(self.sink.run_delta, self.run, text, thinking, entries)
        except BaseException as exc:  # the display broke: stop the run, keep its text (run.text)
            self.failure = exc
            self.run._token.cancel(f"the run's display failed: {type(exc).__name__}: {exc}")

    def over(self, now: float) -> bool:
        """The run is over: its work finished, or a cancel was not honoured within the grace period."""
        if self.future is not None and self.future.done():
            return True
        return self.cancelled_at is not None and now - self.cancelled_at >= CANCEL_GRACE_S

    def recheck_at(self, now: float) -> float | None:
        """When the pump must serve this feed again even if nothing is appended (None: only on events)."""
        return self.cancelled_at + CANCEL_GRACE_S if self.cancelled_at is not None else None  # end an unheeded cancel

    def finish(self) -> None:
        """The run is over (in the starting cell's context): settle its status, result and error."""
        self.run._finish(self.future, self.failure)

    def close(self) -> None:
        """After the final state went out: the run-end marker, then the session closes."""
        self.run._close_session()


class Pump:
    """See the module docstring. One per process: :func:`get_pump`."""

    def __init__(self, backend: Any, pacer: Pacer | None = None) -> None:
        from .runtime.watchset import watch_set_for

        self.backend = backend
        self.pacer = pacer or Pacer()
        self._retired = False
        self._stopped = False  # the thread has ended (set under _lock): add() refuses
        self._watch = watch_set_for(backend)
        self._lock = threading.Lock()
        self._incoming: list[Feed] = []
        self._poked: set[Feed] = set()
        self._feeds: set[Feed] = set()  # pump thread only
        self._timers: list[tuple[float, int, Feed]] = []  # heap, pump thread only
        #: parked feeds whose frame has come, waiting for the kernel's budget, first come first served
        self._line: OrderedDict[Feed, None] = OrderedDict()  # pump thread only
        self._seq = itertools.count()
        self._lane_runs: dict[Hashable, int] = {}
        self.wakeups = 0  # how often the thread woke (tests and benchmarks read it)
        self._thread = threading.Thread(target=self._loop, name="lazystream-pump", daemon=True)
        self._thread.start()

    # ---- any thread -------------------------------------------------------------

    def add(self, feed: Feed) -> bool:
        """Start serving ``feed``: its session is watched from now on, so no append can be missed.

        False if this pump has stopped (retired while idle): use :func:`serve`, which takes a live one.
        """
        with self._lock:  # atomic with the thread's last look before it stops (_loop)
            if self._stopped:
                return False
            feed.pump = self
            self._watch.add(feed, feed.session_id)
            self._incoming.append(feed)
        if feed.sink is not None:  # the run's start messages count against the kernel's budget, not its view's frame
            self.pacer.charge(None, time.monotonic(), START_MESSAGES)
        self._watch.wake()
        return True

    def poke(self, feed: Feed) -> None:
        """Serve ``feed`` now, whatever its pacing (its work ended, it was cancelled, a notice came)."""
        with self._lock:
            self._poked.add(feed)
        self._watch.wake()

    @property
    def live(self) -> int:
        return len(self._feeds)

    def idle(self) -> bool:
        """Serving no run, and none waiting to be added."""
        with self._lock:
            return not self._feeds and not self._incoming

    # ---- the pump thread ------------------------------------------------------------

    def retire(self) -> None:
        """Stop the thread once the runs it serves have ended (the process switched queue backends)."""
        self._retired = True
        self._watch.wake()

    def _loop(self) -> None:
        while True:
            try:
                self._turn()
            except BaseException as exc:  # a bug here must not stop every run of the process
                _report(exc)
                time.sleep(0.05)
            if self._retired:
                with self._lock:
                    idle = self._stopped = not self._feeds and not self._incoming
                if idle:
                    self._watch.close()
                    return

    def _turn(self) -> None:
        changed, _ = self._watch.wait(self._timeout())
        self.wakeups += 1
        now = time.monotonic()
        with self._lock:
            incoming, self._incoming = self._incoming, []
            poked, self._poked = self._poked, set()
        for feed in incoming:
            self._feeds.add(feed)
            self._lane_runs[feed.lane] = self._lane_runs.get(feed.lane, 0) + 1
        for feed in incoming:
            self._serve(feed, urgent=True)
        for feed in poked:
            if feed in self._feeds:
                self._serve(feed, urgent=True)
        for feed, files in changed.items():
            if feed in self._feeds and feed not in poked and feed not in incoming:
                self._serve(feed, urgent=False, files=files)
        while self._timers and self._timers[0][0] <= now:
            _, seq, feed = heapq.heappop(self._timers)
            if feed.timer == seq and feed in self._feeds:
                feed.timer = None
                if self._waits_for_budget(feed, now):
                    self._line[feed] = None  # its frame came, the budget did not: wait in line, parked
                else:
                    self._serve(feed, urgent=True)
        self._serve_line()

    def _waits_for_budget(self, feed: Feed, now: float) -> bool:
        """A parked feed whose frame came must wait in line: the kernel's budget allows no message now,
        or others wait before it. Not a feed whose work ended or that was cancelled: those go at once."""
        if not feed.parked or feed.sink is None or feed.work_ended or feed.cancelled_at is not None:
            return False
        return bool(self._line) or self.pacer.budget_due(now) > now

    def _serve_line(self) -> None:
        """Serve the feeds waiting in line, in order, as long as the kernel's budget allows a message."""
        line = self._line
        while line:
            feed = next(iter(line))
            if feed not in self._feeds or not feed.parked:
                del line[feed]  # ended, or served meanwhile (a poke)
                continue
            now = time.monotonic()
            if self.pacer.budget_due(now) > now:
                return
            if self._take_turn(feed, now):
                continue  # it sent, and waits again at the back of the line, still parked
            self._serve(feed, urgent=True)  # unparks, drains and sends (leaving the line): the budget allows it
            if feed in line and feed.parked:  # it could not send after all: its frame's timer brings it back
                del line[feed]
                if feed.timer is None:
                    self._arm(feed, self.pacer.due(feed.lane, now, budget=False))

    def _take_turn(self, feed: Feed, now: float) -> bool:
        """A busy view's turn in line: drain and send, then back to the end of the line, still parked.

        Only while others wait in line behind it (the kernel's budget, not the view's frame, sets the
        pace): the feed is neither watched again nor parked again between two of its messages. Unparked,
        its next append woke the pump only to park it again, and every park and unpark is a system call
        (an inotify watch removed and added, the removal itself waking the pump once more): about 2.5
        wake-ups of the pump per message at 100 busy views, one now. Its run is told when its next turn
        is about due, so that its model's stream is read in one go shortly before, not token by token
        (a run thread woken per token was most of the kernel's CPU at 100 runs; what the view shows at
        each turn is the same). False: nothing was sent, serve it the usual way (it is quiet, over,
        ending or cancelled, or its frame has not come); True: it sent and went to the back of the line,
        or (rarely) the budget went to a starting run meanwhile and it stays first, drained.
        """
        if (len(self._line) < 2 or feed.sink is None or feed.work_ended or feed.cancelled_at is not None
                or feed.run._token.cancelled or feed.over(now) or self.pacer.due(feed.lane, now) > now):
            return False
        if not self._drain(feed, None) or not feed.pending():
            return False  # quiet: the usual way watches it again (and reads what came meanwhile)
        if not self.pacer.take(feed.lane, now):
            return True  # a run starting in another thread took the budget meanwhile: it stays first in line
        feed.send()
        self.pacer.sent(feed.lane, time.monotonic())
        self._line.move_to_end(feed)
        # its next turn is about (those ahead of it) / (the budget's rate) away: its model's stream may
        # wait to be read until shortly before (runtime/cancel.py, CancelToken.hold_reads_until)
        ahead = (len(self._line) - 1) / self.pacer.rate
        feed.run._token.hold_reads_until = now + min(READ_HOLD_MAX_S, READ_HOLD_SHARE * ahead)
        return True

    def _drain(self, feed: Feed, files: set[str] | None) -> bool:
        """Drain ``feed``'s queues; False if reading them failed (the run then ends with that error)."""
        try:
            feed.drain(files)
            return True
        except BaseException as exc:
            feed.failure = feed.failure or exc
            feed.run._token.cancel(f"reading the run's queues failed: {type(exc).__name__}: {exc}")
            return False

    def _timeout(self) -> float | None:
        while self._timers and self._timers[0][2].timer != self._timers[0][1]:
            heapq.heappop(self._timers)  # stale: re-armed or served since
        now = time.monotonic()
        due = self.pacer.budget_due(now) if self._line else None  # the next turn of the line
        if self._timers:
            due = self._timers[0][0] if due is None else min(due, self._timers[0][0])
        if due is None:
            return None  # nothing due: sleep until an append or a poke
        return max(0.0, due - now)

    def _arm(self, feed: Feed, at: float) -> None:
        seq = next(self._seq)
        feed.timer = seq
        heapq.heappush(self._timers, (at, seq, feed))

    def _serve(self, feed: Feed, urgent: bool, files: set[str] | None = None) -> None:
        """Drain ``feed`` and send, park or end it.

        ``urgent``: a poke or a timer, else an append event; ``files``: the queue files the event named.
        """
        now = time.monotonic()  # not the turn's start: other feeds may have been served since
        if feed.parked and not urgent:
            return  # an event queued before it was parked: its slot will come
        if feed.parked:
            feed.parked = False
            feed.run._token.hold_reads_until = 0.0  # out of line: its tokens are wanted as they come
            self._watch.unpark(feed)  # before draining: nothing appended from now on is missed
        # Whether the run is over is decided BEFORE the drain: work that had returned by now wrote all it
        # will write, so this drain (of every queue) takes the last of it. Decided after, the work could
        # write its last entries (the model call's and the agent's span ends) and return between the
        # drain and the check, and the run ended without them. Work that returns during the drain is
        # ended at the next turn (its future's done callback pokes the feed).
        over = feed.over(now)
        self._drain(feed, None if urgent or over else files)
        if feed.cancelled_at is None and feed.run._token.cancelled:
            feed.cancelled_at = now
        if over:
            self._end(feed)
            return
        if feed.pending():
            if feed.work_ended and feed.future is not None and not feed.future.done():
                # the work returned and its thread is ending: its future's done callback pokes this feed
                # within moments, and that turn ends the run with all that is left in one message. Sent
                # now, the end could go as two messages within a frame (what the work's last writes
                # add after this drain, e.g. a trace entry, would follow at once).
                return
            # the first answer text and the last tokens (the module returned) go at once, whatever the
            # frame: time to first token and to the end are what users feel most (one message each)
            if feed.work_ended or (feed.text and not feed.text_sent):
                self._line.pop(feed, None)
                if feed.sink is not None:
                    self.pacer.charge(feed.lane, now)
                feed.send()
                if feed.sink is not None:  # the view's next frame counts from when this went, as for paced ones
                    self.pacer.sent(feed.lane, time.monotonic())
            elif not (feed.sink is not None and self._line and feed not in self._line) and self.pacer.take(
                    feed.lane, now, budget=feed.sink is not None):  # views waiting in line go first
                self._line.pop(feed, None)
                feed.send()
                self.pacer.sent(feed.lane, time.monotonic())
            else:
                feed.parked = True
                self._watch.park(feed)
                frame_due = self.pacer.due(feed.lane, now, budget=False)
                if feed.sink is not None and frame_due <= now:
                    self._line[feed] = None  # only the kernel's budget holds it: wait in line (keeps its place)
                else:
                    self._arm(feed, frame_due)  # its frame first; then the line, if the budget is short
                return
        if feed.timer is None:
            at = feed.recheck_at(now)  # e.g. end it even if the module never honours a cancel
            if at is not None:
                self._arm(feed, at)

    def _end(self, feed: Feed) -> None:
        """The run is over: last delta, then the final state (in that order), then its session closes."""
        self._feeds.discard(feed)
        self._line.pop(feed, None)
        feed.timer = None
        self._watch.remove(feed)
        left = self._lane_runs.get(feed.lane, 1) - 1
        if left > 0:
            self._lane_runs[feed.lane] = left
        else:
            self._lane_runs.pop(feed.lane, None)
            self.pacer.forget(feed.lane)
        run = feed.run
        try:
            if feed.pending():
                if feed.sink is not None and feed.failure is None:
                    self.pacer.charge(feed.lane, time.monotonic())
                feed.send()
            feed.ctx.run(feed.finish)
            if feed.sink is not None:
                self.pacer.charge(None, time.monotonic(), FINISH_MESSAGES)
                try:
                    feed.ctx.run(feed.sink.run_finished, run)
                except BaseException as exc:  # the run is over; show the broken display, keep the pump
                    feed.ctx.run(_report, exc)
        finally:
            try:
                feed.close()
            finally:
                run._final.set_result(None)


def _report(exc: BaseException) -> None:
    """Show an error of the pump thread the way an uncaught thread error is shown (in the cell, in Jupyter)."""
    args = threading.ExceptHookArgs([type(exc), exc, exc.__traceback__, threading.current_thread()])
    threading.excepthook(args)


#: The pumps by backend (``id``): one per backend in use, e.g. the file store and a Redis server at once.
_pumps: dict[int, Pump] = {}
_pump_lock = threading.Lock()


def get_pump(backend: Any = None) -> Pump:
    """The pump for ``backend`` (default: the process's queue backend), started on first use.

    One pump runs per backend in use (runs on the file store and on Redis can stream side by side);
    when a pump for a new backend starts (``set_backend``, a new queue home in tests, another Redis
    URL), the pumps of other backends that serve nothing are stopped (they start again if needed),
    and a busy one stops once its runs have ended.
    """
    if backend is None:
        from .runtime.session import get_backend

        backend = get_backend()
    pump = _pumps.get(id(backend))
    if pump is not None and pump.backend is backend and not pump._retired:
        return pump
    with _pump_lock:
        pump = _pumps.get(id(backend))
        if pump is None or pump.backend is not backend or pump._retired:
            for key, other in list(_pumps.items()):
                if other._retired or other.idle():
                    other.retire()
                    del _pumps[key]
            pump = _pumps[id(backend)] = Pump(backend)
        return pump


def serve(feed: Feed, backend: Any) -> Pump:
    """Hand ``feed`` to the pump of ``backend`` (started if needed); returns that pump."""
    while True:
        pump = get_pump(backend)
        if pump.add(feed):
            return pump
        # that pump stopped between get_pump() and add() (retired while idle): the next call starts another


def _forget_pump_in_child() -> None:
    global _pumps, _pump_lock
    _pumps, _pump_lock = {}, threading.Lock()  # a forked child has no pump thread: start its own


os.register_at_fork(after_in_child=_forget_pump_in_child)
