"""Waiting for appends to many sessions at once, in one thread, on one descriptor.

The runner's pump serves every live run of the process from one thread. It waits on a
:class:`WatchSet`: sessions are added under a key, reported by key when something was
appended to them, and can be *parked* (no longer reported) while their run waits for its
next send slot, so a fast stream does not wake the pump once per token.

* :class:`InotifyWatchSet` (Linux, file backend): one inotify descriptor for all sessions,
  one watch per session's ``q/`` directory (``inotify_add_watch`` / ``inotify_rm_watch``
  to park and unpark), plus a pipe so other threads can wake the waiter. Idle costs nothing;
  a wake-up costs one ``poll`` and one ``read`` however many sessions changed. A session
  whose watch cannot be added (the per-user watch limit) is polled every
  ``POLL_FALLBACK_S`` instead.
* :class:`ThreadedWatchSet`: for backends without their own (``backend.watcher(session)``
  per session, each on a small helper thread): correct, with a thread per watched session.
  The Redis backend has its own (``redis_watch.RedisWatchSet``: its one shared reader reports to
  a :class:`ReportingWatchSet`).
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
import threading
import time
from collections.abc import Hashable
from typing import Any, Callable

from .watch import _load_libc

_IN_MODIFY = 0x00000002
_IN_CREATE = 0x00000100
_IN_MOVED_TO = 0x00000080
_IN_DELETE_SELF = 0x00000400
_IN_IGNORED = 0x00008000
_MASK = _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO | _IN_DELETE_SELF
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)

#: How often sessions whose inotify watch could not be added are polled (reported as active).
POLL_FALLBACK_S = 0.005


class InotifyWatchSet:
    """See the module docstring. ``path_of(session_id)`` gives the directory to watch."""

    def __init__(self, path_of: Callable[[str], str]) -> None:
        self._path_of = path_of
        libc = _load_libc()
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
        self._libc = libc
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._fd = fd
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)
        self._lock = threading.Lock()  # add/park/unpark may come from any thread; wait() from one
        self._sessions: dict[Hashable, str] = {}  # key -> session id
        self._wd_of: dict[Hashable, int] = {}  # key -> watch descriptor, while watched
        self._key_of: dict[int, Hashable] = {}  # watch descriptor -> key
        self._polled: set[Hashable] = set()  # watched without inotify (the watch could not be added)

    # ---- membership (any thread) -------------------------------------------------

    def add(self, key: Hashable, session_id: str) -> None:
        """Watch ``session_id`` under ``key`` (reported by :meth:`wait` when it changes)."""
        with self._lock:
            self._sessions[key] = session_id
            self._watch(key)

    def remove(self, key: Hashable) -> None:
        with self._lock:
            self._unwatch(key)
            self._sessions.pop(key, None)

    def park(self, key: Hashable) -> None:
        """Stop reporting ``key`` until :meth:`unpark` (appends meanwhile are not lost: the caller reads after)."""
        with self._lock:
            self._unwatch(key)

    def unpark(self, key: Hashable) -> None:
        with self._lock:
            if key in self._sessions and key not in self._wd_of and key not in self._polled:
                self._watch(key)

    def _watch(self, key: Hashable) -> None:
        path = os.fsencode(self._path_of(self._sessions[key]))
        wd = self._libc.inotify_add_watch(self._fd, path, _MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err == errno.ENOENT:
                self._polled.add(key)  # the session is gone: the caller's next read says so
                return
            self._polled.add(key)  # ENOSPC (watch limit) or similar: poll it instead
            return
        self._wd_of[key] = wd
        self._key_of[wd] = key

    def _unwatch(self, key: Hashable) -> None:
        self._polled.discard(key)
        wd = self._wd_of.pop(key, None)
        if wd is not None:
            self._key_of.pop(wd, None)
            self._libc.inotify_rm_watch(self._fd, wd)  # fails harmlessly if the directory is gone

    def wake(self) -> None:
        """Make :meth:`wait` return now (thread-safe, cheap, coalesced)."""
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full: a wake-up is pending anyway
        except OSError:
            pass  # closed

    # ---- waiting (the pump thread) -------------------------------------------------

    def wait(self, timeout: float | None) -> tuple[dict[Hashable, set[str] | None], bool]:
        """Block until a watched session changes, :meth:`wake` is called, or ``timeout`` s pass.

        Returns the keys whose sessions changed, each with the names of the files that changed
        (None: unknown, e.g. a polled session), and whether a wake-up came.
        """
        if self._polled:
            timeout = POLL_FALLBACK_S if timeout is None else min(timeout, POLL_FALLBACK_S)
        ms = -1 if timeout is None else max(0, int(timeout * 1000 + 0.999))  # round up: never spin early
        try:
            ready = self._poll.poll(ms)
        except InterruptedError:
            ready = []
        keys: dict[Hashable, set[str] | None] = {}
        woken = False
        for fd, _ in ready:
            if fd == self._wake_r:
                woken = True
                _drain(self._wake_r)
            elif fd == self._fd:
                self._read_events(keys)
        if self._polled:
            with self._lock:
                keys.update(dict.fromkeys(self._polled))
        return keys, woken

    def _read_events(self, keys: dict[Hashable, set[str] | None]) -> None:
        try:
            buf = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        key_of = self._key_of
        off, end = 0, len(buf)
        while off + 16 <= end:
            wd, mask, _cookie, length = _EVENT.unpack_from(buf, off)
            name = buf[off + 16 : off + 16 + length].rstrip(b"\0").decode("utf-8", "replace") if length else ""
            off += 16 + length
            key = key_of.get(wd)
            if key is None or mask & _IN_IGNORED:
                continue
            names = keys.get(key, ())
            if names is None:
                continue  # already "everything"
            if not name or mask & _IN_DELETE_SELF:
                keys[key] = None
            elif names == ():
                keys[key] = {name}
            else:
                names.add(name)

    def close(self) -> None:
        for fd in (self._fd, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._fd = self._wake_r = self._wake_w = -1


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


class ReportingWatchSet:
    """The waiting side of a watch set whose sessions are followed elsewhere (helper threads, a shared
    reader): whoever follows a session calls :meth:`report` with its key; :meth:`wait` hands the keys over."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._changed: dict[Hashable, set[str] | None] = {}  # key -> the files that changed (None: any)
        self._woken = False
        self._parked: set[Hashable] = set()

    def report(self, key: Hashable, files: set[str] | None = None) -> None:
        """``key``'s session changed (any thread): ``files`` of it, or maybe any (None); ignored while parked."""
        with self._cond:
            if key not in self._parked:
                before = self._changed.get(key, ())
                if before is None or files is None:
                    self._changed[key] = None
                else:
                    self._changed[key] = files | before if before else files
                self._cond.notify()

    def _forget(self, key: Hashable) -> None:
        """(under ``_cond``) ``key`` was removed."""
        self._parked.discard(key)
        self._changed.pop(key, None)

    def park(self, key: Hashable) -> None:
        with self._cond:
            self._parked.add(key)
            self._changed.pop(key, None)

    def unpark(self, key: Hashable) -> None:
        with self._cond:
            self._parked.discard(key)

    def wake(self) -> None:
        with self._cond:
            self._woken = True
            self._cond.notify()

    def wait(self, timeout: float | None) -> tuple[dict[Hashable, set[str] | None], bool]:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._changed and not self._woken:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            changed, woken = self._changed, self._woken
            self._changed, self._woken = {}, False
        return changed, woken


class ThreadedWatchSet(ReportingWatchSet):
    """A watch set over any backend's ``watcher(session_id)``: one helper thread per watched session."""

    def __init__(self, backend: Any) -> None:
        super().__init__()
        self._backend = backend
        self._stops: dict[Hashable, threading.Event] = {}

    def add(self, key: Hashable, session_id: str) -> None:
        stop = threading.Event()
        watcher = self._backend.watcher(session_id)
        with self._cond:
            self._stops[key] = stop
        threading.Thread(target=self._follow, args=(key, watcher, stop), daemon=True,
                         name="lazystream-watch").start()

    def _follow(self, key: Hashable, watcher: Any, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                if watcher.wait(0.25) and not stop.is_set():
                    self.report(key)
        finally:
            watcher.close()

    def remove(self, key: Hashable) -> None:
        with self._cond:
            stop = self._stops.pop(key, None)
            self._forget(key)
        if stop is not None:
            stop.set()

    def close(self) -> None:
        with self._cond:
            stops = list(self._stops.values())
            self._stops.clear()
        for stop in stops:
            stop.set()


def watch_set_for(backend: Any) -> InotifyWatchSet | ThreadedWatchSet:
    """The best watch set for ``backend``: its own (``backend.watch_set()``) if it has one, else threaded."""
    make = getattr(backend, "watch_set", None)
    if make is not None:
        try:
            return make()
        except OSError:
            pass  # no inotify here (or no instance left): the threaded one still works
    return ThreadedWatchSet(backend)
