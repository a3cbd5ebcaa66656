"""The streamed chat request sent through the client's ``post`` (plain JSON) is the one ``create`` sends.

A real HTTP server on loopback captures what the real ``openai`` client puts on the wire both ways.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

openai = pytest.importorskip("openai")

from lazystream_widget.runtime import chat_stream  # noqa: E402

_SSE = (b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{"content":"ok"},"finish_reason":null}]}\n\ndata: [DONE]\n\n')
# headers that differ between any two requests whatever sends them
_VARYING = {"host", "x-stainless-retry-count", "x-stainless-read-timeout"}


@pytest.fixture
def capture():
    seen: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("content-length", str(len(_SSE)))
            self.end_headers()
            self.wfile.write(_SSE)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{server.server_port}/v1", max_retries=0)
    yield client, seen
    server.shutdown()
    server.server_close()


REQUEST = {
    "model": "m", "stream": True, "stream_options": {"include_usage": True}, "temperature": 0.5,
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "r"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}],
}


def _headers(h: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in h.items() if k not in _VARYING}


def test_a_plain_request_goes_out_as_create_sends_it(capture):
    client, seen = capture
    assert chat_stream._plain_json(REQUEST)  # the post path
    chunks = list(chat_stream.ChunkStream(client, dict(REQUEST)))
    with client.chat.completions.with_streaming_response.create(**REQUEST) as reference:
        reference.http_response.read()
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["ok"]
    (path, headers, body), (ref_path, ref_headers, ref_body) = seen
    assert path == ref_path == "/v1/chat/completions"
    assert json.loads(body) == json.loads(ref_body) == REQUEST  # same JSON (create orders the keys its own way)
    assert _headers(headers) == _headers(ref_headers)
    assert headers["authorization"] == "Bearer sk-test" and headers["x-stainless-raw-response"] == "stream"


@pytest.mark.parametrize("extra, sent", [
    ({"extra_body": {"seed_x": 7}}, {"seed_x": 7}),  # a create() option, not a body field
    ({"messages": (m for m in REQUEST["messages"])}, {}),  # an iterator: create() turns it into a list
])
def test_anything_not_plain_json_still_goes_through_create(capture, extra, sent):
    client, seen = capture
    request = {**REQUEST, **extra}
    assert not chat_stream._plain_json(request) or chat_stream._OPTION_KEYS & request.keys()
    assert [c["choices"][0]["delta"]["content"] for c in chat_stream.ChunkStream(client, request)] == ["ok"]
    body = json.loads(seen[0][2])
    assert body == {**REQUEST, **sent}
