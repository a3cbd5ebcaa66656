"""Cutting server-sent events a whole event at a time gives what the openai client's own decoder gives.

Every stream below is decoded both ways, whole and cut at every byte (and one byte at a time): the
event data must match (events without data are dropped by the consumer either way). A stream with
``\\r`` line ends goes to the client's decoder from the first block that shows one. The last tests
stream through a real HTTP server and the real ``openai`` client into :class:`ChunkStream`.
"""

from __future__ import annotations

import http.server
import threading

import pytest

openai = pytest.importorskip("openai")
SSEDecoder = pytest.importorskip("openai._streaming").SSEDecoder

from lazystream_widget.runtime.chat_stream import ChunkStream  # noqa: E402
from lazystream_widget.runtime.sse_events import iter_event_data  # noqa: E402

CHUNK = b'{"choices":[{"index":0,"delta":{"content":"h\xc3\xa9 \xe2\x9c\x93"}}]}'
STREAMS = {
    "plain": b"data: " + CHUNK + b"\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n",
    "keep-alive comments": b": PROCESSING\n\n: ping\ndata: {\"n\":1}\n\n:\n\ndata: {\"n\":2}\n\n",
    "fields": b"event: message\nid: 7\nretry: 10\ndata: {\"n\":1}\n\nevent: ping\n\ndata:{\"n\":2}\n\n",
    "multi-line data": b"data: {\"a\":\ndata: 1}\n\ndata\ndata: x\n\n",
    "extra blank lines": b"\n\n\ndata: {\"n\":1}\n\n\n\ndata: {\"n\":2}\n\n\n",
    "unknown fields and odd colons": b"foo: bar\ndata: a: b\nx\n\ndata:  two spaces\n\n",
    "unterminated last event": b"data: {\"n\":1}\n\ndata: {\"n\":2}\n",
    "crlf": b"data: {\"n\":1}\r\n\r\n: c\r\ndata: {\"n\":2}\r\n\r\n",
    "crlf after plain events": b"data: {\"n\":1}\n\ndata: {\"n\":2}\r\n\r\ndata: 3\r\n\r\n",
    "lone cr": b"data: 1\r\rdata: 2\r\r",
}


def _client_fallback(rest):
    return (sse.data.encode("utf-8") for sse in SSEDecoder().iter_bytes(rest))


def _client(chunks: list[bytes]) -> list[bytes]:
    return [d for d in _client_fallback(iter(chunks)) if d]


def _ours(chunks: list[bytes]) -> list[bytes]:
    return [d for d in iter_event_data(chunks, _client_fallback) if d]


def _cuts(stream: bytes):
    yield [stream]
    yield [stream[i : i + 1] for i in range(len(stream))]
    for i in range(1, len(stream)):
        yield [stream[:i], stream[i:]]


@pytest.mark.parametrize("name", list(STREAMS))
def test_event_data_matches_the_client_decoder_however_the_bytes_are_cut(name):
    stream = STREAMS[name]
    expected = _client([stream])
    assert expected  # every stream has events: the comparison means something
    for chunks in _cuts(stream):
        assert _ours(chunks) == expected, chunks


def test_the_usual_event_is_handed_on_without_decoding():
    assert list(iter_event_data([STREAMS["plain"]], _client_fallback)) == [CHUNK, b'{"n":2}', b"[DONE]"]


def test_the_client_decoder_takes_over_from_the_first_block_with_a_carriage_return():
    handed: list[bytes] = []

    def fallback(rest):
        handed.extend(rest)
        return iter([b"from the client"])

    out = list(iter_event_data([b"data: 1\n\ndata: 2\r\n", b"\r\ndata: 3\n\n"], fallback))
    assert out == [b"1", b"from the client"]
    assert b"".join(handed) == b"data: 2\r\n\r\ndata: 3\n\n"  # from the event boundary on, nothing lost


class _Body(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_POST(self):
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for k in range(0, len(self.body), 7):  # cut mid-line, as a network may
            piece = self.body[k : k + 7]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("sep", [b"\n", b"\r\n"])
def test_chunk_stream_reads_a_real_streamed_response(sep):
    events = [b": keep-alive", b'data: {"choices":[{"index":0,"delta":{"content":"h\xc3\xa9"}}]}',
              b'event: message\ndata: {"choices":[{"index":0,"delta":{"content":" there"}}]}', b"data: [DONE]"]
    handler = type("Handler", (_Body,), {"body": b"".join(e.replace(b"\n", sep) + sep + sep for e in events)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{server.server_port}/v1",
                               max_retries=0)
        chunks = list(ChunkStream(client, {"model": "m", "stream": True,
                                           "messages": [{"role": "user", "content": "hi"}]}))
    finally:
        server.shutdown()
        server.server_close()
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "hé there"
