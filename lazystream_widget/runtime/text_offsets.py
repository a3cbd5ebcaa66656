"""Where streamed text lands in a session's answer and thinking streams.

The widget links an llm span to the part of ``run.text`` it wrote. The queues carry plain
strings, so the offsets are counted here, in the writing process: every append to a
session's answer or thinking queue adds its length (in characters, Python ``str``
indices) to a per-session counter, under the same lock as the append, so the counted order
is the order in the queue file even with several writer threads.

A writer in *another* process (a session handed over by id) is not counted: offsets of
spans written after it would be off. The widget checks each link against the span's own
output before showing it, so such a link is dropped rather than shown wrong.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable

from ..limits import TEXT_RANGES_MAX
from ..protocol import ANSWER_QUEUE, THINK_QUEUE

#: The queues whose text is counted (the others carry items, not one text).
COUNTED = frozenset((ANSWER_QUEUE, THINK_QUEUE))


class TextCounter:
    """A session's characters written so far per counted queue (``chars``), and the ``lock`` each append and its
    count happen under."""

    __slots__ = ("chars", "lock")

    def __init__(self) -> None:
        self.chars: dict[str, int] = {}
        self.lock = threading.Lock()


_counters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_counters_lock = threading.Lock()


def _counter(session: object) -> TextCounter:
    counter = _counters.get(session)
    if counter is None:
        with _counters_lock:
            counter = _counters.get(session)
            if counter is None:
                counter = _counters[session] = TextCounter()
    return counter


def session_counter(session: object) -> TextCounter:
    """The session's counter (``chars`` per queue, and the ``lock`` an append and its count happen under)."""
    return _counter(session)


def append_counted(session: object, name: str, text: str, append: Callable[[], int]) -> tuple[int, int]:
    """Run ``append()`` (which writes ``text`` to queue ``name``) and count it.

    Returns ``(start, position)``: where ``text`` starts in the session's stream ``name``,
    and what ``append()`` returned.
    """
    counter = _counter(session)
    with counter.lock:
        position = append()
        start = counter.chars.get(name, 0)
        counter.chars[name] = start + len(text)
    return start, position


class TextRanges:
    """Collects the ``[start, end)`` ranges of one span's writes to one stream, merging neighbours.

    ``ranges()`` is None when nothing was written, or when the writes were interleaved with
    others more than ``TEXT_RANGES_MAX`` times (no offsets beat wrong ones).
    """

    __slots__ = ("_ranges", "_overflow")

    def __init__(self) -> None:
        self._ranges: list[list[int]] = []
        self._overflow = False

    def add(self, start: int, length: int) -> None:
        if not length:
            return
        last = self._ranges[-1] if self._ranges else None
        if last is not None and last[1] == start:
            last[1] = start + length
        elif len(self._ranges) < TEXT_RANGES_MAX:
            self._ranges.append([start, start + length])
        else:
            self._overflow = True

    def ranges(self) -> list[list[int]] | None:
        return None if self._overflow or not self._ranges else [list(r) for r in self._ranges]
