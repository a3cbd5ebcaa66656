"""An incremental parser of server-sent events (the ``text/event-stream`` a streaming model sends).

Bytes go in as they arrive from the network, split anywhere; complete events come out, each
stamped with the time its closing blank line arrived. It follows the parsing rules of the SSE
standard (``field: value`` lines, ``:`` comments, events end at a blank line, ``\\n``, ``\\r\\n``
or ``\\r`` line ends) so that every provider's framing is kept, keep-alive comments included.
"""

from __future__ import annotations

from .model import SSEEvent


class SSEParser:
    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._comments: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes, ms: float) -> list[SSEEvent]:
        """Add bytes; return the events they complete (stamped ``ms``)."""
        self._buf += chunk
        out: list[SSEEvent] = []
        while True:
            line, sep, rest = self._split_line(self._buf)
            if not sep:
                return out
            self._buf = rest
            event = self._line(line.decode("utf-8", "replace"), ms)
            if event is not None:
                out.append(event)

    def close(self, ms: float) -> list[SSEEvent]:
        """The stream ended: an event left without its blank line still counts if it holds anything."""
        out = []
        if self._buf:
            event = self._line(self._buf.decode("utf-8", "replace"), ms)
            self._buf = b""
            if event is not None:
                out.append(event)
        event = self._dispatch(ms)
        if event is not None:
            out.append(event)
        return out

    @staticmethod
    def _split_line(buf: bytes) -> tuple[bytes, bytes, bytes]:
        """(line, separator, rest); an empty separator when no whole line is buffered yet."""
        lf, cr = buf.find(b"\n"), buf.find(b"\r")
        if cr == -1 or (lf != -1 and lf < cr):
            if lf == -1:
                return b"", b"", buf
            return buf[:lf], b"\n", buf[lf + 1 :]
        # \r, or \r\n: a \r at the very end may be half of a \r\n still on its way
        if cr + 1 == len(buf):
            return b"", b"", buf
        if buf[cr + 1] == 0x0A:
            return buf[:cr], b"\r\n", buf[cr + 2 :]
        return buf[:cr], b"\r", buf[cr + 1 :]

    def _line(self, line: str, ms: float) -> SSEEvent | None:
        if line == "":
            return self._dispatch(ms)
        if line.startswith(":"):
            text = line[1:]
            self._comments.append(text[1:] if text.startswith(" ") else text)
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        # other fields (retry, unknown ones) carry nothing a replay needs
        return None

    def _dispatch(self, ms: float) -> SSEEvent | None:
        if not (self._data or self._comments or self._event is not None or self._id is not None):
            return None
        data = "\n".join(self._data) if self._data else None
        comment = "\n".join(self._comments) if self._comments else None
        event = SSEEvent.from_data(ms, data, comment=comment, event=self._event, id=self._id)
        self._data, self._comments, self._event, self._id = [], [], None, None
        return event
