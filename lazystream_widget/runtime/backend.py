"""The storage interface behind ``FileSystemQueue``.

The queue front end (``queue.py``), sessions and the executor only talk to a
:class:`QueueBackend`. Two engines implement it: the file backend (``filestore.py``,
the embedded default) and the Redis Streams backend (``redis_backend.py``, for runs
on other machines); ``session.get_backend()`` picks one from the ``queue`` setting.

Positions: ``append`` returns an opaque, per-queue, monotonically increasing
integer and ``consumed`` returns how far the consumer has read in the same
units, so the executor can wait until "everything my task wrote was read"
without knowing how items are stored.

Replay: ``read_from`` reads a queue from a cursor without moving the consumer's
position, so any number of watchers can follow a session beside its one destructive
consumer. A backend that ``replays`` (Redis) keeps a closed session, marked ended,
until it expires, so a watcher can attach late; the file backend deletes it at once.
"""

from __future__ import annotations

from typing import Protocol


class SessionClosedError(RuntimeError):
    """A queue operation on a session whose storage is gone (closed, or never created)."""


#: The cursor of ``read_from`` that means "from the first item".
START = "0"


class QueueUnavailableError(ConnectionError):
    """The queue engine could not be reached (e.g. Redis down past the producer's retry bound)."""


def closed_error(session_id: str, *, deleted: bool = False, attaching: bool = False) -> SessionClosedError:
    """The error for an operation on a session whose storage is gone, saying why and what to do."""
    if deleted:
        return SessionClosedError(
            f"session {session_id[:8]}…'s files were deleted while it was in use (closed by its owner, or swept "
            "as stale): nothing more can be written to or read from it. Open a new one with "
            "lazystream_widget.session()"
        )
    if attaching:
        return SessionClosedError(
            f"session {session_id[:8]}… does not exist: it was closed (or never created) by the process that "
            "owned it. Attach only to a session that is open, e.g. the id of lazystream_widget.session() "
            "handed over through LAZYSTREAM_SESSION"
        )
    return SessionClosedError(
        f"session {session_id[:8]}… has no queue files: it was closed (or never created). "
        "Open a new one with lazystream_widget.session()"
    )


class QueueBackend(Protocol):
    #: True when a closed session stays readable (marked ended) until it expires.
    replays: bool
    #: True when a session's one reader may read it by position (``read_from(..., report=True)``: damaged
    #: bytes reported as a consumer reports them) instead of consuming it, because that is much cheaper.
    reads_by_position: bool

    def describe(self) -> str:
        """Where the queues live, for messages (a Redis URL never shows its password)."""

    def close_session(self, session_id: str) -> None:
        """The owner is done with the session: the file backend deletes it; a replaying backend marks it
        ended and lets it expire later, so that watchers can still read it."""

    def session_state(self, session_id: str) -> str:
        """``"open"``, ``"ended"`` (closed by its owner, still readable) or ``"missing"``."""

    def read_from(self, session_id: str, queue: str, cursor: str, limit: int | None = None) -> tuple[list[bytes], str]:
        """Items after ``cursor`` (``START``: from the first), oldest first, and the cursor after them.

        Non-destructive: the consumer's position does not move and no consumer activity is recorded.
        """

    def create_session(self, session_id: str, *, owned: bool) -> None:
        """Make the session's storage exist (idempotent). ``owned``: this process may delete it.

        Not owned (attaching to another process's session): the session must exist, else SessionClosedError.
        """

    def delete_session(self, session_id: str) -> None:
        """Remove every queue of the session and its storage."""

    def release_session(self, session_id: str) -> None:
        """Let go of what this process holds for the session (descriptors, connections); its queues stay."""

    def session_exists(self, session_id: str) -> bool: ...

    def append(self, session_id: str, queue: str, item: bytes) -> int:
        """Add one item; return the position just after it."""

    def append_numbered(self, session_id: str, queue: str, make_item: NumberedItem) -> int:
        """Take the session's next sequence number, build the item from it and append it, atomically.

        Items built this way appear in the queue in sequence-number order, across threads and processes.
        """

    def read(self, session_id: str, queue: str, limit: int | None = None) -> list[bytes]:
        """Remove and return up to ``limit`` items, oldest first.

        One call hands over about ``DEQUEUE_MAX_BYTES`` of payload at most (always at least one
        item when any is waiting): with ``limit=None`` the rest stays for the next call.
        """

    def peek(self, session_id: str, queue: str) -> bytes | None: ...

    def size(self, session_id: str, queue: str) -> int: ...

    def clear(self, session_id: str, queue: str) -> None: ...

    def consumed(self, session_id: str, queue: str) -> int:
        """The position up to which items have been read."""

    def last_read_at(self, session_id: str, queue: str) -> float:
        """``time.time()`` of the last ``read`` of this queue (empty or not), by any process; 0.0 if never."""

    def wait_for_item(self, session_id: str, timeout: float) -> None:
        """Block up to ``timeout`` seconds or until an item is appended in this process."""

    def watcher(self, session_id: str) -> SessionWatcher:
        """A waiter woken by appends to any queue of the session, from any process."""


class NumberedItem(Protocol):
    def __call__(self, seq: int) -> bytes: ...


class SessionWatcher(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block until something was appended to the session (True) or the timeout passed (False)."""

    def close(self) -> None: ...
