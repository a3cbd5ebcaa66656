"""How a run's pump reads the run's three queues: by position, or by consuming them.

A run's session has one reader, the pump. Consuming a queue (``read``) takes the consumer lock, checks
and moves a read position shared through the backend, and marks the consumer active: on the file
store about 16 system calls and, at a run's first reads, 9 files created per queue (docs/benchmarks.md,
"many runs in one kernel"). A backend that ``reads_by_position`` lets the pump read a session it
created from a position the run keeps instead (``read_from``: on the file store one ``pread`` and two
``fstat``), reporting damaged bytes as a consumer would. A session handed in from outside may hold
items read by someone else already, so it is consumed as any reader would.
"""

from __future__ import annotations

from typing import Any, Callable

from .limits import DEQUEUE_MAX_BYTES
from .protocol import ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE

RUN_QUEUES = (ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE)


def _read_past_full_batches(read_batch: Callable[[], list[bytes]]) -> list[bytes]:
    """Everything ``read_batch`` has: one read hands over about DEQUEUE_MAX_BYTES, so read on past a full batch."""
    items = read_batch()
    batch = items
    while batch and sum(map(len, batch)) >= DEQUEUE_MAX_BYTES:
        batch = read_batch()
        items.extend(batch)
    return items


class RunReader:
    """Reads what is new in one run's queues, for the pump (one reader per run)."""

    def __init__(self, backend: Any, session_id: str, *, fresh: bool) -> None:
        """``fresh``: the run created the session (nothing in it was read by anyone else)."""
        self._backend, self._session_id = backend, session_id
        by_position = fresh and getattr(backend, "reads_by_position", False)
        #: Per queue, the position read up to (a backend cursor); None when the queues are consumed.
        self._cursors: dict[str, str] | None = dict.fromkeys(RUN_QUEUES, "0") if by_position else None

    @property
    def by_position(self) -> bool:
        return self._cursors is not None

    def read(self, queue: str) -> list[bytes]:
        """What ``queue`` holds that this reader has not read yet."""
        backend, sid, cursors = self._backend, self._session_id, self._cursors
        if cursors is None:
            return _read_past_full_batches(lambda: backend.read(sid, queue))

        def read_batch() -> list[bytes]:
            # the run's one reader: damaged bytes are reported, as a consumer reports them
            items, cursors[queue] = backend.read_from(sid, queue, cursors[queue], report=True)
            return items

        return _read_past_full_batches(read_batch)

    def position(self, queue: str) -> int | None:
        """Where this reader is in ``queue`` (bytes of the log), None when it consumes the queue."""
        return None if self._cursors is None else int(self._cursors[queue])
