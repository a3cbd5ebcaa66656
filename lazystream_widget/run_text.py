"""A run's streamed text (answer or thinking): read from its queue's log while the run goes on.

The queue's log file already holds every delta the pump has drained (reads only move the read
position), so while a run streams, ``run.text`` is decoded from the log up to where the pump
has read, and the process keeps no second copy of a long answer: the producer builds its
result, the widget gets deltas, and memory holds the text about once. When the run ends, before
its session (and its files) go, the text moves into memory: as the very result string when the
module returned the text it streamed (the usual case: compared chunk by chunk, no copy), else
decoded once.

A backend that cannot read its log back (no ``iter_range``) keeps the text in memory instead.
"""

from __future__ import annotations

import threading
from typing import Any

from .runtime.textbuffer import TextBuffer


def _decode(items: list[bytes]) -> str:
    return b"".join(items).decode("utf-8", "surrogatepass")


class StreamedText:
    """The text streamed to one queue of a run's session; thread-safe."""

    def __init__(self, backend: Any, session_id: str, queue: str) -> None:
        self._backend = backend
        self._session_id = session_id
        self._queue = queue
        self._range = getattr(backend, "iter_range", None)
        self._memory = TextBuffer() if self._range is None else None
        self._end = 0  # the log position up to which the pump has read
        self._final: str | None = None  # set when the run ended: the text, in memory
        self._lock = threading.Lock()

    def drained(self, text: str, end: int | None = None) -> None:
        """The pump read ``text`` from the queue (in the pump thread, right after the read); ``end``: the log
        position it read up to, when it reads by position (else the queue's read position is asked for)."""
        if self._memory is not None:
            with self._lock:
                self._memory.add(text)
            return
        if end is None:
            end = self._backend.consumed(self._session_id, self._queue)
        with self._lock:
            self._end = max(self._end, end)

    def value(self) -> str:
        with self._lock:  # held while reading: finish() (and the files' deletion after it) waits for us
            if self._final is not None:
                return self._final
            if self._memory is not None:
                return self._memory.text()
            return self._read_all()

    def _read_all(self) -> str:
        if not self._end:
            return ""
        return "".join(_decode(items) for items in self._range(self._session_id, self._queue, 0, self._end))

    def _same_as(self, text: str) -> bool:
        pos = 0
        for items in self._range(self._session_id, self._queue, 0, self._end):
            chunk = _decode(items)
            if not text.startswith(chunk, pos):
                return False
            pos += len(chunk)
        return pos == len(text)

    def finish(self, result: Any = None) -> None:
        """Before the session closes: keep the text in memory, as ``result`` itself when it is the same text."""
        with self._lock:
            if self._final is not None:
                return
            if self._memory is not None:
                text = self._memory.take()
            elif isinstance(result, str) and self._same_as(result):
                text = result  # one string for run.result, run.text and the widget's final state
            else:
                text = self._read_all()
            self._final = text
            self._memory = None
