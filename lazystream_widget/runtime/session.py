"""Sessions: whose queues a piece of work writes to.

The current session lives in a ``ContextVar``. Our ``ThreadPoolExecutor`` copies the
submitter's context into the worker, so work submitted from a cell writes to the
queues that cell reads (the seed's "identity propagation").

Where no session was set (the main thread of a script, a notebook cell, or a plain
``threading.Thread``, whose context starts empty), the **process default session**
is used: one per process, created on first use and deleted when the process exits.
So a plain thread streams into the same queues the main thread reads, instead of
streaming nowhere and leaving files behind (LazyLLM's behaviour); two plain threads
streaming at once share those queues, so give each its own ``session()`` (or use our
pool from a fresh session) when they must not mix.

A session id can be handed to another process (``LAZYSTREAM_SESSION`` environment
variable, or ``session(id)``), so a producer there writes into the consumer's queues.
"""

from __future__ import annotations

import atexit
import contextvars
import os
import re
import secrets
import threading
import weakref
from contextlib import contextmanager
from typing import Iterator

from .. import settings
from .backend import QueueBackend, SessionClosedError

SESSION_ENV = "LAZYSTREAM_SESSION"
#: What a session id looks like (also the only names the sweep considers under ``sessions/``).
SESSION_ID_RE = re.compile(r"[0-9a-f]{32}")

def _user_errors() -> tuple[type[BaseException], ...]:
    from .homedir import QueueHomeError

    return (QueueHomeError, SessionClosedError)


#: Errors that say what the user must change (the queue home, a closed session): the user's call raises them
#: with a short traceback (see :func:`short`).
USER_ERRORS = _user_errors()


def short(exc: BaseException) -> BaseException:
    """``exc`` as the user's call raises it: the library's frames dropped from its traceback.

    The full traceback stays reachable as ``exc.full_traceback``.
    """
    if not hasattr(exc, "full_traceback"):
        exc.full_traceback = exc.__traceback__  # type: ignore[attr-defined]
    return exc.with_traceback(None)


_backend: QueueBackend | None = None  # the backend of the current ``queue`` setting (or forced by set_backend)
_backend_url: str | None = None  # the ``queue`` setting _backend was made for
_forced = False
_by_url: dict[str | None, QueueBackend] = {}  # every backend made so far: switching back reuses one
_backend_lock = threading.Lock()
#: Live sessions by id, so code holding only an id (a span, the pool) reaches the session's own backend.
_live: weakref.WeakValueDictionary[str, Session] = weakref.WeakValueDictionary()


def get_backend() -> QueueBackend:
    """The backend new sessions use: the file backend, or Redis when the ``queue`` setting names it.

    Inside a run, the run's settings snapshot decides. A session keeps the backend it was created
    with (``session.backend``), so a later ``configure(queue=...)`` never moves a session already open.
    """
    if _forced and _backend is not None:
        return _backend
    url = settings.current_value("queue")
    backend = _backend
    if backend is not None and url == _backend_url:
        return backend
    return _select(url)


def _select(url: str | None) -> QueueBackend:
    global _backend, _backend_url
    with _backend_lock:
        if _backend is None or url != _backend_url:
            backend = _by_url.get(url)
            if backend is None:
                if url is None:
                    from .filestore import FileBackend

                    backend = FileBackend()
                else:
                    from .redis_backend import RedisBackend

                    backend = RedisBackend(url)
                _by_url[url] = backend
            _backend, _backend_url = backend, url
        return _backend


def backend_of(session_id: str) -> QueueBackend:
    """The backend of the live session ``session_id`` (else the current one)."""
    sess = _live.get(session_id)
    return sess.backend if sess is not None else get_backend()


def set_backend(backend: QueueBackend | None) -> None:
    """Force a storage engine (tests, benchmarks); ``None`` forgets it and picks from the ``queue`` setting again."""
    global _backend, _backend_url, _default, _forced
    with _backend_lock:
        for old in _by_url.values():
            if old is not backend:
                getattr(old, "shutdown", lambda: None)()  # e.g. close a Redis connection pool
        _by_url.clear()
        _backend = backend
        _backend_url = None
        _forced = backend is not None
        _default = None


class Session:
    """A set of queues (answer, thinking, trace, ...) that belongs to one consumer.

    ``owned`` sessions were created by this process and are deleted by :meth:`close`;
    attached ones (an id from another process) are left for their owner to close, and
    attaching to a session that does not exist (closed, or a mistyped id) raises
    :class:`~lazystream_widget.runtime.backend.SessionClosedError`.
    """

    __slots__ = ("id", "owned", "backend", "_closed", "__weakref__")

    def __init__(self, session_id: str | None = None, *, backend: QueueBackend | None = None) -> None:
        if session_id is None:
            self.id = secrets.token_hex(16)  # 128 random bits: unguessable
            self.owned = True
        else:
            if not isinstance(session_id, str) or not SESSION_ID_RE.fullmatch(session_id):
                raise ValueError(
                    f"invalid session id {session_id!r}: expected 32 lowercase hex characters, "
                    "as given by lazystream_widget.session().id"
                )
            self.id = session_id
            self.owned = False
        self._closed = False
        self.backend = backend or get_backend()
        try:
            self.backend.create_session(self.id, owned=self.owned)
        except USER_ERRORS as exc:
            raise short(exc) from None
        _live[self.id] = self

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the session if this process created it: the file backend deletes its queues; Redis marks it ended
        and lets it expire (``queue_expiry``), so watchers can still replay it. Otherwise release what this process
        holds of it (open descriptors, caches), leaving the queues to their owner. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.owned:
            self.backend.close_session(self.id)
        else:
            self.backend.release_session(self.id)

    def abandon(self) -> None:
        """Mark the session closed without asking its backend (which is unreachable): Redis expires it itself."""
        self._closed = True

    def watcher(self):
        """A waiter woken by any append to this session's queues, from any process."""
        return self.backend.watcher(self.id)

    def __repr__(self) -> str:
        return f"<Session {self.id[:8]}…{' closed' if self._closed else ''}>"


_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar("lazystream_session", default=None)
_default: Session | None = None
_default_gen = -1  # settings.generation when _default was last checked against the queue setting
_superseded: list[Session] = []  # default sessions of a backend the queue setting no longer names
_default_lock = threading.Lock()


def default_session() -> Session:
    """The process default session (see the module docstring).

    After ``configure(queue=...)`` names another backend, the next use makes a new default session
    there; the old one stays open (it may hold unread items) until the process exits.
    """
    global _default, _default_gen
    if _default is None or _default.closed or _default_gen != settings.generation:
        with _default_lock:
            if _default is None or _default.closed:
                _default = Session(os.environ.get(SESSION_ENV) or None)
            elif _default_gen != settings.generation and _default.backend is not get_backend():
                _superseded.append(_default)
                _default = Session(os.environ.get(SESSION_ENV) or None)
            _default_gen = settings.generation
    return _default


def current_session() -> Session:
    """The session the current code writes to and reads from."""
    return _current.get() or default_session()


def new_session() -> Session:
    """A fresh session with its own queues; the caller closes it."""
    return Session()


@contextmanager
def session(session_id: str | None = None) -> Iterator[Session]:
    """Run a block under its own session: queues the block (and the pool work it submits) uses.

    With no id, a fresh session is created and deleted at the end of the block.
    With an id (from another process), the block writes into that session.
    """
    sess = Session(session_id)
    token = _current.set(sess)
    try:
        yield sess
    finally:
        _current.reset(token)
        sess.close()


def use_session(sess: Session) -> contextvars.Token:
    """Make ``sess`` current in this context (for runners that manage the session's life)."""
    return _current.set(sess)


@atexit.register
def _close_default() -> None:
    for sess in [*_superseded, _default]:
        if sess is not None:
            try:
                sess.close()
            except Exception:  # e.g. Redis already gone at exit: nothing more to do
                pass
