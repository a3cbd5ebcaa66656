"""Record mode: forward a request to the real endpoint, stream the answer back, write the exchange.

The client gets the real bytes as they arrive (one chunk out per chunk in, so recording adds
no visible delay); the cassette gets the same answer parsed into events, each stamped with
its arrival time, with every secret removed (:mod:`.redact`). A stream that breaks is
recorded as broken (``end: "dropped"``) and replays as broken; a client that hangs up (a
cancelled run) closes the real request too, so the provider stops generating.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from .model import (
    END_CLIENT_CLOSED,
    END_COMPLETE,
    END_DROPPED,
    Entry,
    RecordedRequest,
    RecordedResponse,
    SSEEvent,
)
from .redact import Redactor, kept_response_headers
from .sse import SSEParser

if TYPE_CHECKING:
    from .proxy import _Handler
    from .tape import Route

#: Headers that belong to one connection (RFC 9110), plus the ones the HTTP client sets itself.
_NOT_FORWARDED = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding",
    "upgrade", "host", "content-length", "accept-encoding",
})


def record(handler: _Handler, route: Route, incoming: RecordedRequest, body: bytes, redactor: Redactor,
           rest: str) -> None:
    import httpx

    from .proxy import ClientGone

    cassette = route.tape.cassette
    target = f"{cassette.upstream_for(route.upstream)}/{rest}"
    headers = [(k, v) for k, v in handler.headers.items() if k.lower() not in _NOT_FORWARDED]
    headers.append(("Accept-Encoding", "identity"))  # plain bytes: the SSE events can be read as they pass
    client = handler.server.owner.upstream_client()
    tape = route.tape
    run = tape.ordinal
    slot = cassette._begin_record(run)
    entry: Entry | None = None
    try:
        t0 = time.monotonic()  # from here: the proxy's own set-up is not part of the recorded timing
        try:
            upstream = client.send(client.build_request(handler.command, target, headers=headers, content=body),
                                   stream=True)
        except httpx.HTTPError as exc:
            handler.send_json_error(502, f"cassette {cassette.name!r} (record): cannot reach {target}: "
                                    f"{type(exc).__name__}: {redactor.text(str(exc))}. Nothing was recorded.",
                                    "cassette_record_failed")
            return
        try:
            after_ms = _ms(t0)
            kept = {k: redactor.text(v) for k, v in kept_response_headers(upstream.headers.items()).items()}
            stream = "text/event-stream" in upstream.headers.get("content-type", "")
            held = b""
            if stream:
                response, held = _relay_stream(handler, upstream, kept, after_ms, t0, ClientGone)
            else:
                response, data = _read_body(upstream, kept, after_ms, t0)
        finally:
            upstream.close()
        # Written before the client gets the end of the answer: once a call returns, its cassette holds it.
        entry = Entry(incoming, _scrub(response, redactor), run)
        cassette._finish_record(slot, entry, tape)
        slot = None
        if not stream:
            if response.end == END_COMPLETE:
                handler.send_body(response.status, kept, data)
            else:
                handler.send_json_error(502, "cassette proxy (record): the real endpoint broke off its answer",
                                        "upstream_dropped")
        elif response.end == END_CLIENT_CLOSED:
            handler.hang_up()
        else:
            try:
                handler.write_chunk(held)
            except ClientGone:
                pass  # it had every event that carries data; the terminator is only a formality
            handler.end_stream(response)  # a dropped stream is dropped for the client too
    finally:
        if slot is not None:
            cassette._finish_record(slot, entry, tape)


def _ms(t0: float) -> float:
    return (time.monotonic() - t0) * 1000.0


def _relay_stream(handler: _Handler, upstream, kept: dict[str, str], after_ms: float, t0: float,
                  client_gone: type[Exception]) -> tuple[RecordedResponse, bytes]:
    """Relay the stream chunk by chunk; returns what was recorded and the bytes held back.

    The chunk that carries ``data: [DONE]`` (and anything after it) is held until the exchange
    is written: a client stops reading at that event and returns, and by then the cassette
    must hold its answer.
    """
    import httpx

    handler.start_stream(upstream.status_code, kept)
    parser = SSEParser()
    events: list[SSEEvent] = []
    held = bytearray()
    end = END_COMPLETE
    try:
        for chunk in upstream.iter_bytes():
            new = parser.feed(chunk, _ms(t0))
            events.extend(new)
            if held or any(e.data == "[DONE]" for e in new):
                held += chunk
            else:
                handler.write_chunk(chunk)
    except httpx.HTTPError:
        end = END_DROPPED
    except client_gone:
        end = END_CLIENT_CLOSED
    events.extend(parser.close(_ms(t0)))
    response = RecordedResponse(upstream.status_code, kept, after_ms, events=events, end_ms=_ms(t0), end=end)
    return response, bytes(held)


def _read_body(upstream, kept: dict[str, str], after_ms: float, t0: float) -> tuple[RecordedResponse, bytes]:
    import httpx

    try:
        data = upstream.read()
    except httpx.HTTPError:
        dropped = RecordedResponse(upstream.status_code, kept, after_ms, body_text="", end_ms=_ms(t0), end=END_DROPPED)
        return dropped, b""
    text = data.decode("utf-8", "replace")
    try:
        return RecordedResponse(upstream.status_code, kept, after_ms, body=json.loads(text), end_ms=_ms(t0)), data
    except ValueError:
        return RecordedResponse(upstream.status_code, kept, after_ms, body_text=text, end_ms=_ms(t0)), data


def _scrub(response: RecordedResponse, redactor: Redactor) -> RecordedResponse:
    redactor.stream([e.json for e in response.events or () if e.has_json])  # secrets split across events
    for event in response.events or ():
        if event.has_json:
            event.json = redactor.json(event.json)
        elif event.data is not None:
            event.data = redactor.text(event.data)
        if event.comment is not None:
            event.comment = redactor.text(event.comment)
    if response.body is not None:
        response.body = redactor.json(response.body)
    if response.body_text is not None:
        response.body_text = redactor.text(response.body_text)
    return response
