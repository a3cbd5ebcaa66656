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
from typing import Callable

import filelock

from ..limits import DEQUEUE_READ_CHUNK, STALE_SESSION_AFTER_S
from .backend import SessionClosedError
from .watch import watch_directory

_MAGIC = b"LSQ\x01"
_HEAD = struct.Struct("<4sII")  # magic, payload length, payload crc32
_HEAD_CRC = struct.Struct("<I")  # crc32 of the 12 header bytes
HEADER_SIZE = _HEAD.size + _HEAD_CRC.size
#: The largest item accepted, a bound on what a corrupt length could make a reader wait for.
MAX_ITEM_BYTES = 64 * 1024 * 1024
_U64 = struct.Struct("<Q")


class QueueHomeError(PermissionError):
    """The queue home is not private to this user: refusing to use it."""


def default_home() -> str:
    home = os.environ.get("LAZYSTREAM_HOME")
    if home:
        return os.path.abspath(os.path.expanduser(home))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "lazystream")


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_ITEM_BYTES:
        raise ValueError(
            f"queue item of {len(payload)} bytes is over the {MAX_ITEM_BYTES}-byte limit; "
            "send large data by reference (a file path) instead"
        )
    head = _HEAD.pack(_MAGIC, len(payload), zlib.crc32(payload))
    return head + _HEAD_CRC.pack(zlib.crc32(head)) + payload


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
    """Open descriptors of one queue, cached per process."""

    __slots__ = ("log_fd", "off_fd", "lock_fd", "mutex")

    def __init__(self, log_fd: int, off_fd: int, lock_fd: int) -> None:
        self.log_fd = log_fd
        self.off_fd = off_fd
        self.lock_fd = lock_fd
        self.mutex = threading.Lock()  # in-process consumers queue here, not on flock's poll sleep

    def close(self) -> None:
        for fd in (self.log_fd, self.off_fd, self.lock_fd):
            try:
                os.close(fd)
            except OSError:
                pass


class _Signal:
    """In-process wake-up for empty ``dequeue()`` waits: set by every append."""

    __slots__ = ("cond", "waiters", "gen")

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.waiters = 0
        self.gen = 0

    def bump(self) -> None:
        if self.waiters:  # unlocked read is fine: a waiter re-checks the queue before sleeping
            with self.cond:
                self.gen += 1
                self.cond.notify_all()


class FileBackend:
    """See the module docstring. One instance per queue home per process."""

    #: Closing a session deletes its files at once: a watcher can follow a live session, not replay a closed one.
    replays = False

    def __init__(self, home: str | None = None) -> None:
        self.home = home or default_home()
        self.sessions_dir = os.path.join(self.home, "sessions")
        self._files: dict[tuple[str, str], _QueueFiles] = {}
        self._seq_fds: dict[str, tuple[int, threading.Lock]] = {}
        self._signals: dict[str, _Signal] = {}
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
        if owned:
            owner = {"pid": os.getpid(), "start": _process_start_time(os.getpid()), "created": time.time()}
            _write_private(os.path.join(sdir, "owner"), json.dumps(owner).encode())

    def describe(self) -> str:
        return f"the file backend under {self.home}"

    def close_session(self, session_id: str) -> None:
        self.delete_session(session_id)

    def session_state(self, session_id: str) -> str:
        return "open" if self.session_exists(session_id) else "missing"

    def session_exists(self, session_id: str) -> bool:
        return os.path.isdir(os.path.join(self._session_dir(session_id), "q"))

    def delete_session(self, session_id: str) -> None:
        self.release_session(session_id)
        with self._lock:
            self._signals.pop(session_id, None)
            for activity in (self._last_read, self._heartbeat_at):
                for key in [k for k in activity if k[0] == session_id]:
                    del activity[key]
        shutil.rmtree(self._session_dir(session_id), ignore_errors=True)

    def release_session(self, session_id: str) -> None:
        """Close this process's descriptors of the session; its files stay (they are its owner's)."""
        with self._lock:
            for key in [k for k in self._files if k[0] == session_id]:
                self._files.pop(key).close()
            seq = self._seq_fds.pop(session_id, None)
            if seq is not None:
                os.close(seq[0])

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
        files = self._queue_files(session_id, queue)
        data = frame(item)
        _write_all(files.log_fd, data)
        # the descriptor's offset is at the end of our record, or past it when another
        # thread appended meanwhile: either way a safe "wait until read up to here" mark
        end = os.lseek(files.log_fd, 0, os.SEEK_CUR)
        self._signal(session_id).bump()
        return end

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
        files = self._queue_files(session_id, queue)
        # the cheap change check first: no lock, one fstat and one pread of 8 bytes
        if os.fstat(files.log_fd).st_size <= _read_u64(files.off_fd):
            return []
        return self._consume(files, limit, destructive=True)

    def _consume(self, files: _QueueFiles, limit: int | None, *, destructive: bool) -> list[bytes]:
        with files.mutex:
            filelock.lock_descriptor(files.lock_fd, poll_interval=0.001)
            try:
                start = _read_u64(files.off_fd)
                items, off = _read_records(files.log_fd, start, limit)
                if destructive and off != start:
                    os.pwrite(files.off_fd, _U64.pack(off), 0)
                return items
            finally:
                filelock.unlock_descriptor(files.lock_fd)

    def read_from(self, session_id: str, queue: str, cursor: str, limit: int | None = None) -> tuple[list[bytes], str]:
        """Non-destructive read from a byte offset of the queue's log (the log keeps every item until the
        session is deleted: ``dequeue`` only moves the consumer's offset). No lock: appended bytes never change."""
        try:
            start = int(cursor)
        except ValueError:
            raise ValueError(f"not a cursor of the file backend: {cursor!r}") from None
        try:
            files = self._queue_files(session_id, queue)
        except FileNotFoundError:  # deleted between the check and the open
            raise SessionClosedError(f"session {session_id[:8]}… was closed") from None
        items, off = _read_records(files.log_fd, start, limit)
        return items, str(off)

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
        sig = self._signal(session_id)
        with sig.cond:
            sig.waiters += 1
            try:
                sig.cond.wait(timeout)
            finally:
                sig.waiters -= 1

    def watcher(self, session_id: str):
        self._prepare()
        return watch_directory(os.path.join(self._session_dir(session_id), "q"))


def _read_records(log_fd: int, off: int, limit: int | None) -> tuple[list[bytes], int]:
    """Intact records of a log from byte ``off`` (at most ``limit``): the items and the offset after them."""
    items: list[bytes] = []
    while limit is None or len(items) < limit:
        size = os.fstat(log_fd).st_size
        if size <= off:
            break
        buf = os.pread(log_fd, min(size - off, DEQUEUE_READ_CHUNK), off)
        need = _declared_record_size(buf)
        if need > len(buf) and size - off >= need:  # one record larger than a chunk
            buf = os.pread(log_fd, need, off)
        got, used = unframe(buf, None if limit is None else limit - len(items))
        items.extend(got)
        off += used
        if used == 0:
            # stuck on an incomplete record: if the file holds more than this chunk, the record
            # may be a torn one followed by intact records beyond the chunk (a large item cut by
            # a kill); skip to the next of them. Nothing can follow a write still in progress.
            if size - off > len(buf) and (nxt := _next_intact_record_in_file(log_fd, off, size)) > 0:
                off = nxt
                continue
            break
    return items, off


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
