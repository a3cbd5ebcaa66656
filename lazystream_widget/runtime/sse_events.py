"""The ``data`` of each server-sent event in a streamed HTTP body, a whole event at a time.

A chat completion streams one event per chunk, ``data: {...}`` and a blank line, almost always
in one piece per read. The openai client's decoder handles every shape the standard allows by
going line by line (a split, a UTF-8 decode, a ``partition`` and an event object per line); with a
hundred runs streaming in one kernel each event is handled cold, and that per-line work was about
a fifth of what a run thread spends per token (docs/benchmarks.md, "many runs in one kernel").
Here a block between blank lines is looked at once: a single ``data:`` line (the usual case) is
handed on as it is; a block of several lines (comments such as a provider's keep-alive, ``event:``
or ``id:`` fields, multi-line data) is read field by field by the same rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

Only ``\\n`` line ends are read here. A stream that uses ``\\r`` (``\\r\\n`` or a lone ``\\r``) is
handed, from the first block that shows one, to the client's own decoder, which handles them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import chain


def iter_event_data(chunks: Iterable[bytes], fallback: Callable[[Iterator[bytes]], Iterator[bytes]]) -> Iterator[bytes]:
    """The data of each event in ``chunks`` (UTF-8 bytes, data lines joined with ``\\n``).

    ``fallback(rest)`` decodes the rest of the stream from an event boundary on (used once a
    ``\\r`` appears). As the standard says, an event with no ``data`` field is not dispatched, and an
    unterminated last block is dropped.
    """
    chunks = iter(chunks)
    pending = b""
    for chunk in chunks:
        search = 0
        if pending:  # an event's start, with no blank line and no "\r" in it: look only where new bytes can end it
            search = len(pending) - 1
            chunk = pending + chunk
        cr = chunk.find(b"\r", search)
        start, limit = 0, len(chunk) if cr < 0 else cr  # the events before a "\r" are read here
        while True:
            end = chunk.find(b"\n\n", search, limit)
            if end < 0:
                break
            if chunk.startswith(b"data: ", start) and chunk.find(b"\n", start, end) < 0:
                yield chunk[start + 6 : end]  # the usual event: one "data: " line
            elif end > start:
                data = _block_data(chunk[start:end])
                if data is not None:
                    yield data
            start = search = end + 2
        if cr >= 0:
            yield from fallback(chain((chunk[start:],), chunks))
            return
        pending = chunk[start:]


def _block_data(block: bytes) -> bytes | None:
    """The data of one event block (lines without line ends), or None if it has no ``data`` field."""
    values = []
    for line in block.split(b"\n"):
        if line.startswith(b":"):
            continue  # a comment (e.g. a keep-alive)
        field, _, value = line.partition(b":")
        if field == b"data":
            values.append(value[1:] if value.startswith(b" ") else value)
        # event, id, retry and unknown fields carry nothing a chat completion uses
    return b"\n".join(values) if values else None
