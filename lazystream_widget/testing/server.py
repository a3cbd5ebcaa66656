"""A real HTTP, OpenAI-compatible chat server that answers from a script.

Why real HTTP and not a mocked client: the code under test streams through the
real ``openai`` client, its HTTP stack and its SSE parser, and the faults we
care about (a dropped connection, a stalled stream, a client that hangs up)
only exist on a real socket.

Protocol choices, each one load-bearing:

* HTTP/1.1 with ``Transfer-Encoding: chunked`` for streams, so that closing the
  connection before the terminating chunk is an *error* for the client (with a
  close-delimited body a drop would look like a normal end of stream).
* One ``write`` per SSE event and ``TCP_NODELAY`` on every connection, so each
  delta leaves immediately (Nagle would add ~40 ms per token on loopback).
* Every wait polls the client socket, so a client that hangs up is noticed and
  counted (``disconnects``) even while the server is sleeping or stalled, and
  ``stop()`` interrupts every wait.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .._http import GONE, STOPPED, read_body, sleep_unless_hung_up
from .payloads import (
    MODEL_NAME,
    STAMP,
    completion_body,
    count_prompt_tokens,
    error_body,
    finish_reason_of,
    new_call_ids,
    stamp_text,
)
from .payloads import stream_deltas as _deltas  # a module attribute: tests patch it to bend the stream
from .script import Reply, ScriptItem, as_reply

__all__ = ["MODEL_NAME", "Responder", "ScriptedServer", "is_loopback"]

#: Granularity of waits: how often a sleeping handler checks for stop() / hang-up.
_POLL_S = 0.05
#: How long stop() waits for each handler thread to finish.
_JOIN_TIMEOUT_S = 2.0

EXHAUSTED_MESSAGE = "scripted server: script exhausted and no responder"

#: ``responder(request_body) -> reply``; plain data (str / dict) is accepted too.
Responder = Callable[[dict[str, Any]], ScriptItem]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses: the only places we listen.

    The server has no authentication and answers anything, so it must never be
    reachable from another machine.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ClientGone(Exception):
    """The client closed its end of the connection."""


class _Stopping(Exception):
    """The server is shutting down; end the handler now."""


# --------------------------------------------------------------------------- HTTP


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    #: listen() backlog: socketserver's default of 5 overflows when a test opens 20 streams at once on a busy
    #: machine, and a refused connect shows up as a client retry (an extra "retry" event) in the run's trace
    request_queue_size = 128
    block_on_close = False  # ScriptedServer.stop() joins handlers itself, with a timeout
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Connection-level errors (resets, our own shutdown of sockets) are normal
        # for a test server; anything else is a bug worth a traceback.
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError) or self.owner._stopping.is_set():
            return
        super().handle_error(request, client_address)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lazystream-scripted/1"
    server: _HTTPServer

    # -- plumbing ------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.owner = self.server.owner
        self.owner._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.owner._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a test server must not spam stderr with access logs."""

    def _path(self) -> str:
        return urlsplit(self.path).path.rstrip("/") or "/"

    def _read_body(self) -> bytes:
        return read_body(self.rfile, self.headers)

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode(), "application/json", headers)

    def _wait(self, seconds: float) -> None:
        """Sleep, but raise as soon as the client hangs up or the server stops."""
        outcome = sleep_unless_hung_up(self.connection, seconds, self.owner._stopping, _POLL_S)
        if outcome == STOPPED:
            raise _Stopping
        if outcome == GONE:
            raise _ClientGone

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- endpoints -----------------------------------------------------------

    def do_GET(self) -> None:
        path = self._path()
        if path == "/health":
            self._send_bytes(200, b"ok", "text/plain; charset=utf-8")
        elif path == "/v1/models":
            model = {"id": MODEL_NAME, "object": "model", "created": 0, "owned_by": "lazystream"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._not_found()

    def do_POST(self) -> None:
        body = self._read_body()
        if self._path() != "/v1/chat/completions":
            self._not_found()
            return
        try:
            request = json.loads(body or b"null")
        except ValueError as exc:
            self._send_json(400, error_body(400, f"scripted server: request body is not JSON: {exc}"))
            return
        if not isinstance(request, dict):
            self._send_json(400, error_body(400, "scripted server: request body must be a JSON object"))
            return
        owner = self.owner
        index = owner._record_request(request)
        reply = owner._next_reply(request)
        try:
            if reply is None:
                owner._event("exhausted", index)
                self._send_json(500, error_body(500, EXHAUSTED_MESSAGE))
            elif reply.is_error:
                self._wait(reply.first_delay or 0.0)
                self._send_json(
                    reply.status or 500, error_body(reply.status or 500, reply.message), dict(reply.headers)
                )
                owner._event("error", index, status=reply.status)
            elif reply.raw_events:
                self._stream_raw(reply, request, index)
            elif request.get("stream"):
                self._stream(reply, request, index)
            else:
                self._complete(reply, request, index)
        except _Stopping:
            owner._event("stopped", index)
            self._hang_up()
        except (_ClientGone, ConnectionError) as exc:
            if owner._stopping.is_set():
                owner._event("stopped", index)
            else:
                owner._event("disconnect", index, reason=type(exc).__name__)
            self._hang_up()

    def _not_found(self) -> None:
        message = f"scripted server: no route for {self.command} {self._path()}"
        body = error_body(404, message)
        body["error"]["code"] = "unknown_url"
        self._send_json(404, body)

    # -- chat completions ----------------------------------------------------

    def _complete(self, reply: Reply, request: dict[str, Any], index: int) -> None:
        self._wait(reply.first_delay or 0.0)
        if reply.drop_after is not None:
            self.owner._event("drop", index, chunks=0)
            self._hang_up()
        elif reply.stall_after is not None:
            self._stall(index, 0)
        elif reply.invalid_json_after is not None:
            self._send_bytes(200, b"{not json", "application/json")
            self.owner._event("done", index, chunks=0)
        else:
            body = completion_body(reply, request, str(request.get("model") or MODEL_NAME))
            self._send_json(200, body)
            self.owner._event("done", index, chunks=body["usage"]["completion_tokens"])

    def _stall(self, index: int, sent: int) -> None:
        """Keep the connection open, silent, until the client leaves or the server stops."""
        self.owner._event("stall", index, chunks=sent)
        while True:
            self._wait(3600.0)

    def _write_event(self, data: str, *, last: bool = False) -> None:
        payload = f"data: {data}\n\n".encode()
        # One write per event (chunk header + data + CRLF): it leaves in one segment.
        # The last event carries the end of the chunked body in the same write: a client
        # that hangs up right after [DONE] must not make a second write fail (a false
        # "disconnect"), and async clients stop draining at once.
        self.wfile.write(b"%x\r\n%b\r\n%b" % (len(payload), payload, b"0\r\n\r\n" if last else b""))
        self.wfile.flush()

    def _stream_raw(self, reply: Reply, request: dict[str, Any], index: int) -> None:
        """A stream of events given verbatim (a provider's own layout), each after its delay."""
        if not request.get("stream"):
            self._send_json(400, error_body(400, "scripted server: this reply is a raw event stream; "
                                                  "ask with stream=true"))
            return
        self._start_stream()
        for event in reply.raw_events:
            if event.delay > 0:
                self._wait(event.delay)
            payload = event.to_bytes()
            self.wfile.write(b"%x\r\n%b\r\n" % (len(payload), payload))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.owner._event("done", index, chunks=len(reply.raw_events))

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream(self, reply: Reply, request: dict[str, Any], index: int) -> None:
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        base: dict[str, Any] = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": str(request.get("model") or MODEL_NAME),
        }
        if include_usage:
            base["usage"] = None  # as OpenAI does: every chunk but the last carries usage: null

        def chunk(delta: dict[str, Any], finish: str | None) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return json.dumps({**base, "choices": [choice]}, ensure_ascii=False)

        self._start_stream()

        token_delay = self.owner.token_delay
        delay = reply.delay if reply.delay is not None else token_delay
        first_delay = reply.first_delay if reply.first_delay is not None else delay
        sent = stamps = 0

        def fault(at_end: bool) -> bool:
            """Apply a scripted fault due after ``sent`` deltas; True if the stream is over."""

            def due(n: int | None) -> bool:
                return n is not None and (n <= sent if at_end else n == sent)

            if due(reply.invalid_json_after):
                self._write_event("{not json")
            if due(reply.drop_after):
                self.owner._event("drop", index, chunks=sent)
                self._hang_up()
                return True
            if due(reply.stall_after):
                self._stall(index, sent)
            return False

        for delta in _deltas(reply, new_call_ids(reply)):
            if fault(at_end=False):
                return
            wait = first_delay if sent == 0 else delay
            if wait > 0:
                self._wait(wait)
            if delta.get("content") is STAMP:
                delta = {"content": stamp_text(stamps)}  # taken now, just before the write
                stamps += 1
            if sent == 0:
                delta = {"role": "assistant", **delta}
            self._write_event(chunk(delta, None))
            sent += 1
        if fault(at_end=True):
            return
        self._write_event(chunk({"role": "assistant"} if sent == 0 else {}, finish_reason_of(reply)))
        if include_usage and reply.usage:
            prompt = count_prompt_tokens(request)
            usage = {"prompt_tokens": prompt, "completion_tokens": sent, "total_tokens": prompt + sent}
            self._write_event(json.dumps({**base, "choices": [], "usage": usage}))
        self._write_event("[DONE]", last=True)
        self.owner._event("done", index, chunks=sent)


# --------------------------------------------------------------------------- public


class ScriptedServer:
    """An OpenAI-compatible chat server on loopback that answers from a script.

    Each ``POST /v1/chat/completions`` takes the first reply of the script; when the
    script is empty the ``responder`` (``fn(request_body) -> Reply``) decides; with
    neither the request fails with HTTP 500 and :data:`EXHAUSTED_MESSAGE`, so a test
    that scripts too few turns fails loudly.

    Observability for tests: ``requests`` (the JSON bodies received, in order) and
    ``events`` (dicts ``{"event", "request", "time", ...}``; ``event`` is one of
    ``done``, ``error``, ``exhausted``, ``drop``, ``stall``, ``disconnect``,
    ``stopped``), plus :attr:`disconnects` and :meth:`wait_for`.
    """

    def __init__(
        self,
        script: Iterable[ScriptItem] | None = None,
        responder: Responder | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(
                f"refusing to listen on non-loopback host {host!r}: the scripted server has no authentication; "
                "use 127.0.0.1"
            )
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.token_delay = float(token_delay)
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self._script: deque[Reply] = deque(as_reply(item) for item in (script or ()))
        self._responder = responder
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> ScriptedServer:
        """Bind and serve on a background thread; returns self. ``port=0`` picks a free port."""
        if self._httpd is not None:
            raise RuntimeError("ScriptedServer already started")
        cls = _HTTPServer6 if ":" in self.host else _HTTPServer
        httpd = cls((self.host, self.port), _Handler)
        httpd.owner = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": _POLL_S}, name=f"scripted-server:{self.port}"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every open connection, then join the threads.

        Prompt even with streams sleeping or stalled: their waits see the stop flag.
        """
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._cond:
            conns = dict(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in conns.values():
            if thread is not threading.current_thread():
                thread.join(_JOIN_TIMEOUT_S)
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT_S)

    def __enter__(self) -> ScriptedServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (the port is known once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as ``openai.OpenAI(base_url=...)``."""
        return f"{self.url}/v1"

    # -- script --------------------------------------------------------------

    def push(self, *replies: ScriptItem) -> None:
        """Append replies to the script (strings and dicts are converted with :func:`as_reply`)."""
        converted = [as_reply(r) for r in replies]
        with self._cond:
            self._script.extend(converted)

    def set_responder(self, responder: Responder | None) -> None:
        """Answer requests with ``responder`` once the script is used up (``None``: fail them)."""
        with self._cond:
            self._responder = responder

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._cond:
            return len(self._script)

    # -- observation ---------------------------------------------------------

    @property
    def disconnects(self) -> int:
        """How many responses the client abandoned (closed the connection) before the end."""
        with self._cond:
            return sum(1 for e in self.events if e["event"] == "disconnect")

    def wait_for(self, event: str, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until ``count`` events named ``event`` were recorded; False on timeout.

        Needed because the server learns about a client's hang-up asynchronously.
        """
        with self._cond:
            return self._cond.wait_for(lambda: sum(e["event"] == event for e in self.events) >= count, timeout)

    # -- used by the handler -------------------------------------------------

    def _track(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns[conn] = threading.current_thread()

    def _untrack(self, conn: socket.socket) -> None:
        with self._cond:
            self._conns.pop(conn, None)

    def _record_request(self, request: dict[str, Any]) -> int:
        with self._cond:
            self.requests.append(request)
            return len(self.requests) - 1

    def _event(self, name: str, request: int, **extra: Any) -> None:
        with self._cond:
            self.events.append({"event": name, "request": request, "time": time.time(), **extra})
            self._cond.notify_all()

    def _next_reply(self, request: dict[str, Any]) -> Reply | None:
        """The script's next reply, else the responder's; ``None`` when there is neither."""
        with self._cond:
            if self._script:
                return self._script.popleft()
            responder = self._responder
        if responder is None:
            return None
        try:
            return as_reply(responder(request))
        except Exception as exc:  # a broken responder fails its request, loudly, not the server
            name = getattr(responder, "__name__", type(responder).__name__)
            return Reply(status=500, message=f"scripted server: responder {name} raised {type(exc).__name__}: {exc}")
