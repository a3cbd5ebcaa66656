"""The file backend's session directories: where a session's files are, opened once and checked.

Layout under the queue home (``$LAZYSTREAM_HOME``, else ``$XDG_CACHE_HOME/lazystream``,
else ``~/.cache/lazystream``), every directory 0700 and every file 0600::

    sessions/<session id>/owner           pid + process start time of the owner (for the sweep)
    sessions/<session id>/seq             the session's trace sequence counter (16-byte checked record)
    sessions/<session id>/<queue>.reader  touched by the consumer's reads (an active consumer, for the executor)
    sessions/<session id>/<queue>.off     the consumer's read position (16-byte checked record)
    sessions/<session id>/<queue>.lock    serializes consumers (flock); holds a mirror of the read position
    sessions/<session id>/q/<queue>.log   the items, framed (the only files a watcher watches)

:class:`SessionFiles` creates, attaches to, releases, deletes and sweeps session directories,
and hands out the cached descriptors of their files (``descriptors.py``): every path component
below the home is opened relative to its parent's descriptor without following links
(``homedir.py``), and a handle whose files were deleted under it (the session closed by its
owner, or swept) fails with :class:`SessionClosedError` within ``DELETED_SESSION_CHECK_S``.
:class:`~lazystream_widget.runtime.filestore.FileBackend` builds the queue operations on it.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ..limits import DELETED_SESSION_CHECK_S, STALE_SESSION_AFTER_S
from .backend import closed_error
from .descriptors import DescriptorCache, DirHandle, QueueHandle, SeqHandle, descriptor_bound
from .homedir import QueueHomeError, default_home, open_dir, open_file, open_home, remove_tree, write_file
from .sweep import owner_record, sweep_sessions


class SessionFiles:
    """Session directories under one queue home, and the cached descriptors of their files."""

    def __init__(self, home: str | None = None) -> None:
        self.home = home or default_home()
        self.sessions_dir = os.path.join(self.home, "sessions")
        self._cache = DescriptorCache(descriptor_bound())
        self._lock = threading.Lock()
        self._swept = False

    # ---- directories ------------------------------------------------------------

    def _shown(self, *parts: str) -> str:
        return os.path.join(self.sessions_dir, *parts)

    def _open_sessions(self) -> int:
        home_fd = open_home(self.home)
        try:
            return open_dir(home_fd, "sessions", self.sessions_dir, create=True)
        finally:
            os.close(home_fd)

    def _prepare(self) -> None:
        """Sweep stale sessions the first time this process uses the home."""
        if self._swept:
            return
        with self._lock:
            if self._swept:
                return
            self._swept = True
        self.sweep()

    def _session_dir(self, session_id: str) -> DirHandle:
        """The session's directory, in use: pair with ``self._cache.release``."""

        def opener() -> DirHandle:
            sessions_fd = self._open_sessions()
            try:
                return DirHandle(open_dir(sessions_fd, session_id, self._shown(session_id), create=False))
            except FileNotFoundError:
                raise closed_error(session_id) from None
            finally:
                os.close(sessions_fd)

        return self._acquire((session_id, "dir"), opener)

    def _acquire(self, key: tuple[str, ...], opener: Callable[[], Any]) -> Any:
        """A cached handle, in use; fails with SessionClosedError once the session's files were deleted."""
        handle = self._cache.use(key)
        if handle is None:
            try:
                handle = self._cache.acquire(key, opener)
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE):
                    raise
                self._cache.shrink()  # out of descriptors: close every idle cached one, then try once more
                handle = self._cache.acquire(key, opener)
        now = handle.used_at = time.monotonic()
        if now - handle.checked_at > DELETED_SESSION_CHECK_S:
            handle.checked_at = now
            try:
                gone = os.fstat(handle.main_fd()).st_nlink == 0
            except OSError:
                gone = True
            if gone:  # closed by its owner, or swept: never keep writing into deleted files
                self._cache.release(handle)
                self._forget(key[0])
                raise closed_error(key[0], deleted=True)
        return handle

    # ---- sessions -----------------------------------------------------------------

    def create_session(self, session_id: str, *, owned: bool) -> None:
        self._prepare()
        sessions_fd = self._open_sessions()
        try:
            shown = self._shown(session_id)
            try:
                sfd = open_dir(sessions_fd, session_id, shown, create=owned)
            except FileNotFoundError:
                raise closed_error(session_id, attaching=True) from None
            try:
                try:
                    os.close(open_dir(sfd, "q", os.path.join(shown, "q"), create=owned))
                except FileNotFoundError:
                    raise closed_error(session_id, attaching=True) from None
                if owned:
                    write_file(sfd, "owner", owner_record(), os.path.join(shown, "owner"))
            finally:
                os.close(sfd)
        finally:
            os.close(sessions_fd)

    def session_exists(self, session_id: str) -> bool:
        try:
            sessions_fd = self._open_sessions()
        except QueueHomeError:
            return False
        try:
            sfd = open_dir(sessions_fd, session_id, self._shown(session_id), create=False)
            try:
                os.close(open_dir(sfd, "q", self._shown(session_id, "q"), create=False))
            finally:
                os.close(sfd)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(sessions_fd)

    def describe(self) -> str:
        return f"the file backend under {self.home}"

    def close_session(self, session_id: str) -> None:
        self.delete_session(session_id)

    def session_state(self, session_id: str) -> str:
        return "open" if self.session_exists(session_id) else "missing"

    def release_session(self, session_id: str) -> None:
        """Close this process's descriptors of the session and forget it; its files stay (another process owns it)."""
        self._forget(session_id)

    def delete_session(self, session_id: str) -> None:
        self._forget(session_id)
        try:
            sessions_fd = self._open_sessions()
        except QueueHomeError:
            return
        try:
            remove_tree(sessions_fd, session_id)
        finally:
            os.close(sessions_fd)

    def _forget(self, session_id: str) -> None:
        """Close this process's descriptors of the session (subclasses also drop what they keep per session)."""
        self._cache.drop(lambda key: key[0] == session_id)

    def close(self) -> None:
        """Release every descriptor this backend holds (the files stay)."""
        self._cache.close_all()

    def sweep(self, older_than: float = STALE_SESSION_AFTER_S) -> list[str]:
        """Delete stale sessions (see ``sweep.py``): dead or missing owner, files unchanged for ``older_than`` s."""
        try:
            sessions_fd = self._open_sessions()
        except (QueueHomeError, OSError):
            return []
        try:
            return sweep_sessions(sessions_fd, self.sessions_dir, older_than)
        finally:
            os.close(sessions_fd)

    # ---- descriptors ----------------------------------------------------------------

    def _queue(self, session_id: str, queue: str) -> QueueHandle:
        """The queue's handle, in use: pair with ``self._cache.release``."""
        key = (session_id, "q", queue)
        handle = self._cache.use(key)
        if handle is not None:
            now = handle.used_at = time.monotonic()
            if now - handle.checked_at <= DELETED_SESSION_CHECK_S:
                return handle  # the hot path: cached and recently checked
            self._cache.release(handle)

        def opener() -> QueueHandle:
            qfd = self._open_q(session_id)
            try:
                name = queue + ".log"
                return QueueHandle(open_file(qfd, name, os.O_APPEND | os.O_RDWR, self._shown(session_id, "q", name)))
            finally:
                os.close(qfd)

        return self._acquire(key, opener)

    def _reader_files(self, h: QueueHandle, session_id: str, queue: str) -> None:
        """Open the position and lock files of a queue (done by the first read; writers never need them)."""
        if h.lock_fd >= 0:
            return
        with h.mutex:
            if h.lock_fd >= 0:
                return
            d = self._session_dir(session_id)
            try:
                off = open_file(d.fd, queue + ".off", os.O_RDWR, self._shown(session_id, queue + ".off"))
                try:
                    lock = open_file(d.fd, queue + ".lock", os.O_RDWR, self._shown(session_id, queue + ".lock"))
                except BaseException:
                    os.close(off)
                    raise
            finally:
                self._cache.release(d)
            self._cache.add_fds(h, off_fd=off, lock_fd=lock)

    def _seq(self, session_id: str) -> SeqHandle:
        def opener() -> SeqHandle:
            d = self._session_dir(session_id)
            try:
                return SeqHandle(open_file(d.fd, "seq", os.O_RDWR, self._shown(session_id, "seq")))
            finally:
                self._cache.release(d)

        return self._acquire((session_id, "seq"), opener)

    def _open_q(self, session_id: str) -> int:
        """A new descriptor of the session's ``q`` directory (the caller closes it)."""
        d = self._session_dir(session_id)
        try:
            return open_dir(d.fd, "q", self._shown(session_id, "q"), create=False)
        except FileNotFoundError:
            raise closed_error(session_id) from None
        finally:
            self._cache.release(d)
