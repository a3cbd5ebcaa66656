"""``FileSystemQueue``: the seed's streaming queue, per session.

``FileSystemQueue()`` is the answer stream; ``FileSystemQueue().get_instance(name)``
another queue of the same session (``'lazy_trace'``, ``'lazy_think'``, ...). Without an
explicit session, every call resolves the *current* session, so the object can be
created anywhere (the seed creates one per loop turn) and still reach the right run.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ..limits import EMPTY_DEQUEUE_WAIT_S
from ..protocol import ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE
from .backend import SessionClosedError
from .log_appender import not_a_str
from .session import USER_ERRORS, Session, current_session, short
from .task_marks import written as _written
from .text_offsets import COUNTED, append_counted

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")



def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.endswith(".log"):
        raise ValueError(
            f"invalid queue name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "not starting with '.' or '-' (it becomes a file name)"
        )
    return name


class FileSystemQueue:
    """A destructive FIFO of strings, one per (session, name), safe across threads and processes.

    Args:
        klass: the queue's name within the session (default: the answer stream).
        session: bind to this session instead of resolving the current one at each call.
    """

    # ``__dict__`` holds one entry at most: ``enqueue`` (see _bind)
    __slots__ = ("_name", "_session", "_bound", "__dict__")

    def __init__(self, klass: str = ANSWER_QUEUE, *, session: Session | None = None) -> None:
        self._name = _check_name(klass)
        self._session = session
        #: (session, backend, writer): _write()'s fast path while the session and its backend stay the same
        self._bound: tuple[Any, ...] | None = None

    # LazyLLM names: get_instance / enqueue / dequeue / peek / size / clear
    def get_instance(self, klass: str) -> FileSystemQueue:
        """The queue named ``klass`` in the same session (``'lazy_trace'``, ``'lazy_think'``...)."""
        return FileSystemQueue(klass, session=self._session)

    @property
    def name(self) -> str:
        return self._name

    @property
    def session(self) -> Session:
        return self._session or current_session()

    def enqueue(self, message: str) -> None:
        """Append one item. Items are strings; anything else is refused with a TypeError.

        On a queue bound to a session (``session=``) of the file backend, the first call replaces this
        method, for this object, by the queue's appender itself (see :meth:`_bind`).
        """
        if not isinstance(message, str):
            raise not_a_str(message)
        try:  # _write(), inlined: the unbound queues of the seed's loop call this once per token
            sess = self._session or current_session()
            bound = self._bound
            if bound is None or bound[0] is not sess or bound[1] is not sess.backend:
                bound = self._bind(sess)
            bound[2](message)
        except USER_ERRORS as exc:
            if isinstance(exc, SessionClosedError):
                self._bound = None
            raise short(exc) from None

    def enqueue_at(self, message: str) -> int:
        """``enqueue(message)``, returning where it starts in the session's stream (answer and
        thinking queues: characters before it; other queues: 0). Used to link spans to their text."""
        if not isinstance(message, str):
            raise TypeError(f"enqueue_at() takes a str, got {type(message).__name__}")
        return self._write(message)

    def _write(self, message: str) -> int:
        """Append ``message``; return where it starts in the session's stream (counted queues), else 0.

        The session's writer (the backend's appender, with the session's text counter and the queue's key
        bound in: :meth:`_bind`) is kept while the session and its backend stay the same: a call is the
        writer's (an encode, a frame and one ``write``, the count holding the write token and, inside our executor's
        tasks, the task's "written up to here" mark, noted once per task).
        """
        sess = self._session or current_session()
        bound = self._bound
        if bound is None or bound[0] is not sess or bound[1] is not sess.backend:
            bound = self._bind(sess)
        try:
            return bound[2](message, True)
        except SessionClosedError:
            self._bound = None
            raise

    def _bind(self, sess: Session) -> tuple[Any, ...]:
        """(session, backend, writer) for :meth:`_write`.

        A queue bound to one session (``session=``) of a backend with appenders also gets the appender as
        its own ``enqueue`` (an instance attribute, found before the method): ``q.enqueue(text)`` is then one
        Python call per token instead of two, the streaming hot path. The appender does everything
        :meth:`enqueue` does (refuses non-str items, notes the task's mark, raises short errors); a
        session's backend never changes, so nothing it checks per call can go stale. Unbound queues (the
        seed makes one per loop turn) resolve the current session at each call and keep the method.
        """
        backend = sess.backend
        counted = self._name in COUNTED
        make = getattr(backend, "appender", None)  # optional: a backend without it appends call by call
        if make is not None:  # it counts the text itself (one count per queue and process)
            append = make(sess.id, self._name, counted)
            if self._session is sess:
                self.enqueue = append  # type: ignore[method-assign]
        else:
            append = _per_call_writer(sess, (sess.id, self._name), counted)
        self._bound = (sess, backend, append)
        return self._bound

    def dequeue(self, limit: int | None = None) -> list[str]:
        """Remove and return up to ``limit`` items (all when None), oldest first.

        On an empty queue it waits a moment (at most a few ms) for an item before
        returning ``[]``, so a busy-poll loop like the seed's costs little CPU.
        """
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"dequeue(limit=...) must be a positive int or None, got {limit!r}")
        try:
            sess = self.session
            backend, sid = sess.backend, sess.id
            items = backend.read(sid, self._name, limit)
            if not items:
                backend.wait_for_item(sid, EMPTY_DEQUEUE_WAIT_S)
                items = backend.read(sid, self._name, limit)
        except USER_ERRORS as exc:
            raise short(exc) from None
        return [b.decode("utf-8", "surrogatepass") for b in items]

    def peek(self) -> str | None:
        """The oldest item without removing it, or None."""
        try:
            raw = self.session.backend.peek(self.session.id, self._name)
        except USER_ERRORS as exc:
            raise short(exc) from None
        return None if raw is None else raw.decode("utf-8", "surrogatepass")

    def size(self) -> int:
        """How many items are waiting."""
        try:
            return self.session.backend.size(self.session.id, self._name)
        except USER_ERRORS as exc:
            raise short(exc) from None

    def clear(self) -> None:
        """Drop every waiting item."""
        try:
            self.session.backend.clear(self.session.id, self._name)
        except USER_ERRORS as exc:
            raise short(exc) from None

    def __repr__(self) -> str:
        return f"FileSystemQueue({self._name!r})"


def _per_call_writer(sess: Session, key: tuple[str, str], counted: bool) -> Callable[..., int]:
    """The writer for a backend without appenders: one ``append`` per item, which returns the task's mark."""
    backend = sess.backend

    def write(message: str, at: bool = False) -> int:
        try:
            data = message.encode()
        except UnicodeEncodeError:  # lone surrogates travel as they are (decoded the same way)
            data = message.encode("utf-8", "surrogatepass")

        def append_one() -> int:
            return backend.append(key[0], key[1], data)

        start, end = append_counted(sess, key[1], message, append_one) if counted else (0, append_one())
        written = _written.get()
        if written is not None:
            written[key] = end
        return start

    return write


def answer_queue(session: Session | None = None) -> FileSystemQueue:
    return FileSystemQueue(ANSWER_QUEUE, session=session)


def think_queue(session: Session | None = None) -> FileSystemQueue:
    return FileSystemQueue(THINK_QUEUE, session=session)


def trace_queue(session: Session | None = None) -> FileSystemQueue:
    return FileSystemQueue(TRACE_QUEUE, session=session)
