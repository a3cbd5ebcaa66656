"""One thread per Redis backend that waits for appends to every watched session at once.

Whoever in this process waits for a Redis session to change (the pump's watch set, a
``Session.watcher()``, an empty ``dequeue()``) *subscribes* here. The reader blocks in ONE
``XREAD COUNT n BLOCK ms STREAMS k1 k2 ... id1 id2 ...`` over the streams of every subscribed session,
on one connection of its own, and calls the subscribers of each session that changed. Before it, each
waiting session had a thread and a connection blocking in its own XREAD: 200 watched sessions were
200 threads taking the GIL in turns (enqueue-to-seen p95 about 2 s; docs/benchmarks.md).

Changing the set: the XREAD also reads a wake-up stream of this reader's own
(``<prefix>wake:<token>``); a subscription that adds streams appends to it while the reader is
blocked, so the XREAD returns at once and is issued again with the new set. Why not the others:

* a short BLOCK: Redis ends blocking commands on its timer tick (``hz 10``): ``XREAD BLOCK 2`` on an
  idle stream returns after 100 ms (measured on Redis 7.0), so a new session would wait that long;
* ``CLIENT UNBLOCK``: a wake-up sent just before the reader blocks is lost (a stream keeps it: the
  next XREAD returns it at once), and restricted ACL users may not run ``CLIENT``.

Removing streams needs no wake-up: the reader drops them when it next returns.

Edge-triggered: a subscription starts at its streams' current ends (read in the subscriber's thread
before it returns), so every later append is reported, nothing earlier. The thread starts with the
first subscription and ends, closing its connection, after one idle block with none. A lost connection
(Redis restarting) is retried with backoff; once the reader is back, every subscriber is called once
(something may have been appended meanwhile), so waiters never sleep through an outage's appends.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable

from .. import limits
from ..settings import mask_url
from .redis_conn import connect, masked, transient_errors

log = logging.getLogger("lazystream_widget.queue")

#: A subscriber's call: the streams of its session that changed (None: maybe any).
Notify = Callable[[set[bytes] | None], None]

#: The longest single block: well inside the socket timeout (a long wait is never taken for a dead
#: server), and how often idle subscriptions are swept and an unused reader ends.
_BLOCK_MS = 1000
#: How long the wake-up stream lives after its last use (it holds one entry).
_WAKE_TTL_MS = 3_600_000


def _bulk(value: bytes) -> bytes:
    """``value`` as a RESP bulk string (the wire form of one command argument)."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


class Subscription:
    """One interest in a session's streams: ``notify(keys)`` is called (in the reader thread) on appends,
    with the streams that changed (None: maybe any, e.g. after the reader reconnected).

    ``idle_after``: dropped when not :meth:`touch`-ed for that long (``active`` turns False).
    """

    __slots__ = ("session_id", "keys", "notify", "idle_after", "used", "active")

    def __init__(self, session_id: str, keys: list[bytes], notify: Notify,
                 idle_after: float | None) -> None:
        self.session_id = session_id
        self.keys = keys
        self.notify = notify
        self.idle_after = idle_after
        self.used = time.monotonic()
        self.active = True

    def touch(self) -> None:
        self.used = time.monotonic()


class StreamReader:
    """See the module docstring. ``client`` is the backend's own (subscribing reads stream ends with it)."""

    def __init__(self, url: str, client: Any, wake_key: bytes) -> None:
        self._url = url
        self._client = client
        self._wake_key = wake_key
        self._wake_id = b"0-0"  # the wake-up stream holds at most one entry: the first XREAD skips it
        self._reset()
        #: XREAD replies so far (tests and benchmarks read it)
        self.wakeups = 0

    def _reset(self) -> None:
        for subs in getattr(self, "_subs", {}).values():  # a forked child's copies: no reader follows them here
            for sub in subs:
                sub.active = False
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._subs: dict[str, list[Subscription]] = {}  # session id -> its subscriptions
        self._ids: dict[bytes, bytes | None] = {}  # followed stream -> last id reported (None: not known yet)
        self._session_of: dict[bytes, str] = {}
        # the XREAD is sent pre-encoded: redis-py's encoding of 1,200 arguments (200 sessions) took
        # 240 us per wake-up; the streams' part changes with the set, an id's part with its stream
        self._id_bulk: dict[bytes, bytes] = {}  # followed stream -> its id as a RESP bulk string
        self._keys_bulk: bytes | None = None  # the streams' names as RESP bulk strings (None: re-encode)
        self._blocking = False  # the thread is (about to be) in an XREAD issued with the set as it was
        self._thread: threading.Thread | None = None
        self._closing = False  # close() was called: end as soon as nobody waits (no idle block first)

    # ---- any thread -----------------------------------------------------------------

    def subscribe(self, session_id: str, keys: list[bytes], notify: Notify,
                  idle_after: float | None = None) -> Subscription:
        """Call ``notify`` on every append to ``keys`` (the session's streams) from now on."""
        if self._pid != os.getpid():  # a forked child: the parent's thread and connection are not ours
            self._reset()
        sub = Subscription(session_id, keys, notify, idle_after)
        with self._lock:
            new = [k for k in keys if k not in self._ids]
        tails = self._tails(new) if new else {}  # outside the lock: a round trip
        with self._lock:
            self._closing = False
            self._subs.setdefault(session_id, []).append(sub)
            added = False
            for key in keys:
                if key not in self._ids:  # (another subscriber may have added it meanwhile)
                    self._set_id(key, tails.get(key))
                    self._session_of[key] = session_id
                    added = True
            if added:
                self._keys_bulk = None
            poke = added and self._blocking
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lazystream-redis-reader", daemon=True)
                self._thread.start()
        if poke:
            self._poke()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        """(under the lock) Forget ``sub``; a session with no subscriber left is no longer read."""
        sub.active = False
        subs = self._subs.get(sub.session_id)
        if subs is None or sub not in subs:
            return
        subs.remove(sub)
        if not subs:
            del self._subs[sub.session_id]
            for key in [k for k, sid in self._session_of.items() if sid == sub.session_id]:
                del self._session_of[key]
                del self._ids[key]
                del self._id_bulk[key]
            self._keys_bulk = None

    def _set_id(self, key: bytes, stream_id: bytes | None) -> None:
        """(under the lock) Where ``key`` is read from next."""
        self._ids[key] = stream_id
        self._id_bulk[key] = _bulk(stream_id or b"$")  # (unknown ids are learnt before any XREAD)

    def close(self) -> None:
        """The backend is shutting down: the thread ends (closing its connection) as soon as nobody waits.

        Live subscriptions are kept and served: a run still streaming on this backend keeps being woken,
        as its reads keep working after the shutdown (redis-py reconnects).
        """
        with self._lock:
            self._closing = True
            poke = self._blocking and not self._subs
        if poke:
            self._poke()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _tails(self, keys: list[bytes]) -> dict[bytes, bytes | None]:
        """Each stream's last id now ("0-0" if empty); none when Redis is away (the reader asks later)."""
        try:
            return {key: end or b"0-0" for key, end in zip(keys, stream_ends(self._client, keys), strict=True)}
        except Exception:
            return {}

    def _poke(self) -> None:
        """Make the blocked XREAD return now (an entry in the wake-up stream); best effort: it returns
        within ``_BLOCK_MS`` anyway."""
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.xadd(self._wake_key, {b"w": b"1"}, maxlen=1, approximate=False)
            pipe.pexpire(self._wake_key, _WAKE_TTL_MS)
            pipe.execute()
        except Exception:
            pass

    # ---- the reader thread ------------------------------------------------------------

    def _run(self) -> None:
        # a connection of its own (it blocks in the XREAD), made like the backend's; it connects at its
        # first command, so a Redis that is away when the thread starts is just the first retry
        pool = connect(self._url).connection_pool
        conn = pool.connection_class(**pool.connection_kwargs)
        try:
            self._loop(conn)
        finally:
            with self._lock:
                if self._thread is threading.current_thread():  # ended by a bug: the next subscription restarts it
                    self._thread = None
                self._blocking = False
            conn.disconnect()

    def _loop(self, conn: Any) -> None:
        backoff = limits.REDIS_RETRY_BACKOFF_S
        failed = False  # the last attempt failed: on success, call everyone (appends may have been missed)
        self._told = False
        # the XREAD's fixed arguments, encoded once per thread
        self._head = b"".join(_bulk(a) for a in (b"XREAD", b"COUNT", b"%d" % limits.REDIS_WAIT_READ_COUNT,
                                                 b"BLOCK", b"%d" % _BLOCK_MS, b"STREAMS"))
        idle_rounds = 0
        next_sweep = time.monotonic() + _BLOCK_MS / 1000
        while True:
            now = time.monotonic()
            with self._lock:
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + _BLOCK_MS / 1000
                idle_rounds = idle_rounds + 1 if not self._subs else 0
                if idle_rounds > 1 or (self._closing and idle_rounds):  # nobody waits (for a whole block): end
                    self._thread = None  # the next subscription starts another
                    self._blocking = False
                    return
                unknown = [k for k, v in self._ids.items() if v is None]
                command = self._command()
                self._blocking = True
            try:
                if unknown:  # subscribed while Redis was away: start from the ends now, and call everyone
                    self._learn_tails(unknown)
                    failed = True
                    continue
                conn.send_packed_command([command])
                reply = conn.read_response()
            except Exception as exc:  # Redis away (or refusing): retry with backoff, never end the thread on it
                self._trouble(exc, "reading")
                conn.disconnect()  # a fresh connection next time (no half-read reply left on it)
                failed = True
                time.sleep(backoff)
                backoff = min(backoff * 2, limits.REDIS_RETRY_BACKOFF_MAX_S)
                continue
            backoff = limits.REDIS_RETRY_BACKOFF_S
            self.wakeups += 1
            try:
                self._report(reply or (), everyone=failed)
                failed = False
            except Exception as exc:  # a bug here must not end the thread: every wait would only time out
                self._trouble(exc, "reporting")

    def _command(self) -> bytes:
        """(under the lock) ``XREAD COUNT n BLOCK ms STREAMS <followed streams> <wake-up> <their ids>``, encoded."""
        if self._keys_bulk is None:
            self._keys_bulk = b"".join(_bulk(k) for k in self._ids) + _bulk(self._wake_key)
        return b"".join((b"*%d\r\n" % (6 + 2 * (len(self._ids) + 1)), self._head, self._keys_bulk,
                         *self._id_bulk.values(), _bulk(self._wake_id)))

    def _trouble(self, exc: Exception, doing: str) -> None:
        with self._lock:
            self._blocking = False
        if self._told or isinstance(exc, transient_errors()):
            return  # an outage: waits time out meanwhile, and everyone is called once it is over
        self._told = True  # anything else (an ACL refusing XREAD, a bug) is said once
        log.warning("the Redis reader that wakes waiting sessions failed %s: %s: %s (retrying; until it works, "
                    "waits on %s end at their timeouts)", doing, type(exc).__name__, masked(str(exc), self._url),
                    mask_url(self._url))

    def _learn_tails(self, keys: list[bytes]) -> None:
        ends = stream_ends(self._client, keys)
        with self._lock:
            for key, end in zip(keys, ends, strict=True):
                if key in self._ids and self._ids[key] is None:
                    self._set_id(key, end or b"0-0")

    def _report(self, reply: Any, *, everyone: bool) -> None:
        changed: dict[str, set[bytes]] = {}  # session -> its streams that changed
        behind: list[bytes] = []  # streams that returned a full batch: more is waiting
        if isinstance(reply, dict):  # RESP3 (protocol=3 in the URL): {key: rows}
            reply = reply.items()
        with self._lock:
            self._blocking = False
            for key, rows in reply:
                if not rows:
                    continue
                last = rows[-1][0]
                if key == self._wake_key:
                    self._wake_id = last
                elif key in self._ids:
                    self._set_id(key, last)
                    changed.setdefault(self._session_of[key], set()).add(key)
                    if len(rows) >= limits.REDIS_WAIT_READ_COUNT:
                        behind.append(key)
        if behind:
            # skip to the ends BEFORE calling anyone: a subscriber reads after its call, so it takes
            # everything up to these ends, and no XREAD hands over a backlog batch by batch
            try:
                self._skip_to_ends(behind)
            except Exception:
                pass  # the next XREAD goes on from where this one stopped
        with self._lock:
            if everyone:
                calls = [(sub.notify, None) for subs in self._subs.values() for sub in subs]
            else:
                calls = [(sub.notify, keys) for sid, keys in changed.items() for sub in self._subs.get(sid, ())]
        for notify, keys in calls:
            try:
                notify(keys)
            except Exception:  # a subscriber's bug must not stop the others' wake-ups
                pass

    def _skip_to_ends(self, keys: list[bytes]) -> None:
        ends = stream_ends(self._client, keys)
        with self._lock:
            for key, end in zip(keys, ends, strict=True):
                if end is not None and key in self._ids:
                    self._set_id(key, end)

    def _sweep(self, now: float) -> None:
        """(under the lock) Drop subscriptions idle past their ``idle_after`` and those marked inactive."""
        for subs in list(self._subs.values()):
            for sub in list(subs):
                if not sub.active or (sub.idle_after is not None and now - sub.used > sub.idle_after):
                    self._drop(sub)


def stream_ends(client: Any, keys: list[bytes]) -> list[bytes | None]:
    """The last id of each stream (None: empty or missing), in one round trip."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.xrevrange(key, count=1)
    return [rows[0][0] if rows else None for rows in pipe.execute()]

