"""How an empty ``dequeue()`` of the file backend waits for the next item.

An empty ``dequeue()`` waits up to ``EMPTY_DEQUEUE_WAIT_S`` for an item before it returns
``[]`` (the seed's busy loop stays cheap). An item appended by this process wakes it through
an :class:`AppendSignal` (a lock released in C by the appender, only when someone waits). On a
session opened by id, whose producer is likely another process, it waits on a
:class:`WatchHandle` instead: an inotify descriptor of the session's queue directory, kept in the
backend's descriptor cache (bounded, closed with the session), which an append from any process
wakes at once. Where inotify is unavailable the signal is the fallback (an append from another
process is then seen when the wait times out).
"""

from __future__ import annotations

import select
import threading

from .descriptors import Handle
from .watch import wait_readable


class AppendSignal:
    """Wakes an empty ``dequeue()`` of this process when an item is appended to its session.

    A lock used as a binary semaphore: a waiter blocks in C (``acquire(timeout)``) and a
    producer's :meth:`bump` is one ``release()`` when someone waits, so the producer's hot
    path runs no Python-level ``Condition`` machinery. A wake-up nobody consumed (the waiter
    timed out at that moment) leaves the lock released: the next wait returns at once, reads
    nothing and waits again (harmless). ``last_data`` (set by reads that returned items) lets
    waiters coalesce wake-ups during a burst: see ``FileBackend.wait_for_item``.
    """

    __slots__ = ("_sem", "_count_lock", "waiters", "last_data")

    def __init__(self) -> None:
        self._sem = threading.Lock()
        self._sem.acquire()  # held = nothing to report
        self._count_lock = threading.Lock()
        self.waiters = 0
        self.last_data = 0.0

    def bump(self) -> None:
        if self.waiters:  # an unlocked read: a waiter that registers just after waits out its timeout at worst
            try:
                self._sem.release()
            except RuntimeError:
                pass  # already released: the waiter has a wake-up pending

    def wait(self, timeout: float) -> bool:
        with self._count_lock:
            self.waiters += 1
        try:
            woken = self._sem.acquire(timeout=max(0.0, timeout))
        finally:
            with self._count_lock:
                self.waiters -= 1
                others = self.waiters
        if woken and others:
            self.bump()  # pass the wake-up on to the next waiter
        return woken


class WatchHandle(Handle):
    """An inotify descriptor watching a session's ``q`` directory (``watch.inotify_descriptor``)."""

    FD_SLOTS = ("fd",)
    __slots__ = ("fd", "_poller")

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self._poller = select.poll()
        self._poller.register(fd, select.POLLIN)

    def wait(self, timeout: float) -> bool:
        """Up to ``timeout`` s, or until a queue file of the session changes (call with the handle in use)."""
        return wait_readable(self._poller, self.fd, timeout)
