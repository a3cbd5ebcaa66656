"""The file backend of ``FileSystemQueue``: append-only framed logs, one per queue.

The files of a session and their layout: ``session_files.py``. The append hot path:
``log_appender.py``. How an empty ``dequeue()`` waits: ``wakeups.py``.

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

import logging
import os
import time
from collections.abc import Callable, Iterator

import filelock

from .. import limits
from . import positions
from .backend import SessionClosedError
from .descriptors import QueueHandle
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
from .homedir import QueueHomeError, write_all, write_file  # noqa: F401 - QueueHomeError re-exported
from .log_appender import make_appender
from .reading import ConsumerLock, LogReader, commit, highest_seq, read_position, skip_recovery, take
from .session_files import SessionFiles
from .sweep import process_start_time as _process_start_time  # noqa: F401 - used by tests
from .wakeups import AppendSignal, WatchHandle
from .watch import inotify_descriptor, watch_directory

log = logging.getLogger("lazystream_widget.queue")

#: File times advance in clock ticks (a few ms). An empty poll trusts "same size, same mtime" only for a log last
#: written longer ago than this, so that a truncation and rewrite within one tick cannot hide behind an equal mtime.
_CLOCK_TICK_MARGIN_NS = 50_000_000
#: Bytes of log read at a time when a range is read back (``iter_range``): small, so reading a long
#: text back costs little memory beside the text itself.
RANGE_READ_CHUNK = 256 * 1024


class FileBackend(SessionFiles):
    """See the module docstring. One instance per queue home per process."""

    #: Closing a session deletes its files at once: a watcher can follow a live session, not replay a closed one.
    replays = False
    #: ``read_from`` is one ``pread``; consuming takes a lock and moves a position kept in files.
    reads_by_position = True

    def __init__(self, home: str | None = None) -> None:
        super().__init__(home)
        self._signals: dict[str, AppendSignal] = {}
        self._appenders: dict[tuple[str, str], Callable[[str], int]] = {}
        #: sessions opened by id (attached), whose empty dequeue() waits on inotify; the sessions that
        #: have a cached inotify descriptor, oldest first (bounded by DEQUEUE_WATCHES_MAX)
        self._attached: set[str] = set()
        self._watched: dict[str, None] = {}
        self._inotify_retry_at = 0.0
        self._last_read: dict[tuple[str, str], float] = {}
        self._heartbeat_at: dict[tuple[str, str], float] = {}

    def create_session(self, session_id: str, *, owned: bool) -> None:
        super().create_session(session_id, owned=owned)
        if not owned:
            self._attached.add(session_id)

    def _forget(self, session_id: str) -> None:
        super()._forget(session_id)
        with self._lock:
            self._signals.pop(session_id, None)
            self._attached.discard(session_id)
            self._watched.pop(session_id, None)
            for activity in (self._last_read, self._heartbeat_at, self._appenders):
                for key in [k for k in activity if k[0] == session_id]:
                    del activity[key]

    def _signal(self, session_id: str) -> AppendSignal:
        sig = self._signals.get(session_id)
        if sig is None:
            sig = self._signals.setdefault(session_id, AppendSignal())
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

    def appender(self, session_id: str, queue: str, counted: bool = False) -> Callable[[str], int]:
        """``append`` for one queue with everything bound once: the streaming hot path (``queue.py``).

        It takes text: ``append(text) -> start``, where ``start`` is the text's offset in the queue's stream
        when ``counted``, else 0 (see ``log_appender.make_appender``). One per queue and process, shared by
        every writer. Fails with :class:`SessionClosedError` now if the session is gone.
        """
        self._release_queue(self._queue(session_id, queue))  # opens (and checks) the queue now
        key = (session_id, queue)
        append = self._appenders.get(key)
        if append is None:
            with self._lock:
                append = self._appenders.get(key)
                if append is None:
                    append = self._appenders[key] = make_appender(self, session_id, queue, counted)
        return append

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

    def read_from(self, session_id: str, queue: str, cursor: str, limit: int | None = None, *,
                  report: bool = False) -> tuple[list[bytes], str]:
        """Non-destructive read from a byte offset of the queue's log (the log keeps every item until the
        session is deleted: ``dequeue`` only moves the consumer's offset). No lock: appended bytes never change,
        and neither the consumer's position nor its activity is touched.

        ``report``: damaged bytes skipped are reported as a consumer reports them (a ``queue recovery`` span,
        a log warning); only for the session's one reader (a runner's pump), never a watcher (read-only)."""
        try:
            start = int(cursor)
        except ValueError:
            raise ValueError(f"not a cursor of the file backend: {cursor!r}") from None
        h = self._queue(session_id, queue)
        try:
            items, end, _last, skipped = take(h.log_fd, start, limit, limits.DEQUEUE_MAX_BYTES)
        finally:
            self._cache.release(h)
        if skipped and report:
            self._report(session_id, queue, skip_recovery(skipped))
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
        if session_id in self._attached:  # opened by id: the producer is likely another process
            watch = self._watch(session_id)
            if watch is not None:
                try:
                    watch.wait(timeout)
                finally:
                    self._cache.release(watch)
                return
        sig.wait(timeout)

    def _watch(self, session_id: str) -> WatchHandle | None:
        """The session's cached inotify descriptor, in use (pair with ``self._cache.release``); None where
        inotify is unavailable (tried again a second later). At most ``DEQUEUE_WATCHES_MAX`` are kept."""
        key = (session_id, "watch")
        handle = self._cache.use(key)
        if handle is not None:
            return handle
        if time.monotonic() < self._inotify_retry_at:
            return None

        def opener() -> WatchHandle:
            qfd = self._open_q(session_id)
            try:
                return WatchHandle(inotify_descriptor(qfd))
            finally:
                os.close(qfd)

        try:
            handle = self._cache.acquire(key, opener)
        except (OSError, AttributeError):  # no inotify here, or a per-user limit reached: the signal instead
            self._inotify_retry_at = time.monotonic() + 1.0
            return None
        with self._lock:
            self._watched.pop(session_id, None)
            self._watched[session_id] = None  # most recently made last
            stale = list(self._watched)[: max(0, len(self._watched) - limits.DEQUEUE_WATCHES_MAX)]
            for old in stale:
                del self._watched[old]
        for old in stale:  # closed now if idle, else by its waiter's release
            self._cache.drop(lambda k, old=old: k == (old, "watch"))
        return handle

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
