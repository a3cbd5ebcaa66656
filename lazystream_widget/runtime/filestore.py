"""The file backend of ``FileSystemQueue``: append-only framed logs, one per queue.

Layout under the queue home (``$LAZYSTREAM_HOME``, else ``$XDG_CACHE_HOME/lazystream``,
else ``~/.cache/lazystream``), every directory 0700 and every file 0600::

    sessions/<session id>/owner           pid + process start time of the owner (for the sweep)
    sessions/<session id>/seq             the session's trace sequence counter (8 bytes)
    sessions/<session id>/<queue>.reader  touched by the consumer's reads (an active consumer, for the executor)
    sessions/<session id>/<queue>.off     the consumer's read position (8 bytes)
    sessions/<session id>/<queue>.lock    serializes consumers (flock)
    sessions/<session id>/q/<queue>.log   the items, framed (the only files a watcher watches)

Why this shape (LazyLLM's SQLite + soft lock did 706 msg/s and made readers sleep 50 ms):

* **Writers never lock.** An item is one ``write()`` to a file opened with ``O_APPEND``;
  the kernel serializes appends to a regular file, so items from many threads and
  processes never interleave. That is a few microseconds per item.
* **Nothing torn is ever delivered.** A writer killed mid-``write()`` (SIGKILL can stop a
  large write at a page boundary) leaves a prefix of a record. Each record is
  ``magic | length | crc32(payload) | crc32(header)`` + payload, so the reader checks
  the header before trusting the length and the payload before delivering it, and
  resynchronises on the next magic when a check fails.
* **No stale lock.** Consumers lock with ``flock`` (through ``filelock.lock_descriptor``),
  which the kernel drops when the holder dies, however it dies.
* **Cheap change check.** An empty poll is one ``fstat`` compared with the read position.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import struct
import threading
import time
import zlib
from typing import Callable, Iterator

import filelock

from ..limits import DEQUEUE_COALESCE_S, DEQUEUE_READ_CHUNK, STALE_SESSION_AFTER_S
from .backend import SessionClosedError
from .watch import watch_directory

_MAGIC = b"LSQ\x01"
_HEAD = struct.Struct("<4sII")  # magic, payload length, payload crc32
_HEAD_CRC = struct.Struct("<I")  # crc32 of the 12 header bytes
HEADER_SIZE = _HEAD.size + _HEAD_CRC.size
_RECORD_HEAD = struct.Struct("<4sIII")  # the whole header in one pack (the append hot path)
#: The largest item accepted, a bound on what a corrupt length could make a reader wait for.
MAX_ITEM_BYTES = 64 * 1024 * 1024
_U64 = struct.Struct("<Q")
#: At most this many inotify watchers for waits on attached sessions (each is a descriptor and an
#: inotify instance, of which a user has 128 by default); the oldest is closed past it.
ATTACHED_WATCHERS_MAX = 16
#: Bytes of log read at a time when a range is read back: small, so reading a long text back
#: costs little memory beside the text itself.
RANGE_READ_CHUNK = 256 * 1024


class QueueHomeError(PermissionError):
    """The queue home is not private to this user: refusing to use it."""


def default_home() -> str:
    home = os.environ.get("LAZYSTREAM_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "lazystream")


def frame(payload: bytes) -> bytes:
    size = len(payload)
    if size > MAX_ITEM_BYTES:
        raise ValueError(
            f"queue item of {size} bytes is over the {MAX_ITEM_BYTES}-byte limit; "
            "send large data by reference (a file path) instead"
        )
    crc = zlib.crc32(payload)
    return _RECORD_HEAD.pack(_MAGIC, size, crc, zlib.crc32(_HEAD.pack(_MAGIC, size, crc))) + payload


def unframe(buf: bytes, limit: int | None = None) -> tuple[list[bytes], int]:
    """Parse complete, intact records from ``buf``; return them and the bytes consumed.

    Stops at an incomplete record at the end (a write still in progress, or the torn
    tail of a dead writer, which stays unread until a later record lets us skip it).
    """
    items: list[bytes] = []
    view = memoryview(buf)
    pos, end = 0, len(buf)
    while end - pos >= HEADER_SIZE and (limit is None or len(items) < limit):
        head = view[pos : pos + _HEAD.size]
        magic, length, crc = _HEAD.unpack(head)
        (head_crc,) = _HEAD_CRC.unpack(view[pos + _HEAD.size : pos + HEADER_SIZE])
        if magic != _MAGIC or head_crc != zlib.crc32(head) or length > MAX_ITEM_BYTES:
            pos = _resync(buf, pos + 1)
            continue
        if end - pos - HEADER_SIZE < length:
            # Incomplete. Appends are atomic, so nothing can follow a write still in progress:
            # an intact record after it means this one is torn and will never complete.
            nxt = _next_intact_record(buf, pos + HEADER_SIZE)
            if nxt < 0:
                break  # in progress, or torn with nothing intact after it yet
            pos = nxt
            continue
        payload = bytes(view[pos + HEADER_SIZE : pos + HEADER_SIZE + length])
        if zlib.crc32(payload) != crc:
            pos = _resync(buf, pos + 1)  # a torn record followed by later ones
            continue
        items.append(payload)
        pos += HEADER_SIZE + length
    return items, pos


def _resync(buf: bytes, start: int) -> int:
    found = buf.find(_MAGIC, start)
    if found < 0:
        # keep the last bytes: a record may be starting there
        return max(start, len(buf) - len(_MAGIC) + 1)
    return found


def _next_intact_record(buf: bytes, start: int) -> int:
    """Offset of the first complete record with intact checksums at or after ``start``, or -1."""
    view = memoryview(buf)
    found = buf.find(_MAGIC, start)
    while found >= 0:
        size = _declared_record_size(view[found : found + HEADER_SIZE])
        if size and found + size <= len(buf):
            if zlib.crc32(view[found + HEADER_SIZE : found + size]) == _HEAD.unpack_from(buf, found)[2]:
                return found
        found = buf.find(_MAGIC, found + 1)
    return -1


def _next_intact_record_in_file(fd: int, start: int, size: int) -> int:
    """Offset of the first intact record after ``start`` in the first ``size`` bytes of the log, or -1.

    Reads a chunk at a time; chunks overlap by a header so a record starting across a boundary is seen.
    """
    pos = start + 1
    while pos < size:
        buf = os.pread(fd, min(size - pos, DEQUEUE_READ_CHUNK), pos)
        found = buf.find(_MAGIC)
        while found >= 0:
            need = _declared_record_size(buf[found : found + HEADER_SIZE])
            if need and pos + found + need <= size:
                payload = os.pread(fd, need - HEADER_SIZE, pos + found + HEADER_SIZE)
                if zlib.crc32(payload) == _HEAD.unpack_from(buf, found)[2]:
                    return pos + found
            found = buf.find(_MAGIC, found + 1)
        if pos + len(buf) >= size:
            break
        pos += max(1, len(buf) - HEADER_SIZE)
    return -1


def _declared_record_size(buf: bytes) -> int:
    """Size of the record starting ``buf`` if its header is intact, else 0."""
    if len(buf) < HEADER_SIZE:
        return 0
    head = buf[: _HEAD.size]
    magic, length, _ = _HEAD.unpack(head)
    (head_crc,) = _HEAD_CRC.unpack(buf[_HEAD.size : HEADER_SIZE])
    if magic != _MAGIC or head_crc != zlib.crc32(head) or length > MAX_ITEM_BYTES:
        return 0
    return HEADER_SIZE + length


def _process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces: split after the last ')'
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


_own_start: tuple[int, str | None] | None = None


def _own_start_time() -> str | None:
    """This process's start time, read once per process (every new session records it)."""
    global _own_start
    pid = os.getpid()
    if _own_start is None or _own_start[0] != pid:  # a forked child has its own
        _own_start = (pid, _process_start_time(pid))
    return _own_start[1]


def _pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    if start is not None and os.path.exists("/proc"):
        return _process_start_time(pid) == start
    return True


class _QueueFiles:
    """Open descriptors of one queue, cached per process, and its appender (the streaming hot path)."""

    __slots__ = ("log_fd", "off_fd", "lock_fd", "mutex", "appender", "read_size")

    def __init__(self, log_fd: int, off_fd: int, lock_fd: int) -> None:
        self.log_fd = log_fd
        self.off_fd = off_fd
        self.lock_fd = lock_fd
        self.mutex = threading.Lock()  # in-process consumers queue here, not on flock's poll sleep
        self.appender: Callable[[bytes], None] | None = None
        self.read_size = -1  # a log size up to which every item has been read (by anyone)

    def close(self) -> None:
        fds = (self.log_fd, self.off_fd, self.lock_fd)
        self.log_fd = self.off_fd = self.lock_fd = -1  # a cached appender sees the queue closed
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def _make_appender(files: _QueueFiles, signals: dict[str, _Signal], session_id: str, queue: str):
    """Appends items to one queue with everything bound once: the streaming hot path.

    ``append(item)`` is one frame and one ``write`` (about 2x a bare ``os.write`` loop of the
    same bytes); ``append.end()`` is the "read up to here" mark of what was appended through
    this process's descriptor so far (our pool waits for it; see ``runtime/pool.py``). Once
    the session is closed both raise :class:`SessionClosedError`. A closure, not a class: a
    call is cheaper, and this runs once per streamed token.
    """
    crc32, head12, head16, magic, write, lseek = zlib.crc32, _HEAD.pack, _RECORD_HEAD.pack, _MAGIC, os.write, os.lseek

    def closed() -> SessionClosedError:
        return SessionClosedError(f"session {session_id[:8]}… was closed: queue {queue!r} takes no more items")

    def append(item: bytes) -> None:
        fd = files.log_fd
        if fd < 0:
            raise closed()
        size = len(item)
        if size > MAX_ITEM_BYTES:
            frame(item)  # raises the error that says what to do
        crc = crc32(item)
        data = head16(magic, size, crc, crc32(head12(magic, size, crc))) + item
        written = write(fd, data)  # one write: all of it, for any item of a normal size
        if written != len(data):
            _write_all(fd, data[written:])  # a short write (a signal, a full disk): the rest
        sig = signals.get(session_id)  # made by the first waiter: none, no one to wake
        if sig is not None and sig.waiters:
            sig.bump()

    def end() -> int:
        # the descriptor's offset is at the end of our last record, or past it when another
        # thread appended since: either way a safe "wait until read up to here" mark
        fd = files.log_fd
        if fd < 0:
            raise closed()
        return lseek(fd, 0, os.SEEK_CUR)

    append.end = end  # type: ignore[attr-defined]
    return append


class _Signal:
    """Wakes an empty ``dequeue()`` of this process when an item is appended to its session.

    A lock used as a binary semaphore: a waiter blocks in C (``acquire(timeout)``) and a
    producer's :meth:`bump` is one ``release()`` when someone waits, so the producer's hot
    path runs no Python-level ``Condition`` machinery. A wake-up that nobody consumed
    (the waiter timed out at the same moment) leaves the lock released: the next wait
    returns at once, reads nothing and waits again (harmless).

    ``last_data`` (set by reads that returned items) lets waiters coalesce wake-ups during
    a burst: see :meth:`FileBackend.wait_for_item`.
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


class FileBackend:
    """See the module docstring. One instance per queue home per process."""

    def __init__(self, home: str | None = None) -> None:
        self.home = home or default_home()
        self.sessions_dir = os.path.join(self.home, "sessions")
        self._files: dict[tuple[str, str], _QueueFiles] = {}
        self._seq_fds: dict[str, tuple[int, threading.Lock]] = {}
        self._signals: dict[str, _Signal] = {}
        #: sessions opened by id (not created here), with their inotify watcher once one waited
        self._attached: dict[str, object] = {}
        self._last_read: dict[tuple[str, str], float] = {}
        self._heartbeat_at: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._prepared = False

    # ---- home and sessions ----------------------------------------------------

    def _prepare(self) -> None:
        if self._prepared:
            return
        with self._lock:
            if self._prepared:
                return
            _private_dir(self.home)
            _private_dir(self.sessions_dir)
            self._prepared = True
        self.sweep()

    def _session_dir(self, session_id: str) -> str:
        return os.path.join(self.sessions_dir, session_id)

    def create_session(self, session_id: str, *, owned: bool) -> None:
        self._prepare()
        sdir = self._session_dir(session_id)
        for d in (sdir, os.path.join(sdir, "q")):  # not makedirs: its mode applies to the leaf only
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
        if not owned:
            self._attached.setdefault(session_id, None)
        if owned:
            owner = {"pid": os.getpid(), "start": _own_start_time(), "created": time.time()}
            _write_private(os.path.join(sdir, "owner"), json.dumps(owner).encode())

    def session_exists(self, session_id: str) -> bool:
        return os.path.isdir(os.path.join(self._session_dir(session_id), "q"))

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            for key in [k for k in self._files if k[0] == session_id]:
                self._files.pop(key).close()
            seq = self._seq_fds.pop(session_id, None)
            if seq is not None:
                os.close(seq[0])
            self._signals.pop(session_id, None)
            watcher = self._attached.pop(session_id, None)
            if watcher is not None:
                watcher.close()
            for activity in (self._last_read, self._heartbeat_at):
                for key in [k for k in activity if k[0] == session_id]:
                    del activity[key]
        shutil.rmtree(self._session_dir(session_id), ignore_errors=True)

    def sweep(self, older_than: float = STALE_SESSION_AFTER_S) -> list[str]:
        """Delete sessions whose owner process is dead and whose files are older than ``older_than`` s."""
        removed = []
        try:
            names = os.listdir(self.sessions_dir)
        except OSError:
            return removed
        now = time.time()
        for name in names:
            sdir = os.path.join(self.sessions_dir, name)
            try:
                with open(os.path.join(sdir, "owner"), "rb") as f:
                    owner = json.loads(f.read())
                if _pid_alive(int(owner["pid"]), owner.get("start")):
                    continue
                newest = max(
                    (e.stat().st_mtime for d in (sdir, os.path.join(sdir, "q")) for e in os.scandir(d)),
                    default=0.0,
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not owned (attached from another process) or half-made: leave it
            if now - newest >= older_than:
                shutil.rmtree(sdir, ignore_errors=True)
                removed.append(name)
        return removed

    # ---- descriptors ----------------------------------------------------------

    def _queue_files(self, session_id: str, queue: str) -> _QueueFiles:
        key = (session_id, queue)
        files = self._files.get(key)
        if files is not None:
            return files
        with self._lock:
            files = self._files.get(key)
            if files is None:
                self._prepare_unlocked_session(session_id)
                sdir = self._session_dir(session_id)
                log_fd = _open_private(os.path.join(sdir, "q", queue + ".log"), os.O_APPEND | os.O_RDWR)
                off_fd = _open_private(os.path.join(sdir, queue + ".off"), os.O_RDWR)
                lock_fd = _open_private(os.path.join(sdir, queue + ".lock"), os.O_RDWR)
                files = self._files[key] = _QueueFiles(log_fd, off_fd, lock_fd)
        return files

    def _prepare_unlocked_session(self, session_id: str) -> None:
        if not self._prepared:
            _private_dir(self.home)
            _private_dir(self.sessions_dir)
            self._prepared = True
        if not self.session_exists(session_id):
            raise SessionClosedError(
                f"session {session_id[:8]}… has no queue files: it was closed (or never created). "
                "Open a new one with lazystream_widget.session()"
            )

    def _signal(self, session_id: str) -> _Signal:
        sig = self._signals.get(session_id)
        if sig is None:
            sig = self._signals.setdefault(session_id, _Signal())
        return sig

    # ---- writing --------------------------------------------------------------

    def append(self, session_id: str, queue: str, item: bytes) -> int:
        appender = self.appender(session_id, queue)
        appender(item)
        return appender.end()  # type: ignore[attr-defined]

    def appender(self, session_id: str, queue: str) -> Callable[[bytes], None]:
        """What ``append`` does, bound to one queue: ``appender(item)``, then ``appender.end()`` for the mark.

        ``FileSystemQueue`` keeps it between calls (the per-token path of a stream).
        """
        files = self._files.get((session_id, queue)) or self._queue_files(session_id, queue)
        appender = files.appender
        if appender is None:
            appender = files.appender = _make_appender(files, self._signals, session_id, queue)
        return appender

    def append_numbered(self, session_id: str, queue: str, make_item: Callable[[int], bytes]) -> int:
        fd, mutex = self._seq_fd(session_id)
        with mutex:
            filelock.lock_descriptor(fd, poll_interval=0.001)
            try:
                raw = os.pread(fd, 8, 0)
                seq = (_U64.unpack(raw)[0] if len(raw) == 8 else 0) + 1
                os.pwrite(fd, _U64.pack(seq), 0)
                return self.append(session_id, queue, make_item(seq))
            finally:
                filelock.unlock_descriptor(fd)

    def _seq_fd(self, session_id: str) -> tuple[int, threading.Lock]:
        entry = self._seq_fds.get(session_id)
        if entry is None:
            with self._lock:
                entry = self._seq_fds.get(session_id)
                if entry is None:
                    self._prepare_unlocked_session(session_id)
                    fd = _open_private(os.path.join(self._session_dir(session_id), "seq"), os.O_RDWR)
                    entry = self._seq_fds[session_id] = (fd, threading.Lock())
        return entry

    # ---- reading --------------------------------------------------------------

    def read(self, session_id: str, queue: str, limit: int | None = None) -> list[bytes]:
        self._note_read(session_id, queue)
        files = self._files.get((session_id, queue)) or self._queue_files(session_id, queue)
        # the cheap change check first, no lock: the log only grows, so a size we already read up
        # to means nothing new (one fstat); else compare with the shared read position (one pread)
        size = os.fstat(files.log_fd).st_size
        if size == files.read_size or size <= _read_u64(files.off_fd):
            files.read_size = size
            return []
        items = self._consume(files, limit, destructive=True)
        if items:
            sig = self._signals.get(session_id)
            if sig is not None:
                sig.last_data = time.monotonic()
        return items

    def _consume(self, files: _QueueFiles, limit: int | None, *, destructive: bool) -> list[bytes]:
        with files.mutex:
            filelock.lock_descriptor(files.lock_fd, poll_interval=0.001)
            try:
                items: list[bytes] = []
                start = off = _read_u64(files.off_fd)
                while limit is None or len(items) < limit:
                    size = os.fstat(files.log_fd).st_size
                    if size <= off:
                        break
                    buf = os.pread(files.log_fd, min(size - off, DEQUEUE_READ_CHUNK), off)
                    need = _declared_record_size(buf)
                    if need > len(buf) and size - off >= need:  # one record larger than a chunk
                        buf = os.pread(files.log_fd, need, off)
                    got, used = unframe(buf, None if limit is None else limit - len(items))
                    items.extend(got)
                    off += used
                    if used == 0:
                        # stuck on an incomplete record: if the file holds more than this chunk, the record
                        # may be a torn one followed by intact records beyond the chunk (a large item cut by
                        # a kill); skip to the next of them. Nothing can follow a write still in progress.
                        if size - off > len(buf) and (nxt := _next_intact_record_in_file(files.log_fd, off, size)) > 0:
                            off = nxt
                            continue
                        break
                if destructive and off != start:
                    os.pwrite(files.off_fd, _U64.pack(off), 0)
                if destructive and off == size:
                    files.read_size = size  # read up to the end: the next empty check is one fstat
                return items
            finally:
                filelock.unlock_descriptor(files.lock_fd)

    def iter_range(self, session_id: str, queue: str, start: int, stop: int,
                   chunk: int = RANGE_READ_CHUNK) -> Iterator[list[bytes]]:
        """The items between log positions ``start`` and ``stop``, ``chunk`` bytes of log at a time, not consumed.

        Positions are those :meth:`consumed` reports. The runner keeps a run's text in the log this
        way instead of a second copy in memory (``run_text.py``); torn records are skipped as in reads.
        """
        files = self._queue_files(session_id, queue)
        off = start
        while off < stop:
            buf = os.pread(files.log_fd, min(stop - off, chunk), off)
            if not buf:
                return
            need = _declared_record_size(buf)
            if need > len(buf) and stop - off >= need:  # one record larger than a chunk
                buf = os.pread(files.log_fd, need, off)
            items, used = unframe(buf)
            if items:
                yield items
            off += used
            if used == 0:
                nxt = _next_intact_record_in_file(files.log_fd, off, stop)
                if nxt <= 0:
                    return
                off = nxt

    def peek(self, session_id: str, queue: str) -> bytes | None:
        files = self._queue_files(session_id, queue)
        items = self._consume(files, 1, destructive=False)
        return items[0] if items else None

    def size(self, session_id: str, queue: str) -> int:
        files = self._queue_files(session_id, queue)
        return len(self._consume(files, None, destructive=False)) if self._has_unread(files) else 0

    def _has_unread(self, files: _QueueFiles) -> bool:
        return os.fstat(files.log_fd).st_size > _read_u64(files.off_fd)

    def clear(self, session_id: str, queue: str) -> None:
        files = self._queue_files(session_id, queue)
        with files.mutex:
            filelock.lock_descriptor(files.lock_fd, poll_interval=0.001)
            try:
                os.pwrite(files.off_fd, _U64.pack(os.fstat(files.log_fd).st_size), 0)
            finally:
                filelock.unlock_descriptor(files.lock_fd)

    def consumed(self, session_id: str, queue: str) -> int:
        return _read_u64(self._queue_files(session_id, queue).off_fd)

    # ---- consumer activity and waiting ------------------------------------------

    def _note_read(self, session_id: str, queue: str) -> None:
        key = (session_id, queue)
        now = time.time()
        self._last_read[key] = now
        # a consumer in another process is seen through the mtime of the queue's ``.reader``
        # file; touch it at most twice a second so that polling stays a cheap path
        if now - self._heartbeat_at.get(key, 0.0) > 0.5:
            self._heartbeat_at[key] = now
            path = self._reader_path(session_id, queue)
            try:
                os.utime(path, None)
            except FileNotFoundError:
                try:
                    _write_private(path, b"")
                except OSError:
                    pass
            except OSError:
                pass

    def _reader_path(self, session_id: str, queue: str) -> str:
        # a file of its own, made by the first read: writers opening the queue do not move it,
        # and it is outside q/, so touching it wakes no watcher
        return os.path.join(self._session_dir(session_id), queue + ".reader")

    def last_read_at(self, session_id: str, queue: str) -> float:
        local = self._last_read.get((session_id, queue), 0.0)
        try:
            remote = os.stat(self._reader_path(session_id, queue)).st_mtime
        except OSError:
            remote = 0.0
        return max(local, remote)

    def wait_for_item(self, session_id: str, timeout: float) -> None:
        """Block up to ``timeout`` s, or until an item is appended to the session.

        Wake-ups are coalesced during a burst: if a read returned items less than
        ``DEQUEUE_COALESCE_S`` ago, the waiter sleeps out the rest of that interval
        and the next read takes what gathered meanwhile, instead of waking (and taking
        the GIL from the producer) once per item. After a quiet spell the first item
        wakes the waiter at once. Sessions opened by id (attached: the producer is
        probably another process) are waited on through inotify, which sees appends from
        any process; sessions this process created use the in-process signal.
        """
        sig = self._signal(session_id)
        gather = sig.last_data + DEQUEUE_COALESCE_S - time.monotonic()
        if gather > 0:
            time.sleep(min(gather, timeout))
            return
        if session_id in self._attached:
            self._attached_watcher(session_id).wait(timeout)
        else:
            sig.wait(timeout)

    def _attached_watcher(self, session_id: str):
        watcher = self._attached.get(session_id)
        if watcher is None:
            with self._lock:
                live = [k for k, w in self._attached.items() if w is not None]
                for old in live[: max(0, len(live) - ATTACHED_WATCHERS_MAX + 1)]:  # oldest first (dict order)
                    self._attached.pop(old).close()  # re-made on its next wait if still used
                watcher = self._attached[session_id] = self.watcher(session_id)
        return watcher

    def watcher(self, session_id: str):
        self._prepare()
        return watch_directory(os.path.join(self._session_dir(session_id), "q"))

    def watch_set(self):
        """One waiter for appends to many sessions (the runner's pump): see ``runtime/watchset.py``."""
        from .watchset import InotifyWatchSet

        self._prepare()
        return InotifyWatchSet(lambda session_id: os.path.join(self._session_dir(session_id), "q"))


def _read_u64(fd: int) -> int:
    raw = os.pread(fd, 8, 0)
    return _U64.unpack(raw)[0] if len(raw) == 8 else 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _open_private(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o600)


def _write_private(path: str, data: bytes) -> None:
    fd = _open_private(path, os.O_WRONLY | os.O_TRUNC)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _private_dir(path: str) -> None:
    """Create ``path`` 0700, or check that an existing one is ours and private."""
    try:
        os.makedirs(path, mode=0o700)
    except FileExistsError:
        pass
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise QueueHomeError(
            f"queue home {path} is not a directory (a symlink or a file?); remove it or set LAZYSTREAM_HOME"
        )
    if st.st_uid != os.geteuid():
        raise QueueHomeError(
            f"queue home {path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}); "
            "set LAZYSTREAM_HOME to a directory of your own"
        )
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours but readable by others: tighten it rather than leak
