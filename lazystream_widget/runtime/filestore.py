"""The file backend of ``FileSystemQueue``: append-only framed logs, one per queue.

Layout under the queue home (``$LAZYSTREAM_HOME``, else ``$XDG_CACHE_HOME/lazystream``,
else ``~/.cache/lazystream``), every directory 0700 and every file 0600::

    sessions/<session id>/owner           pid + process start time of the owner (for the sweep)
    sessions/<session id>/seq             the session's trace sequence counter (16-byte checked record)
    sessions/<session id>/<queue>.reader  touched by the consumer's reads (an active consumer, for the executor)
    sessions/<session id>/<queue>.off     the consumer's read position (16-byte checked record)
    sessions/<session id>/<queue>.lock    serializes consumers (flock); holds a mirror of the read position
    sessions/<session id>/q/<queue>.log   the items, framed (the only files a watcher watches)

Why this shape (LazyLLM's SQLite + soft lock did 706 msg/s and made readers sleep 50 ms):

* **Writers never lock.** An item is one ``write()`` to a file opened with ``O_APPEND``;
  the kernel serializes appends to a regular file, so items from many threads and
  processes never interleave. That is a few microseconds per item.
* **Nothing torn is ever delivered** (``framing.py``): each record carries checksums of
  its header and payload; a reader resynchronises past what fails them.
* **Nothing lost or repeated silently** (``positions.py``): the read position is a checked
  record with a mirror; a damaged position, a log shorter than the position and skipped
  damaged bytes are each recovered to a documented state and reported, as a ``queue
  recovery`` span in the session's trace and a warning in the ``lazystream_widget.queue`` log.
* **No stale lock.** Consumers lock with ``flock`` (through ``filelock.lock_descriptor``),
  which the kernel drops when the holder dies, however it dies.
* **No link followed** (``homedir.py``): every path component below the home is opened
  relative to its parent's descriptor with ``O_NOFOLLOW``; a planted link is refused.
* **Bounded descriptors** (``descriptors.py``): open files are cached per process, least
  recently used closed first; an attached session releases its descriptors on close.
* **Cheap change check.** An empty poll is one ``fstat`` compared with the read position.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import filelock

from .. import limits
from ..limits import DELETED_SESSION_CHECK_S, STALE_SESSION_AFTER_S
from . import positions
from .backend import SessionClosedError, closed_error
from .descriptors import DescriptorCache, DirHandle, QueueHandle, SeqHandle, descriptor_bound
from .framing import (  # noqa: F401 - re-exported too
    _HEAD,
    _HEAD_CRC,
    HEADER_SIZE,
    MAGIC,
    MAX_ITEM_BYTES,
    count_records,
    declared_record_size,
    frame,
    next_intact_record_in_file,
    unframe,
)
from .homedir import QueueHomeError, default_home, open_dir, open_file, open_home, remove_tree, write_all, write_file
from .reading import ConsumerLock, commit, highest_seq, read_position, skip_recovery, take
from .sweep import owner_record, sweep_sessions
from .sweep import process_start_time as _process_start_time  # noqa: F401 - used by tests
from .watch import watch_directory

log = logging.getLogger("lazystream_widget.queue")

#: File times advance in clock ticks (a few ms). An empty poll trusts "same size, same mtime" only for a log last
#: written longer ago than this, so that a truncation and rewrite within one tick cannot hide behind an equal mtime.
_CLOCK_TICK_MARGIN_NS = 50_000_000
#: Bytes of log read at a time when a range is read back (``iter_range``): small, so reading a long
#: text back costs little memory beside the text itself.
RANGE_READ_CHUNK = 256 * 1024


class _Signal:
    """Wakes an empty ``dequeue()`` of this process when an item is appended to its session.

    A lock used as a binary semaphore: a waiter blocks in C (``acquire(timeout)``) and a
    producer's :meth:`bump` is one ``release()`` when someone waits, so the producer's hot
    path runs no Python-level ``Condition`` machinery. A wake-up nobody consumed (the waiter
    timed out at that moment) leaves the lock released: the next wait returns at once, reads
    nothing and waits again (harmless). ``last_data`` (set by reads that returned items) lets
    waiters coalesce wake-ups during a burst: see :meth:`FileBackend.wait_for_item`.
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


def _make_appender(backend: FileBackend, session_id: str, queue: str) -> Callable[[bytes], None]:
    """Appends items to one queue with everything bound once: the streaming hot path.

    ``append(item)`` is one frame and one ``write``; ``append.end()`` is the "read up to here" mark
    of what this process appended so far (our pool waits for it, once per task: see ``runtime/pool.py``),
    so no ``lseek`` per item. A closure, not a class: a call is cheaper, and it runs once per token.

    It is as safe as :meth:`FileBackend.append`: it keeps the queue's cached handle between calls but
    marks it in use for each write (the descriptor cache never closes a handle in use, and one evicted
    meanwhile is given up, never written to), and at least every ``DELETED_SESSION_CHECK_S`` it goes
    through :meth:`FileBackend._queue`, which checks that the session's files still exist (raising
    :class:`SessionClosedError` once they were deleted). Items never land in a deleted session's files
    for longer than that check interval, as with ``append``.
    """
    crc32, head12, head4, magic, write, monotonic = (
        zlib.crc32, _HEAD.pack, _HEAD_CRC.pack, MAGIC, os.write, time.monotonic)
    signals, check_every, get_queue, release = (
        backend._signals, DELETED_SESSION_CHECK_S, backend._queue, backend._release_queue)
    held: list[QueueHandle | None] = [None]  # the handle the last write used (not in use between calls)

    def acquire() -> QueueHandle:
        h = held[0]
        if h is not None:
            h.users.append(None)  # in use first, then the look at "evicted" (descriptors.py)
            if not h.evicted and monotonic() - h.checked_at <= check_every:
                return h
            release(h)
        h = held[0] = get_queue(session_id, queue)  # reopens, or checks the files still exist
        return h

    def append(item: bytes) -> None:
        size = len(item)
        if size > MAX_ITEM_BYTES:
            frame(item)  # raises the error that says what to do
        crc = crc32(item)
        head = head12(magic, size, crc)
        data = head + head4(crc32(head)) + item
        # acquire() inlined (this runs once per token): the held handle, marked in use, unless it was
        # evicted or is due for its "do the files still exist?" check
        h = held[0]
        if h is None:
            h = acquire()
        else:
            users = h.users
            users.append(None)
            if h.evicted or monotonic() - h.checked_at > check_every:
                release(h)
                h = held[0] = get_queue(session_id, queue)
        try:
            written = write(h.log_fd, data)  # one write() is one atomic append
            if written != len(data):  # cut short (a signal, a full disk): finish it, no longer atomic
                write_all(h.log_fd, data[written:])
        finally:
            # release() inlined: first give the handle back, then look at "evicted" (descriptors.py); an
            # evicted one goes through the cache's release (in use again for that call), which closes it
            # if no one else uses it
            h.users.pop()
            if h.evicted:
                h.users.append(None)
                release(h)
        sig = signals.get(session_id)  # made by the first waiter: none, no one to wake
        if sig is not None and sig.waiters:
            sig.bump()

    def end() -> int:
        # the descriptor's offset is at the end of our last record, or past it when another
        # thread appended since: either way a safe "wait until read up to here" mark
        h = acquire()
        try:
            return os.lseek(h.log_fd, 0, os.SEEK_CUR)
        finally:
            release(h)

    append.end = end  # type: ignore[attr-defined]
    return append


class LogReader:
    """``read_from`` over descriptors opened once (see :meth:`FileBackend.open_logs`)."""

    def __init__(self, fds: dict[str, int]) -> None:
        self._fds = fds

    def read_from(self, session_id: str, queue: str, cursor: str, limit: int | None = None) -> tuple[list[bytes], str]:
        fd = self._fds.get(queue)
        if fd is None:
            return [], cursor
        items, end, _last, _skipped = take(fd, int(cursor), limit, limits.DEQUEUE_MAX_BYTES)
        return items, str(end)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}


class FileBackend:
    """See the module docstring. One instance per queue home per process."""

    #: Closing a session deletes its files at once: a watcher can follow a live session, not replay a closed one.
    replays = False

    def __init__(self, home: str | None = None) -> None:
        self.home = home or default_home()
        self.sessions_dir = os.path.join(self.home, "sessions")
        self._cache = DescriptorCache(descriptor_bound())
        self._signals: dict[str, _Signal] = {}
        self._last_read: dict[tuple[str, str], float] = {}
        self._heartbeat_at: dict[tuple[str, str], float] = {}
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
        self._cache.drop(lambda key: key[0] == session_id)
        with self._lock:
            self._signals.pop(session_id, None)
            for activity in (self._last_read, self._heartbeat_at):
                for key in [k for k in activity if k[0] == session_id]:
                    del activity[key]

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

    def _signal(self, session_id: str) -> _Signal:
        sig = self._signals.get(session_id)
        if sig is None:
            sig = self._signals.setdefault(session_id, _Signal())
        return sig

    # ---- writing --------------------------------------------------------------------

    def append(self, session_id: str, queue: str, item: bytes) -> int:
        data = frame(item)
        h = self._queue(session_id, queue)
        try:
            written = os.write(h.log_fd, data)  # one write() is one atomic append
            if written != len(data):  # cut short (a signal, a full disk): finish it, no longer atomic
                write_all(h.log_fd, data[written:])
            # the descriptor's offset is at the end of our record, or past it when another
            # thread appended meanwhile: either way a safe "wait until read up to here" mark
            end = os.lseek(h.log_fd, 0, os.SEEK_CUR)
        finally:
            self._cache.release(h)
        self._signal(session_id).bump()
        return end

    def appender(self, session_id: str, queue: str) -> Callable[[bytes], None]:
        """``append`` for one queue with everything bound once: the streaming hot path (``queue.py``).

        See :func:`_make_appender`. Fails with :class:`SessionClosedError` now if the session is gone.
        """
        self._release_queue(self._queue(session_id, queue))  # opens (and checks) the queue now
        return _make_appender(self, session_id, queue)

    def _release_queue(self, handle: QueueHandle) -> None:
        self._cache.release(handle)

    def append_numbered(self, session_id: str, queue: str, make_item: Callable[[int], bytes]) -> int:
        s = self._seq(session_id)
        try:
            with s.mutex:
                filelock.lock_descriptor(s.fd, poll_interval=0.001)
                try:
                    last, recovery = self._last_seq(s.fd, session_id, queue)
                    positions.write_record(s.fd, positions.Record(last + 1), positions.SEQ_MAGIC,
                                           repair=recovery is not None)
                    end = self.append(session_id, queue, make_item(last + 1))
                finally:
                    filelock.unlock_descriptor(s.fd)
        finally:
            self._cache.release(s)
        if recovery is not None:  # after the lock: the report is itself a numbered entry
            self._report(session_id, queue, recovery)
        return end

    def _seq(self, session_id: str) -> SeqHandle:
        def opener() -> SeqHandle:
            d = self._session_dir(session_id)
            try:
                return SeqHandle(open_file(d.fd, "seq", os.O_RDWR, self._shown(session_id, "seq")))
            finally:
                self._cache.release(d)

        return self._acquire((session_id, "seq"), opener)

    def _last_seq(self, fd: int, session_id: str, queue: str) -> tuple[int, positions.Recovery | None]:
        """The last sequence number used; recovered from the log when the counter file is damaged or erased."""
        record, empty = positions.read_record(fd, positions.SEQ_MAGIC)
        if record is not None and not empty:
            return record.value, None
        # never written, or damaged: the numbers already used are in the queue's own log
        used = self._highest_seq_in_log(session_id, queue)
        if record is not None and not used:
            return 0, None  # a new session
        return used, positions.Recovery(
            "seq",
            f"the session's sequence counter was {'damaged' if record is None else 'erased'}; numbering goes on "
            f"after the highest number found in the log ({used}), so no number is used twice",
            {"recovered_seq": used},
        )

    def _highest_seq_in_log(self, session_id: str, queue: str) -> int:
        h = self._queue(session_id, queue)
        try:
            return highest_seq(h.log_fd)
        finally:
            self._cache.release(h)

    # ---- reading --------------------------------------------------------------------

    def read(self, session_id: str, queue: str, limit: int | None = None) -> list[bytes]:
        self._note_read(session_id, queue)
        h = self._queue(session_id, queue)
        try:
            self._reader_files(h, session_id, queue)
            # the cheap change check first: no lock, one fstat and one pread of the position
            record = positions.decode(os.pread(h.off_fd, positions.RECORD_SIZE + 1, 0))
            st = os.fstat(h.log_fd)
            if record is not None and st.st_size == record.value and st.st_mtime_ns == h.quiet_mtime:
                return []  # nothing new, and the log untouched since a read checked it
            items, recoveries = self._consume(h, limit, destructive=True)
        finally:
            self._cache.release(h)
        for recovery in recoveries:
            self._report(session_id, queue, recovery)
        if items:
            sig = self._signals.get(session_id)
            if sig is not None:
                sig.last_data = time.monotonic()  # a burst: the next empty wait gathers (wait_for_item)
        return items

    def _consume(self, h: QueueHandle, limit: int | None, *,
                 destructive: bool) -> tuple[list[bytes], list[positions.Recovery]]:
        with ConsumerLock(h.mutex, h.lock_fd):
            start, recovery = read_position(h.off_fd, h.lock_fd, h.log_fd, os.fstat(h.log_fd).st_size)
            items, end, last, skipped = take(h.log_fd, start, limit, limits.DEQUEUE_MAX_BYTES)
            if destructive and (end != start or recovery is not None):
                commit(h.off_fd, h.lock_fd, h.log_fd, end, last, repair=recovery is not None)
            st = os.fstat(h.log_fd)
            if st.st_size == end and time.time_ns() - st.st_mtime_ns > _CLOCK_TICK_MARGIN_NS:
                # checked, and last written more than a clock tick ago: any later change moves the mtime
                h.quiet_mtime = st.st_mtime_ns
        recoveries = [recovery] if recovery is not None else []
        if skipped:
            recoveries.append(skip_recovery(skipped))
        return items, recoveries

    def read_from(self, session_id: str, queue: str, cursor: str, limit: int | None = None) -> tuple[list[bytes], str]:
        """Non-destructive read from a byte offset of the queue's log (the log keeps every item until the
        session is deleted: ``dequeue`` only moves the consumer's offset). No lock: appended bytes never change,
        and neither the consumer's position nor its activity is touched."""
        try:
            start = int(cursor)
        except ValueError:
            raise ValueError(f"not a cursor of the file backend: {cursor!r}") from None
        h = self._queue(session_id, queue)
        try:
            items, end, _last, _skipped = take(h.log_fd, start, limit, limits.DEQUEUE_MAX_BYTES)
        finally:
            self._cache.release(h)
        return items, str(end)

    def open_logs(self, session_id: str, queues: tuple[str, ...]) -> LogReader:
        """The queues' logs, opened now for a watcher: they stay readable after the owner deletes the session
        (the run-end entry a runner writes just before closing included). The caller closes the reader."""
        fds: dict[str, int] = {}
        try:
            for queue in queues:
                h = self._queue(session_id, queue)
                try:
                    fds[queue] = os.dup(h.log_fd)
                finally:
                    self._cache.release(h)
        except BaseException:
            for fd in fds.values():
                os.close(fd)
            raise
        return LogReader(fds)

    def peek(self, session_id: str, queue: str) -> bytes | None:
        h = self._queue(session_id, queue)
        try:
            self._reader_files(h, session_id, queue)
            items, _ = self._consume(h, 1, destructive=False)
        finally:
            self._cache.release(h)
        return items[0] if items else None

    def size(self, session_id: str, queue: str) -> int:
        """Items waiting, counted from the record headers (payloads are neither read nor decoded)."""
        h = self._queue(session_id, queue)
        try:
            self._reader_files(h, session_id, queue)
            with ConsumerLock(h.mutex, h.lock_fd):
                size = os.fstat(h.log_fd).st_size
                start, _ = read_position(h.off_fd, h.lock_fd, h.log_fd, size)
                return count_records(h.log_fd, start, size) if size > start else 0
        finally:
            self._cache.release(h)

    def clear(self, session_id: str, queue: str) -> None:
        h = self._queue(session_id, queue)
        try:
            self._reader_files(h, session_id, queue)
            with ConsumerLock(h.mutex, h.lock_fd):
                commit(h.off_fd, h.lock_fd, h.log_fd, os.fstat(h.log_fd).st_size, 0, repair=True)
        finally:
            self._cache.release(h)

    def consumed(self, session_id: str, queue: str) -> int:
        h = self._queue(session_id, queue)
        try:
            self._reader_files(h, session_id, queue)
            record, empty = positions.read_record(h.off_fd)
            if record is not None and not empty:
                return record.value
            with ConsumerLock(h.mutex, h.lock_fd):
                return read_position(h.off_fd, h.lock_fd, h.log_fd, os.fstat(h.log_fd).st_size)[0]
        finally:
            self._cache.release(h)

    # ---- what went wrong, said out loud ------------------------------------------------

    def _report(self, session_id: str, queue: str, recovery: positions.Recovery) -> None:
        """A recovery from damaged queue files: a warning in the log and a ``queue recovery`` span in the trace."""
        from .recovery_trace import write_recovery_span

        log.warning("session %s…, queue %r: %s", session_id[:8], queue, recovery.message)
        write_recovery_span(self, session_id, queue, recovery)

    # ---- consumer activity and waiting ---------------------------------------------------

    def _note_read(self, session_id: str, queue: str) -> None:
        key = (session_id, queue)
        now = time.time()
        self._last_read[key] = now
        # a consumer in another process is seen through the mtime of the queue's ``.reader``
        # file; touch it at most twice a second so that polling stays a cheap path
        if now - self._heartbeat_at.get(key, 0.0) > 0.5:
            self._heartbeat_at[key] = now
            try:
                d = self._session_dir(session_id)
            except (OSError, SessionClosedError):
                return  # the read that follows says what is wrong
            name = queue + ".reader"
            try:
                try:
                    os.utime(name, dir_fd=d.fd, follow_symlinks=False)
                except FileNotFoundError:
                    write_file(d.fd, name, b"", self._shown(session_id, name))
            except OSError:
                pass
            finally:
                self._cache.release(d)

    def last_read_at(self, session_id: str, queue: str) -> float:
        local = self._last_read.get((session_id, queue), 0.0)
        try:
            d = self._session_dir(session_id)
        except (OSError, SessionClosedError):
            return local
        try:
            remote = os.stat(queue + ".reader", dir_fd=d.fd, follow_symlinks=False).st_mtime
        except OSError:
            remote = 0.0
        finally:
            self._cache.release(d)
        return max(local, remote)

    def wait_for_item(self, session_id: str, timeout: float) -> None:
        """Block up to ``timeout`` s, or until an item is appended to the session in this process.

        Wake-ups are coalesced during a burst: if a read returned items less than
        ``DEQUEUE_COALESCE_S`` ago, the waiter sleeps out the rest of that interval and the next
        read takes what gathered meanwhile, instead of waking (and taking the GIL from the
        producer) once per item. After a quiet spell the first item wakes the waiter at once.
        """
        sig = self._signal(session_id)
        gather = sig.last_data + limits.DEQUEUE_COALESCE_S - time.monotonic()
        if gather > 0:
            time.sleep(min(gather, timeout))
            return
        sig.wait(timeout)

    def watcher(self, session_id: str):
        self._prepare()
        qfd = self._open_q(session_id)
        try:
            return watch_directory(qfd)
        finally:
            os.close(qfd)

    def watch_set(self):
        """One waiter for appends to many sessions (the runner's pump): see ``runtime/watchset.py``."""
        from .watchset import InotifyWatchSet

        self._prepare()
        return InotifyWatchSet(lambda session_id: self._shown(session_id, "q"))

    def iter_range(self, session_id: str, queue: str, start: int, stop: int,
                   chunk: int = RANGE_READ_CHUNK) -> Iterator[list[bytes]]:
        """The items between log positions ``start`` and ``stop``, ``chunk`` bytes of log at a time, not consumed.

        Positions are those :meth:`consumed` reports. The runner keeps a run's text in the log this
        way instead of a second copy in memory (``run_text.py``); damaged records are skipped.
        """
        h = self._queue(session_id, queue)
        try:
            off = start
            while off < stop:
                buf = os.pread(h.log_fd, min(stop - off, chunk), off)
                if not buf:
                    return
                need = declared_record_size(buf)
                if need > len(buf) and stop - off >= need:  # one record larger than a chunk
                    buf = os.pread(h.log_fd, need, off)
                items, used = unframe(buf)
                if items:
                    yield items
                off += used
                if used == 0:
                    nxt = next_intact_record_in_file(h.log_fd, off, stop)
                    if nxt <= 0:
                        return
                    off = nxt
        finally:
            self._cache.release(h)

    def _open_q(self, session_id: str) -> int:
        """A new descriptor of the session's ``q`` directory (the caller closes it)."""
        d = self._session_dir(session_id)
        try:
            return open_dir(d.fd, "q", self._shown(session_id, "q"), create=False)
        except FileNotFoundError:
            raise closed_error(session_id) from None
        finally:
            self._cache.release(d)
