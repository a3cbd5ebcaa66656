"""A text built from many small pieces (streamed deltas), held as one growing UTF-8 buffer.

A list of small strings costs an object per delta (~50 bytes on top of the text, spread over
memory the allocator rarely gives back); joining the whole text at every delta is quadratic.
A ``bytearray`` grows in place (a large one is resized by the kernel, ``mremap``: no copy, no
holes left behind), so a million-token answer costs about its own size, and the final
:meth:`TextBuffer.text` needs the buffer and the string only for the moment of decoding.
"""

from __future__ import annotations


class TextBuffer:
    __slots__ = ("_buf", "_text", "count")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._text: str | None = ""  # the decoded text, while it matches the buffer
        self.count = 0  # pieces added

    def add(self, piece: str) -> None:
        self._buf += piece.encode("utf-8", "surrogatepass")  # lone surrogates round-trip
        self._text = None
        self.count += 1

    def text(self) -> str:
        """The whole text (decoded once; again only after more pieces were added)."""
        if self._text is None:
            self._text = self._buf.decode("utf-8", "surrogatepass")
        return self._text

    def take(self) -> str:
        """The whole text, giving up the buffer: the string is then the only copy."""
        text = self.text()
        self._buf = bytearray()
        return text

    def __bool__(self) -> bool:
        return bool(self._buf)
