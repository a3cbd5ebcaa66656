"""A tape: one run's view of a cassette, and the routes that lead its model calls to the proxy.

Every run (and, outside runs, every ``with cassette(...)`` block) reads the cassette through
its own tape, so runs replaying one cassette at the same time never take each other's
answers: each tape replays each recorded exchange at most once, in recorded order, and
prefers the exchanges of the recorded run it started following. Tapes are numbered in the
order they first call a model (``Entry.run`` when recording).
"""

from __future__ import annotations

import secrets
import threading
from typing import TYPE_CHECKING

from .errors import CassetteMismatchError
from .matcher import rule_names
from .model import Entry, RecordedRequest

if TYPE_CHECKING:
    from .cassette import Cassette


class Route:
    """Where a client sends requests meant for ``upstream`` (a real base URL) through one tape."""

    def __init__(self, tape: Tape, upstream: str) -> None:
        self.tape = tape
        self.upstream = upstream.rstrip("/")
        self.token = secrets.token_urlsafe(16)  # unguessable: other local users cannot use the route
        from .proxy import get_proxy

        self.url = get_proxy().register(self)


class Tape:
    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette
        self._ordinal: int | None = None
        self._used: set[int] = set()
        self._following: int | None = None  # the recorded run this tape replays
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()

    @property
    def ordinal(self) -> int:
        """This tape's run number within the cassette (assigned at its first model call)."""
        if self._ordinal is None:
            self._ordinal = self.cassette._next_ordinal()
        return self._ordinal

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
            if candidates:
                follow = self._following if self._following is not None else ordinal
                preferred = [i for i in candidates if entries[i].run == follow]
                index = (preferred or candidates)[0]
                self._used.add(index)
                self._following = entries[index].run
                cassette._count_replayed()
                return entries[index]
        raise self._mismatch(incoming, entries)

    def _mismatch(self, incoming: RecordedRequest, entries: list[Entry]) -> CassetteMismatchError:
        cassette = self.cassette
        matcher = cassette.matcher
        head = (f"cassette {cassette.name!r} (replay) has no recorded answer for this request:\n"
                f"  {incoming.summary()}\n")
        tail = ("Nothing was sent to the network (replay mode never does). To record this request, run with "
                "mode='record' (it needs the model's API key), or delete the cassette file and use mode='auto'.")
        if not entries:
            return CassetteMismatchError(head + "The cassette holds no recorded requests.\n" + tail)
        used_matches = [i for i, e in enumerate(entries) if i in self._used and matcher.matches(e.request, incoming)]
        if used_matches:
            listed = ", ".join(map(str, used_matches))
            return CassetteMismatchError(
                head + f"It matches recorded entr{'ies' if len(used_matches) > 1 else 'y'} {listed}, which this run "
                "has already replayed: each recorded answer is replayed once per run, in order, and this run asks "
                "more often than the recorded one did.\n" + tail,
                closest=used_matches[-1],
            )
        scored = sorted(range(len(entries)), key=lambda i: (matcher.mismatched_rules(entries[i].request, incoming),
                                                            i in self._used, i))
        closest = scored[0]
        differences = matcher.differences(entries[closest].request, incoming)
        lines = "".join(f"    {d}\n" for d in differences)
        return CassetteMismatchError(
            head + f"Closest recorded request: entry {closest} (run {entries[closest].run}):\n"
            f"  {entries[closest].request.summary()}\n"
            f"  what differs (matching on {', '.join(rule_names(matcher.rules))}):\n"
            f"{lines}" + tail,
            closest=closest,
            differences=differences,
        )

