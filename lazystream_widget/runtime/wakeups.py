"""How an empty ``dequeue()`` of the file backend waits for the next item.

An empty ``dequeue()`` waits up to ``EMPTY_DEQUEUE_WAIT_S`` for an item before it returns
``[]`` (the seed's busy loop stays cheap). An item appended by this process wakes it through
an :class:`AppendSignal` (a lock released in C by the appender, only when someone waits).
"""

from __future__ import annotations

import threading


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
