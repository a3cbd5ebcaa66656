"""Waiting for Redis sessions to change, served by the backend's one shared reader.

Both are thin: the blocking happens once per process in :class:`~.redis_reader.StreamReader`
(one XREAD over every watched session's streams), which calls them when their session changed.

* :class:`RedisSessionWatcher` is ``Session.watcher()`` on Redis: ``wait(timeout)`` returns True when
  something was appended to the session's answer, thinking or trace stream (or any other queue the
  session had when it was made) since the watcher was made or last returned True. Edge-triggered like
  the file backend's inotify watcher; no thread and no connection of its own.
* :class:`RedisWatchSet` is the pump's watch set on Redis (one per pump, any number of sessions).
* :class:`DequeueWaits`: where empty ``dequeue()`` calls on one session wait (``RedisBackend.wait_for_item``).

A lost connection is not an error here: waits time out (False) while the reader reconnects, then
every waiter is woken once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Hashable
from typing import Any

from ..protocol import ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE
from .watchset import ReportingWatchSet


class RedisSessionWatcher:
    def __init__(self, backend: Any, session_id: str) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._pending = False
        ref = weakref.ref(self)

        def changed(_keys: object) -> None:  # holds no reference to the watcher: one dropped unclosed is collected
            watcher = ref()
            if watcher is not None:
                watcher._changed()

        self._sub = backend.subscribe(session_id, changed)
        self._reader = backend.reader

    def _changed(self) -> None:
        with self._cond:
            self._pending = True
            self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        if not self._sub.active:  # closed
            time.sleep(max(0.0, timeout))
            return False
        with self._cond:
            if not self._pending:
                self._cond.wait(max(0.0, timeout))
            got, self._pending = self._pending, False
        return got

    def close(self) -> None:
        self._reader.unsubscribe(self._sub)

    def __del__(self) -> None:  # never takes the reader's lock here (a collection may run inside it)
        try:
            self._sub.active = False  # the reader sweeps it
        except Exception:
            pass


class DequeueWaits:
    """Empty ``dequeue()`` calls waiting on one session: woken by the shared reader or a local append.

    ``gen`` counts the wake-ups; a read notes it (per thread), so an append that lands between an empty
    read and its wait ends that wait at once instead of being slept through.
    """

    __slots__ = ("cond", "gen", "waiting", "sub")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.gen = 0
        self.waiting = 0
        self.sub: Any = None  # its Subscription of the shared reader

    def changed(self, _keys: object = None) -> None:
        self.gen += 1
        if self.waiting:  # an unlocked read: a waiter that just missed it sees the new gen, or waits out its few ms
            with self.cond:
                self.cond.notify_all()


class RedisWatchSet(ReportingWatchSet):
    """The pump's watch set on Redis: each session a subscription of the backend's shared reader."""

    def __init__(self, backend: Any) -> None:
        super().__init__()
        self._backend = backend
        self._subs: dict[Hashable, Any] = {}

    def add(self, key: Hashable, session_id: str) -> None:
        def changed(keys: set[bytes] | None) -> None:  # the pump drains only the queues that changed
            self.report(key, None if keys is None else {queue_of(k) + ".log" for k in keys})

        sub = self._backend.subscribe(session_id, changed)
        with self._cond:
            self._subs[key] = sub

    def remove(self, key: Hashable) -> None:
        with self._cond:
            sub = self._subs.pop(key, None)
            self._forget(key)
        if sub is not None:
            self._backend.reader.unsubscribe(sub)

    def close(self) -> None:
        with self._cond:
            subs = list(self._subs.values())
            self._subs.clear()
        for sub in subs:
            self._backend.reader.unsubscribe(sub)


def queue_of(stream_key: bytes) -> str:
    """The queue name of a stream key (``<prefix>{sid}:q:<queue>``)."""
    return stream_key.rpartition(b":q:")[2].decode()


def standard_queues() -> tuple[str, ...]:
    return (ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE)
