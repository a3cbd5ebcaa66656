"""A tape: one run's view of a cassette, and the routes that lead its model calls to the proxy.

Every run reads the cassette through its own tape, so runs replaying one cassette at the same
time never take each other's answers: each tape replays each recorded exchange at most once,
in recorded order, and prefers the exchanges of the recorded run it started following. Tapes
are numbered in the order they first call a model (``Entry.run`` when recording).

Outside runs, one *shared* tape serves everything (a module called directly, a client given
``cassette.url()`` outside any run, even when a run later uses that client). It starts over
when a request matches only answers it has already replayed, so re-running a cell replays
the cell again instead of failing.
"""

from __future__ import annotations

import secrets
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from .errors import CassetteError, CassetteMismatchError
from .matcher import rule_names
from .model import Entry, RecordedRequest

if TYPE_CHECKING:
    from .cassette import Cassette

#: Failures a tape keeps for whoever explains a failed run (the LazyLLM adapter), newest last.
_KEPT_FAILURES = 8


class Route:
    """Where a client sends requests meant for ``upstream`` (a real base URL) through one tape."""

    def __init__(self, tape: Tape, upstream: str) -> None:
        self.tape = tape
        self.upstream = upstream.rstrip("/")
        self.token = secrets.token_urlsafe(16)  # unguessable: other local users cannot use the route
        from .proxy import get_proxy

        self.url = get_proxy().register(self)


class Tape:
    def __init__(self, cassette: Cassette, *, shared: bool = False, run: Any = None,
                 cell: tuple[str, str] | None = None) -> None:
        self.cassette = cassette
        self.shared = shared
        self.cell = cell  # the notebook cell execution the run came from (record mode: see Cassette._ordinal_for)
        self._run = weakref.ref(run) if run is not None else None
        self._ordinal: int | None = None
        self._used: set[int] = set()
        self._following: int | None = None  # the recorded run this tape replays
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self.failures: list[tuple[float, CassetteError]] = []  # (time.monotonic(), error), newest last

    @property
    def ordinal(self) -> int:
        """This tape's run number within the cassette (assigned at its first model call)."""
        if self._ordinal is None:
            self._ordinal = self.cassette._ordinal_for(self)
        return self._ordinal

    def tell(self, notice: str) -> None:
        """A one-line notice for the run this tape belongs to (a shared tape has no run to tell)."""
        run = self._run() if self._run is not None else None
        if run is not None:
            run.add_notice(notice)

    def failures_since(self, t0: float) -> list[CassetteError]:
        """The requests this tape could not answer since ``t0`` (``time.monotonic()``), oldest first."""
        with self._lock:
            return [error for at, error in self.failures if at >= t0]

    def route(self, upstream: str) -> Route:
        key = upstream.rstrip("/")
        with self._lock:
            route = self._routes.get(key)
            if route is None:
                route = self._routes[key] = Route(self, key)
        return route

    def take(self, incoming: RecordedRequest) -> Entry:
        """The recorded exchange that answers ``incoming`` (replay), or a clear mismatch error."""
        cassette = self.cassette
        entries = cassette.entries
        matcher = cassette.matcher
        with self._lock:
            ordinal = self.ordinal
            candidates = [i for i, e in enumerate(entries)
                          if i not in self._used and matcher.matches(e.request, incoming)]
            if not candidates and self.shared and any(matcher.matches(entries[i].request, incoming)
                                                      for i in self._used):
                self._used.clear()  # everything it matches was replayed: the shared tape starts over
                self._following = None
                candidates = [i for i, e in enumerate(entries) if matcher.matches(e.request, incoming)]
            if candidates:
                follow = self._following if self._following is not None else ordinal
                preferred = [i for i in candidates if entries[i].run == follow]
                index = (preferred or candidates)[0]
                self._used.add(index)
                self._following = entries[index].run
                cassette._count_replayed()
                return entries[index]
            error = self._mismatch(incoming, entries)
            self.failures = [*self.failures[-(_KEPT_FAILURES - 1):], (time.monotonic(), error)]
        raise error

    def _mismatch(self, incoming: RecordedRequest, entries: list[Entry]) -> CassetteMismatchError:
        """The error for a request with no answer; its first line says the gist (it is what a display shows)."""
        cassette = self.cassette
        matcher = cassette.matcher
        head = f"cassette {cassette.name!r} (replay) has no recorded answer for {incoming.endpoint()}"
        this = f"  this request:    {incoming.summary()}\n"
        tail = ("Nothing was sent to the network (replay mode never does). To record this request, run with "
                "mode='record' (it needs the model's API key), or delete the cassette file and use mode='auto'.")
        if not entries:
            return CassetteMismatchError(f"{head}: the cassette holds no recorded requests\n{this}{tail}")
        used_matches = [i for i, e in enumerate(entries) if i in self._used and matcher.matches(e.request, incoming)]
        if used_matches:
            listed = ", ".join(map(str, used_matches))
            which = f"entr{'ies' if len(used_matches) > 1 else 'y'} {listed}"
            return CassetteMismatchError(
                f"{head}: it matches recorded {which}, which this run has already replayed\n{this}"
                "Each recorded answer is replayed once per run, in order, and this run asks more often than the "
                "recorded one did.\n" + tail,
                closest=used_matches[-1],
            )
        scored = sorted(range(len(entries)), key=lambda i: (matcher.mismatched_rules(entries[i].request, incoming),
                                                            i in self._used, i))
        closest = scored[0]
        differences = matcher.differences(entries[closest].request, incoming)
        lines = "".join(f"    {d}\n" for d in differences)
        gist = differences[0] if differences else "it differs from every recorded request"
        return CassetteMismatchError(
            f"{head}: {gist}\n{this}"
            f"  closest recorded: {entries[closest].request.summary()}  (entry {closest}, run {entries[closest].run})\n"
            f"  what differs (matching on {', '.join(rule_names(matcher.rules))}):\n"
            f"{lines}" + tail,
            closest=closest,
            differences=differences,
        )

