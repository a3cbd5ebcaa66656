"""A bounded, reference-counted cache of open descriptors (least recently used closed first).

Opening a queue's files costs a dozen system calls, so the backend keeps them open
between calls. Unbounded, that cache ran a producer writing into many sessions out of
descriptors (EMFILE after 114 sessions under ``ulimit -n 1024``). Here the number of
descriptors held is bounded (``QUEUE_DESCRIPTORS_MAX``, lowered to a quarter of the
process's own limit when that is smaller), and the least recently used idle entries
are closed to stay under it.

An entry in use by another thread is never closed under it: closing a descriptor that
a writer is about to use could make its write land in whatever file reuses that
number. An entry evicted or dropped while in use is closed by its last user's
:meth:`DescriptorCache.release`.

The hit path (every append) takes no lock: ``users`` is a list whose ``append`` and
``pop`` are atomic, and the order of the steps makes the race safe. An evictor first
marks the entry ``evicted`` and then looks at ``users``; a user first appends to
``users`` and then looks at ``evicted``. So either the evictor sees the user (and
leaves the descriptors open for it), or the user sees the mark (and backs off
without touching them). Descriptors are only ever closed under the cache's lock, once.

A queue's appender (``log_appender.py``, the per-token hot path) uses a cheaper mark: the
handle's ``write_token``, which it holds around each write. Closing takes that token too, so a
write in progress always finishes on the descriptor it started with, and the appender looks at
``evicted`` while it holds the token (the evictor sets the mark before it takes the token to
close), so it never writes through a handle it has seen evicted. The token is a lock: a
``SimpleQueue`` holding one item, taken with ``get()`` and given back with ``put(None)``, because
those two calls cost about a quarter less than ``Lock.acquire`` / ``release`` (which parse their
arguments on every call), on a path taken once per streamed token.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from queue import Empty, SimpleQueue
from typing import TypeVar

from .. import limits

log = logging.getLogger("lazystream_widget.queue")


class Handle:
    """Descriptors held for one key. Subclasses name theirs in ``FD_SLOTS`` (-1 = not open)."""

    FD_SLOTS: tuple[str, ...] = ()
    __slots__ = ("users", "evicted", "closed", "used_at", "checked_at", "mutex", "write_token")

    def __init__(self) -> None:
        self.users: list[None] = []  # one element per user; list append/pop are atomic
        self.evicted = False
        self.closed = False
        self.used_at = time.monotonic()
        self.checked_at = 0.0  # monotonic time of the last "do the files still exist?" check
        self.mutex = threading.Lock()
        #: queue handles: the token (a lock, see the module docstring) appenders hold around each write through
        #: this handle (it marks the handle in use instead of ``users``): :meth:`close` takes it, so it never
        #: closes a descriptor under a write
        self.write_token: SimpleQueue[None] | None = None

    def main_fd(self) -> int:
        """The descriptor whose link count says whether the entry's files still exist."""
        return getattr(self, self.FD_SLOTS[0])

    def open_fds(self) -> int:
        return sum(1 for slot in self.FD_SLOTS if getattr(self, slot) >= 0)

    def close(self) -> None:
        """Close every descriptor (call with the cache's lock held, or on a handle no one else knows).

        Waits for a write in progress through the handle's appender (``write_token``): the appender never
        takes the cache's lock while it holds the token, so this order cannot deadlock. A token not given
        back within ``WRITE_TOKEN_WAIT_S`` was lost: the descriptors are left open (see that limit).
        """
        token = self.write_token
        if token is None:
            self._close_fds()
            return
        if not take_write_token(token):
            self.closed = True
            log.warning("a queue descriptor's write token was not given back within %s s; its descriptors "
                        "are left open rather than closed under a write", limits.WRITE_TOKEN_WAIT_S)
            return
        try:
            self._close_fds()
        finally:
            token.put(None)

    def _close_fds(self) -> None:
        self.closed = True
        for slot in self.FD_SLOTS:
            fd = getattr(self, slot)
            if fd >= 0:
                setattr(self, slot, -1)
                try:
                    os.close(fd)
                except OSError:
                    pass


def take_write_token(token: SimpleQueue[None]) -> bool:
    """Take ``token``, waiting for the write holding it; False if it is not given back in ``WRITE_TOKEN_WAIT_S``."""
    try:
        token.get(timeout=limits.WRITE_TOKEN_WAIT_S)
    except Empty:
        return False
    return True


def write_token() -> SimpleQueue[None]:
    """A free write token: ``get()`` takes it (waiting while another write holds it), ``put(None)`` gives it back."""
    token: SimpleQueue[None] = SimpleQueue()
    token.put(None)
    return token


# ---- the file backend's entries ------------------------------------------------------


class DirHandle(Handle):
    """The session's directory."""

    FD_SLOTS = ("fd",)
    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd


class QueueHandle(Handle):
    """One queue's files: the log (writers), and the position and lock files (opened by the first read)."""

    FD_SLOTS = ("log_fd", "off_fd", "lock_fd")
    __slots__ = ("log_fd", "off_fd", "lock_fd", "quiet_mtime")
    write_token: SimpleQueue[None]  # always set here (optional only on the base class)

    def __init__(self, log_fd: int) -> None:
        super().__init__()
        self.write_token = write_token()
        self.log_fd = log_fd
        self.off_fd = -1
        self.lock_fd = -1
        #: the log's mtime (ns) when a read last found it ending exactly at the position, checked: an empty
        #: poll that sees the same size and mtime needs no other check
        self.quiet_mtime = -1


class SeqHandle(Handle):
    """The session's trace sequence counter."""

    FD_SLOTS = ("fd",)
    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd


def descriptor_bound() -> int:
    """How many descriptors the file backend may keep: QUEUE_DESCRIPTORS_MAX, or a quarter of ``ulimit -n``."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return limits.QUEUE_DESCRIPTORS_MAX
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return limits.QUEUE_DESCRIPTORS_MAX
    return max(8, min(limits.QUEUE_DESCRIPTORS_MAX, soft // 4))


H = TypeVar("H", bound=Handle)


class DescriptorCache:
    def __init__(self, max_fds: int) -> None:
        self.max_fds = max_fds
        self._entries: dict[Hashable, Handle] = {}
        self._lock = threading.Lock()
        self._open = 0  # descriptors held by cached entries

    def use(self, key: Hashable) -> Handle | None:
        """The cached entry for ``key`` marked in use (pair with :meth:`release`), or None on a miss."""
        handle = self._entries.get(key)
        if handle is None:
            return None
        handle.users.append(None)
        if handle.evicted:  # lost a race with an evictor: never touch its descriptors
            self.release(handle)
            return None
        return handle

    def acquire(self, key: Hashable, opener: Callable[[], H]) -> H:
        """The entry for ``key`` (opened with ``opener`` on a miss), marked in use: pair with :meth:`release`."""
        handle = self.use(key)
        if handle is not None:
            return handle  # type: ignore[return-value]
        fresh = opener()  # outside the lock: openers acquire other entries (the session's directory)
        with self._lock:
            handle = self._entries.get(key)
            if handle is None:
                handle = self._entries[key] = fresh
                self._open += fresh.open_fds()
            else:
                fresh.close()  # another thread opened it meanwhile
            handle.users.append(None)  # under the lock: no evictor can run between the lookup and this
            self._evict_locked()
        return handle  # type: ignore[return-value]

    def release(self, handle: Handle) -> None:
        handle.users.pop()
        if handle.evicted and not handle.users:
            with self._lock:
                if not handle.users and not handle.closed:
                    handle.close()

    def add_fds(self, handle: Handle, **slots: int) -> None:
        """Store descriptors opened later into ``handle`` (in use); count them and evict others if needed."""
        with self._lock:
            for slot, fd in slots.items():
                setattr(handle, slot, fd)
            if not handle.evicted:
                self._open += len(slots)
                self._evict_locked()

    def drop(self, match: Callable[[Hashable], bool]) -> None:
        """Forget every entry whose key matches; close the idle ones now, the others on their last release."""
        with self._lock:
            for key in [k for k in self._entries if match(k)]:
                self._remove_locked(key)

    def shrink(self) -> None:
        """Close every idle entry (after EMFILE: make room for the open that failed)."""
        with self._lock:
            for key in [k for k, h in self._entries.items() if not h.users]:
                self._remove_locked(key)

    def close_all(self) -> None:
        self.drop(lambda _key: True)

    def open_descriptors(self) -> int:
        with self._lock:
            return self._open

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._entries)

    # ---- under self._lock ---------------------------------------------------------

    def _evict_locked(self) -> None:
        if self._open <= self.max_fds:
            return
        idle = sorted((h.used_at, i, k) for i, (k, h) in enumerate(self._entries.items()) if not h.users)
        for _used_at, _i, key in idle:  # least recently used first
            self._remove_locked(key)
            if self._open <= self.max_fds:
                return
        # every entry is in use: over the bound until they are released (never close one in use)

    def _remove_locked(self, key: Hashable) -> None:
        handle = self._entries.pop(key)
        self._open -= handle.open_fds()
        handle.evicted = True  # first the mark, then the look at users (see the module docstring)
        if not handle.users and not handle.closed:
            handle.close()
