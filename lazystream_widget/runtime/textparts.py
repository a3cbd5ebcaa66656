"""A text built from many small pieces (streamed deltas), held compactly.

Appending to a list of strings costs a small object per delta (~50 bytes on top of the text,
spread over memory the allocator rarely gives back); joining the whole text at every delta
is quadratic. :class:`TextParts` joins every ``JOIN_EVERY`` pieces into one string, so a
million-token answer is a few thousand strings: about its own size in memory.
"""

from __future__ import annotations


class TextParts:
    __slots__ = ("_joined", "_tail", "count", "size")
    JOIN_EVERY = 256

    def __init__(self, text: str = "") -> None:
        self._joined: list[str] = [text] if text else []
        self._tail: list[str] = []
        self.count = 1 if text else 0  # pieces added
        self.size = len(text)  # characters

    def add(self, piece: str) -> None:
        tail = self._tail
        tail.append(piece)
        if len(tail) >= self.JOIN_EVERY:
            self._joined.append("".join(tail))
            tail.clear()
        self.count += 1
        self.size += len(piece)

    def text(self) -> str:
        """The whole text (one new string; the pieces are kept joined into it, so a second call copies nothing)."""
        if self._tail:
            self._joined.append("".join(self._tail))
            self._tail.clear()
        if len(self._joined) > 1:
            self._joined = ["".join(self._joined)]
        return self._joined[0] if self._joined else ""

    def equals(self, text: str) -> bool:
        """Whether the pieces spell exactly ``text``, compared in place (no copy of either)."""
        if self.size != len(text):
            return False
        pos = 0
        for piece in (*self._joined, *self._tail):
            if not text.startswith(piece, pos):
                return False
            pos += len(piece)
        return True

    def __bool__(self) -> bool:
        return self.size > 0
