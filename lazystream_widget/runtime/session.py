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
from contextlib import contextmanager
from typing import Iterator

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


_backend: QueueBackend | None = None
_backend_lock = threading.Lock()


def get_backend() -> QueueBackend:
    """The process's queue backend (the file backend under the queue home)."""
    global _backend
    if _backend is None:
        with _backend_lock:
            if _backend is None:
                from .filestore import FileBackend

                _backend = FileBackend()
    return _backend


def set_backend(backend: QueueBackend | None) -> None:
    """Swap the storage engine (tests, or another backend such as Redis later)."""
    global _backend, _default
    with _backend_lock:
        _backend = backend
        _default = None


class Session:
    """A set of queues (answer, thinking, trace, ...) that belongs to one consumer.

    ``owned`` sessions were created by this process and are deleted by :meth:`close`;
    attached ones (an id from another process) are left for their owner to close, and
    attaching to a session that does not exist (closed, or a mistyped id) raises
    :class:`~lazystream_widget.runtime.backend.SessionClosedError`.
    """

    __slots__ = ("id", "owned", "_closed", "__weakref__")

    def __init__(self, session_id: str | None = None) -> None:
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
        try:
            get_backend().create_session(self.id, owned=self.owned)
        except USER_ERRORS as exc:
            raise short(exc) from None

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Delete the session's queues if this process created it; otherwise release what this process
        holds of it (open descriptors), leaving the queues to their owner. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.owned:
            get_backend().delete_session(self.id)
        else:
            get_backend().release_session(self.id)

    def watcher(self):
        """A waiter woken by any append to this session's queues, from any process."""
        return get_backend().watcher(self.id)

    def __repr__(self) -> str:
        return f"<Session {self.id[:8]}…{' closed' if self._closed else ''}>"


_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar("lazystream_session", default=None)
_default: Session | None = None
_default_lock = threading.Lock()


def default_session() -> Session:
    """The process default session (see the module docstring)."""
    global _default
    if _default is None or _default.closed:
        with _default_lock:
            if _default is None or _default.closed:
                _default = Session(os.environ.get(SESSION_ENV) or None)
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
    if _default is not None:
        _default.close()
