"""The Redis Streams backend of ``FileSystemQueue``: for runs whose producer and watcher are on different machines.

Chosen with the ``queue`` setting (``LAZYSTREAM_QUEUE=redis://host:6379/0`` or
``configure(queue=...)``); the ``FileSystemQueue`` API, sessions, the executor, traces and the
widget work unchanged. Each (session, queue) is one stream (the key layout is in
``redis_scripts.py``); the benchmark in ``benchmarks/redis_bench.py`` compared it with one stream per
session and a queue field (see docs/benchmarks.md).

What differs from the file backend, by design (it can replay):

* ``dequeue()`` moves the consumer's position (kept in Redis, per queue) and deletes nothing, so
  watchers (``read_from``) can read the whole session, late, any number of them, without taking
  items from each other or from the consumer.
* Closing a session marks it ended and sets its expiry (``queue_expiry``, default a day) instead
  of deleting it. Streams are trimmed to about ``REDIS_STREAM_MAXLEN`` items (``XADD MAXLEN ~``).
* Faults: every command is retried across reconnects for ``REDIS_PRODUCER_RETRY_S`` (then
  :class:`QueueUnavailableError`). A write whose reply was lost is looked up by its write token
  before it is sent again, and a take whose reply was lost is recovered from the position record,
  so a Redis restart (with its append-only file) neither loses nor duplicates items.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import threading
import time
from typing import Any, Callable

from ..limits import REDIS_READ_BATCH, REDIS_SESSION_EXPIRY_S, REDIS_STREAM_MAXLEN, REDIS_WAIT_IDLE_S
from ..settings import mask_url
from . import redis_scripts as lua
from .backend import SessionClosedError
from .filestore import MAX_ITEM_BYTES, frame
from .redis_conn import call, connect
from .redis_reader import Notify, StreamReader, Subscription
from .redis_watch import DequeueWaits, RedisSessionWatcher, RedisWatchSet, standard_queues

#: Prefix of every key the backend writes.
KEY_PREFIX = "lsw:"
#: A consumer's read time is written at most this often (a busy-polling loop must not write on every poll).
_HEARTBEAT_EVERY_S = 0.5


def id_to_position(stream_id: bytes | str) -> int:
    """A stream id ``ms-seq`` as an int with the same order (``append`` and ``consumed`` positions)."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return (int(ms) << 64) | int(seq or 0)


class _Appending:
    """One queue's append state in this process: its keys, the last id written, when its expiry was refreshed."""

    __slots__ = ("keys", "last_id", "last_position", "touched_at", "expiry", "touch_every")

    def __init__(self, backend: RedisBackend, session_id: str, queue: str) -> None:
        key = backend._key
        # the order the append scripts expect: stream, meta, queues, seq, pos, read
        self.keys = (backend.stream_key(session_id, queue), *(key(session_id, k) for k in
                                                              ("meta", "queues", "seq", "pos", "read")))
        self.last_id = b"0-0"
        self.last_position = 0
        self.touched_at = -1e18  # the first write sets the stream's expiry
        self.expiry = backend.expiry
        self.touch_every = min(self.expiry / 4, 600)


class RedisBackend:
    """See the module docstring. One per Redis URL per process (``session.get_backend`` keeps them)."""

    replays = True
    #: ``read_from`` takes no ``report``: the runner's pump consumes a Redis session as any reader would.
    reads_by_position = False

    def __init__(self, url: str, *, expiry: float | None = None, maxlen: int = REDIS_STREAM_MAXLEN,
                 prefix: str = KEY_PREFIX) -> None:
        self.url = url
        self.client = connect(url)
        self._expiry = expiry
        self._expiry_cache: tuple[int, int] = (-1, 0)  # (settings.generation, seconds)
        self.maxlen = maxlen
        self.prefix = prefix
        self._token = secrets.token_hex(6)  # this process's write tokens: <token>.<n>
        self._token_bytes = self._token.encode()
        self._counter = itertools.count()
        self._scripts = {name: self.client.register_script(getattr(lua, name))
                         for name in ("TAKE", "PEEK", "SIZE", "CLEAR", "APPEND", "APPEND_NUMBERED", "READ_AGE",
                                     "SESSION_KEYS")}
        self._shas = {name: script.sha for name, script in self._scripts.items()}
        from redis.exceptions import NoScriptError

        self._noscript = NoScriptError
        self._lock = threading.Lock()
        self._appending: dict[tuple[str, str], _Appending] = {}  # what each queue's appends reuse
        self._heartbeat_at: dict[tuple[str, str], float] = {}
        self._waits: dict[str, DequeueWaits] = {}  # empty dequeues of this process wait here
        self._marks = threading.local()  # (session id, DequeueWaits.gen) at this thread's last read
        #: the process's one waiting reader (one thread, one connection) for every waiter on this backend
        self.reader = StreamReader(url, self.client, f"{prefix}wake:{self._token}".encode())

    def __repr__(self) -> str:
        return f"RedisBackend({mask_url(self.url)!r})"

    def describe(self) -> str:
        return f"Redis at {mask_url(self.url)}"

    @property
    def expiry(self) -> int:
        """Seconds a session's keys live after its last write or its close (the ``queue_expiry`` setting)."""
        if self._expiry is not None:
            return max(1, int(self._expiry))
        from .. import settings

        if settings.run_settings() is None:  # outside a run: cached until configure() changes something
            cached = self._expiry_cache
            if cached[0] == settings.generation:
                return cached[1]
        configured = settings.current_value("queue_expiry")
        value = max(1, int(configured if configured is not None else REDIS_SESSION_EXPIRY_S))
        if settings.run_settings() is None:
            self._expiry_cache = (settings.generation, value)
        return value

    def shutdown(self) -> None:
        """Close this process's connections (the data stays in Redis); the waiting reader ends once nobody waits."""
        self.reader.close()
        self.client.connection_pool.disconnect()

    close = shutdown

    # ---- keys -------------------------------------------------------------------

    def _key(self, session_id: str, what: str) -> str:
        return f"{self.prefix}{{{session_id}}}:{what}"

    def stream_key(self, session_id: str, queue: str) -> str:
        return self._key(session_id, "q:" + queue)

    def _session_keys(self, session_id: str) -> list[str]:
        return [self._key(session_id, k) for k in ("meta", "seq", "pos", "read", "queues")]

    def _call(self, op: Callable[[], Any], what: str, **kwargs: Any) -> Any:
        return call(op, self.url, what, **kwargs)

    # ---- sessions -----------------------------------------------------------------

    def create_session(self, session_id: str, *, owned: bool) -> None:
        meta = self._key(session_id, "meta")
        if owned:
            owner = f"{socket.gethostname()}:{os.getpid()}"

            def create() -> None:
                pipe = self.client.pipeline(transaction=True)
                pipe.hset(meta, mapping={"state": "open", "created": f"{time.time():.6f}", "owner": owner})
                pipe.expire(meta, self.expiry)
                pipe.execute()

            self._call(create, "create a session")
            return
        state = self.session_state(session_id)
        if state == "missing":
            raise SessionClosedError(
                f"session {session_id[:8]}… does not exist in {self.describe()}: it expired, was never created "
                "there, or Redis lost it (a restart without persistence). Check the id and the queue setting"
            )
        if state == "ended":
            raise SessionClosedError(
                f"session {session_id[:8]}… was closed by its owner: it can be watched "
                "(StreamView.attach) but takes no more items"
            )

    def session_exists(self, session_id: str) -> bool:
        return self.session_state(session_id) != "missing"

    def session_state(self, session_id: str) -> str:
        state = self._call(lambda: self.client.hget(self._key(session_id, "meta"), "state"), "read a session's state")
        return "missing" if state is None else state.decode()

    def close_session(self, session_id: str) -> None:
        self._session_keys_op(session_id, "end")
        self._forget(session_id)

    def delete_session(self, session_id: str) -> None:
        self._session_keys_op(session_id, "delete")
        self._forget(session_id)

    def release_session(self, session_id: str) -> None:
        self._forget(session_id)

    def _session_keys_op(self, session_id: str, mode: str) -> None:
        keys = self._session_keys(session_id)
        args = [self._key(session_id, "q:"), self.expiry, mode]
        self._call(lambda: self._scripts["SESSION_KEYS"](keys=keys, args=args), f"{mode} a session")

    def _forget(self, session_id: str) -> None:
        with self._lock:
            for cache in (self._appending, self._heartbeat_at):
                for key in [k for k in cache if k[0] == session_id]:
                    del cache[key]
            waits = self._waits.pop(session_id, None)
        if waits is not None and waits.sub is not None:
            self.reader.unsubscribe(waits.sub)

    # ---- writing ------------------------------------------------------------------

    def _write_token(self) -> bytes:
        return f"{self._token}.{next(self._counter)}".encode()

    def append(self, session_id: str, queue: str, item: bytes) -> int:
        if len(item) > MAX_ITEM_BYTES:
            frame(item)  # raises the file backend's error: the same limit on both backends
        return self._append(session_id, queue, "APPEND", item, b"")

    def append_numbered(self, session_id: str, queue: str, make_item: Callable[[int], bytes]) -> int:
        """``make_item`` is called with a placeholder number, which Redis replaces with the session's next
        sequence number as it appends (one atomic script); an item that does not show the placeholder
        exactly once is numbered in a WATCH/MULTI transaction instead."""
        placeholder = str(secrets.randbelow(9 * 10**17) + 10**17).encode()
        parts = make_item(int(placeholder)).split(placeholder)
        if len(parts) == 2:
            return self._append(session_id, queue, "APPEND_NUMBERED", parts[0], parts[1])
        return self._append_in_transaction(session_id, queue, make_item)

    def _append(self, session_id: str, queue: str, script_name: str, item: bytes, tail: bytes) -> int:
        # the streaming hot path: one EVALSHA, everything else cached per (session, queue)
        state = self._appending.get((session_id, queue))
        if state is None:
            state = self._appending[(session_id, queue)] = _Appending(self, session_id, queue)
        token = b"%s.%d" % (self._token_bytes, next(self._counter))
        now = time.monotonic()
        touch = now - state.touched_at > state.touch_every
        after = state.last_id
        args = (item, token, self.maxlen, state.expiry, b"1" if touch else b"0", queue, tail)
        sha = self._shas[script_name]

        def add() -> bytes:
            try:
                return self.client.evalsha(sha, 6, *state.keys, *args)
            except self._noscript:  # a restarted Redis forgot its scripts: load it again
                self._scripts[script_name].sha = self.client.script_load(getattr(lua, script_name))
                return self.client.evalsha(sha, 6, *state.keys, *args)

        try:
            stream_id = self._call(add, f"append to queue {queue!r}",
                                   recover=lambda: self._landed(state.keys[0], token, after))
        except Exception as exc:
            raise self._closed_error(exc, session_id, queue) from None
        position = id_to_position(stream_id)
        if position > state.last_position:
            state.last_id, state.last_position = stream_id, position
        if touch:
            state.touched_at = now
            state.expiry = self.expiry
            state.touch_every = min(state.expiry / 4, 600)
        self._wake(session_id)
        return position

    def _append_in_transaction(self, session_id: str, queue: str, make_item: Callable[[int], bytes]) -> int:
        from redis.exceptions import WatchError

        key, meta, seq_key = self.stream_key(session_id, queue), self._key(session_id, "meta"), self._key(session_id,
                                                                                                        "seq")
        token = self._write_token()
        after = b"0-0"  # a rare path: look for a lost write from the start

        def add() -> bytes:
            while True:
                with self.client.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(seq_key, meta)
                        if pipe.hget(meta, "state") != b"open":
                            raise SessionClosedError(f"session {session_id[:8]}… is closed")
                        seq = int(pipe.get(seq_key) or 0) + 1
                        pipe.multi()
                        pipe.set(seq_key, seq)
                        pipe.xadd(key, {b"d": make_item(seq), b"p": token}, maxlen=self.maxlen, approximate=True)
                        return pipe.execute()[1]
                    except WatchError:
                        continue  # another writer took a number meanwhile: take the next one

        stream_id = self._call(add, f"append to queue {queue!r}", recover=lambda: self._landed(key, token, after))
        self._touch(session_id, queue)
        self._wake(session_id)
        return id_to_position(stream_id)

    def _closed_error(self, exc: Exception, session_id: str, queue: str) -> Exception:
        if "LSWCLOSED" not in str(exc):
            return exc
        state = "was closed by its owner" if "ended" in str(exc) else ("does not exist (it expired, was never made, or "
                                                                    "Redis restarted without persistence)")
        return SessionClosedError(f"session {session_id[:8]}… {state} in {self.describe()}: "
                                  f"queue {queue!r} takes no more items")

    def _landed(self, key: str, token: bytes, after: bytes) -> tuple[bool, Any]:
        """After a write whose reply was lost: did it land? Looks for its token after the last id we know."""
        start = b"(" + after
        while True:
            rows = self.client.xrange(key, min=start, max="+", count=REDIS_READ_BATCH)
            for stream_id, fields in rows:
                if fields.get(b"p") == token:
                    return True, stream_id
            if len(rows) < REDIS_READ_BATCH:
                return False, None
            start = b"(" + rows[-1][0]

    def _touch(self, session_id: str, queue: str) -> None:
        key = self.stream_key(session_id, queue)

        def touch() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.sadd(self._key(session_id, "queues"), queue)
            for k in (key, *self._session_keys(session_id)):
                pipe.expire(k, self.expiry)
            pipe.execute()

        self._call(touch, "refresh a session's expiry")

    # ---- the consumer (destructive reads: the position moves, nothing is deleted) --------

    def read(self, session_id: str, queue: str, limit: int | None = None) -> list[bytes]:
        keys = [self.stream_key(session_id, queue), self._key(session_id, "pos"), self._key(session_id, "read")]
        now = time.monotonic()
        k = (session_id, queue)
        beat = now - self._heartbeat_at.get(k, 0.0) > _HEARTBEAT_EVERY_S
        if beat:
            self._heartbeat_at[k] = now
        waits = self._waits.get(session_id)
        if waits is not None:
            self._marks.last = (session_id, waits.gen)
        items: list[bytes] = []
        while limit is None or len(items) < limit:
            count = REDIS_READ_BATCH if limit is None else min(REDIS_READ_BATCH, limit - len(items))
            got = self._take(session_id, keys, queue, count, beat)
            beat = False
            items.extend(got)
            if len(got) < count:
                break
        return items

    def _take(self, session_id: str, keys: list[str], queue: str, count: int, beat: bool) -> list[bytes]:
        call_token = self._write_token()
        args = [queue, count, call_token, "1" if beat else "0", self.expiry]
        script = self._scripts["TAKE"]
        out = self._call(lambda: script(keys=keys, args=args), f"read queue {queue!r}",
                         recover=lambda: self._taken(keys, queue, call_token))
        return out[1:]

    def _taken(self, keys: list[str], queue: str, call_token: bytes) -> tuple[bool, Any]:
        """After a take whose reply was lost: if it moved the position, hand over what it took."""
        pos, prev, by = self.client.hmget(keys[1], [queue, f"{queue}:prev", f"{queue}:by"])
        if by != call_token:
            return False, None
        rows = self.client.xrange(keys[0], min=b"(" + prev, max=pos)
        return True, [pos, *(fields.get(b"d", b"") for _, fields in rows)]

    def peek(self, session_id: str, queue: str) -> bytes | None:
        keys = [self.stream_key(session_id, queue), self._key(session_id, "pos")]
        return self._call(lambda: self._scripts["PEEK"](keys=keys, args=[queue]), f"peek at queue {queue!r}")

    def size(self, session_id: str, queue: str) -> int:
        keys = [self.stream_key(session_id, queue), self._key(session_id, "pos")]
        return int(self._call(lambda: self._scripts["SIZE"](keys=keys, args=[queue]), f"size queue {queue!r}"))

    def clear(self, session_id: str, queue: str) -> None:
        keys = [self.stream_key(session_id, queue), self._key(session_id, "pos")]
        self._call(lambda: self._scripts["CLEAR"](keys=keys, args=[queue, self.expiry]), f"clear queue {queue!r}")

    def consumed(self, session_id: str, queue: str) -> int:
        pos = self._call(lambda: self.client.hget(self._key(session_id, "pos"), queue), "read a consumer position")
        return id_to_position(pos) if pos else 0

    def last_read_at(self, session_id: str, queue: str) -> float:
        keys = [self._key(session_id, "read")]
        age_us = self._call(lambda: self._scripts["READ_AGE"](keys=keys, args=[queue]), "read consumer activity")
        # the age comes from Redis's own clock: a producer on another machine needs no synchronised clock
        return 0.0 if age_us < 0 else time.time() - age_us / 1e6

    # ---- waiting ------------------------------------------------------------------

    def wait_for_item(self, session_id: str, timeout: float) -> None:
        """Wait up to ``timeout`` (a few ms, for an empty ``dequeue``), woken early by an append from any process.

        The first wait subscribes the session to the shared reader (:mod:`.redis_reader`), which then
        wakes it on every append until no wait came for ``REDIS_WAIT_IDLE_S``. Not a blocking XREAD
        of its own: Redis ends blocking commands on its 100 ms timer tick (``hz 10``), far longer
        than an empty dequeue may wait.
        """
        waits = self._waits.get(session_id)
        if waits is None or waits.sub is None or not waits.sub.active:
            waits = self._follow_for_dequeue(session_id)
        else:
            waits.sub.touch()
        mark = getattr(self._marks, "last", None)
        with waits.cond:
            if mark is not None and mark[0] == session_id and mark[1] != waits.gen:
                return  # something came since this thread's last read: read again now
            waits.waiting += 1
            try:
                waits.cond.wait(timeout)
            finally:
                waits.waiting -= 1

    def _follow_for_dequeue(self, session_id: str) -> DequeueWaits:
        with self._lock:
            waits = self._waits.get(session_id)
            if waits is None:
                waits = self._waits[session_id] = DequeueWaits()
        old = waits.sub
        if old is None or not old.active:
            waits.sub = self.subscribe(session_id, waits.changed, idle_after=REDIS_WAIT_IDLE_S)
            if old is not None:
                self.reader.unsubscribe(old)
        return waits

    def _wake(self, session_id: str) -> None:
        waits = self._waits.get(session_id)
        if waits is not None:
            waits.changed()

    def subscribe(self, session_id: str, notify: Notify, *,
                  idle_after: float | None = None) -> Subscription:
        """Have the shared reader call ``notify`` on each append to the session (from any process) from now on."""
        queues = set(standard_queues())
        try:
            queues |= {q.decode() for q in self.client.smembers(self._key(session_id, "queues"))}
        except Exception:
            pass  # Redis away for now: the standard queues are what the runner drains anyway
        keys = [self.stream_key(session_id, q).encode() for q in sorted(queues)]
        return self.reader.subscribe(session_id, keys, notify, idle_after)

    def watcher(self, session_id: str) -> RedisSessionWatcher:
        return RedisSessionWatcher(self, session_id)

    def watch_set(self) -> RedisWatchSet:
        """The pump's watch set: every session it serves waits in the shared reader's one XREAD."""
        return RedisWatchSet(self)

    # ---- watchers (non-destructive) -------------------------------------------------

    def read_from(self, session_id: str, queue: str, cursor: str, limit: int | None = None) -> tuple[list[bytes], str]:
        key = self.stream_key(session_id, queue)
        start = "-" if cursor in ("0", "0-0") else "(" + cursor
        count = REDIS_READ_BATCH if limit is None else min(limit, REDIS_READ_BATCH)
        rows = self._call(lambda: self.client.xrange(key, min=start, max="+", count=count), f"replay queue {queue!r}")
        if not rows:
            return [], cursor
        return [fields.get(b"d", b"") for _, fields in rows], rows[-1][0].decode()

    def trimmed(self, session_id: str, queue: str) -> int:
        """How many of the queue's first items MAXLEN trimmed away (0 if none, or on Redis < 7)."""
        key = self.stream_key(session_id, queue)

        def info() -> int:
            try:
                data = self.client.xinfo_stream(key)
            except Exception:
                return 0
            added = data.get("entries-added")
            return max(0, int(added) - int(data.get("length", 0))) if added is not None else 0

        return self._call(info, "read a stream's length")
