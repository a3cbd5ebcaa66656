"""Waiting for a directory to change without burning CPU.

On Linux we use inotify (through ctypes, no extra dependency): the kernel wakes
the waiter within microseconds of a write from any process, and an idle waiter
costs nothing. Elsewhere, or when inotify is unavailable (e.g. the per-user
watch limit is reached), we fall back to checking file sizes every few
milliseconds, which is still cheap and bounded.

Both take a descriptor of the directory (opened by the backend without following
links), never a path that could be swapped for a link after it was checked.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import time

_IN_MODIFY = 0x00000002
_IN_CREATE = 0x00000100
_IN_MOVED_TO = 0x00000080
_IN_DELETE_SELF = 0x00000400
_IN_ONLYDIR = 0x01000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC

_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        lib = ctypes.CDLL(name, use_errno=True)
        lib.inotify_init1.argtypes = [ctypes.c_int]
        lib.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        _libc = lib
    return _libc


def inotify_descriptor(dir_fd: int) -> int:
    """A new non-blocking inotify descriptor watching the directory ``dir_fd`` for writes, creations and its
    removal (the caller closes it). Raises OSError when inotify is unavailable or its per-user limits are reached."""
    libc = _load_libc()
    fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1 failed")
    mask = _IN_MODIFY | _IN_CREATE | _IN_MOVED_TO | _IN_DELETE_SELF | _IN_ONLYDIR
    # the descriptor's /proc link names the very directory we opened (not a path re-resolved)
    if libc.inotify_add_watch(fd, os.fsencode(f"/proc/self/fd/{dir_fd}"), mask) < 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, "inotify_add_watch failed")
    return fd


def wait_readable(poller: select.poll, fd: int, timeout: float) -> bool:
    """Wait up to ``timeout`` s for events on the inotify descriptor ``fd`` (registered in ``poller``), then
    drain them: one wake per burst of writes."""
    if not poller.poll(max(0.0, timeout * 1000)):
        return False
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass
    return True


class InotifyWatcher:
    """Wakes when a file in the directory ``dir_fd`` is written, created or the directory goes away."""

    def __init__(self, dir_fd: int) -> None:
        fd = inotify_descriptor(dir_fd)
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def wait(self, timeout: float) -> bool:
        if self._fd < 0:
            time.sleep(max(0.0, timeout))
            return False
        return wait_readable(self._poll, self._fd, timeout)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:  # a watcher dropped without close() must not leak its fd
        try:
            self.close()
        except Exception:
            pass


class PollingWatcher:
    """Fallback: compares the directory's file sizes every ``interval`` seconds."""

    def __init__(self, dir_fd: int, interval: float = 0.002) -> None:
        self._fd = os.dup(dir_fd)  # ours to keep: the caller closes its own
        self._interval = interval
        self._last = self._snapshot()

    def _snapshot(self) -> tuple:
        if self._fd < 0:
            return ()
        try:
            with os.scandir(self._fd) as it:
                return tuple(sorted((e.name, e.stat(follow_symlinks=False).st_size) for e in it))
        except OSError:
            return ()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            snap = self._snapshot()
            if snap != self._last:
                self._last = snap
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self._interval, left))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def watch_directory(dir_fd: int) -> InotifyWatcher | PollingWatcher:
    """A waiter on the directory open as ``dir_fd`` (the caller may close ``dir_fd`` afterwards)."""
    try:
        return InotifyWatcher(dir_fd)
    except (OSError, AttributeError):
        return PollingWatcher(dir_fd)
