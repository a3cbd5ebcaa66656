"""The record/replay proxy: a loopback HTTP server that model clients are pointed at.

Why a proxy (and not a hook inside one HTTP client): our ``OnlineChatModule`` and user code
talk through the ``openai`` client (httpx), LazyLLM 1.4.0's ``OnlineChatModule`` through
``requests``. A loopback HTTP endpoint serves them all the same way: each client's base URL
points at it, so it sees every request on the wire, whatever library made it. It also keeps
what a replay needs and a client-side hook would lose: each server-sent event and when it
arrived.

One proxy per process, started on first use on ``127.0.0.1`` and a free port. Each tape has
one route per real endpoint: ``http://127.0.0.1:PORT/<route token>/`` stands for, say,
``https://api.deepseek.com/v1``. Route tokens are random and unguessable, so another local
user cannot use a route; a route lives as long as its tape (its run).

* Replay: the request is matched against the recording (:mod:`.tape`) and the recorded
  response is sent back, each event at its recorded time divided by the speed. Nothing is
  ever sent to the network. No match: HTTP 404 with the explanation, in OpenAI's error shape.
* Record: the request is forwarded to the real endpoint (:mod:`.recorder`), the response
  streamed back to the client as it arrives, and the exchange written to the cassette.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import weakref
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .._http import GONE, BodyTooLarge, read_body, sleep_unless_hung_up
from ..limits import CASSETTE_HANGUP_POLL_S, CASSETTE_MAX_BODY_BYTES
from .errors import CassetteError
from .model import END_COMPLETE, RecordedRequest, RecordedResponse
from .redact import Redactor, header_secrets

if TYPE_CHECKING:
    from .tape import Route

#: The response header that tells our own client which cassette error to raise.
ERROR_HEADER = "X-Lazystream-Cassette-Error"
_KEPT_ERRORS = 64  # errors kept for our client to pick up (it does so at once)


class ClientGone(Exception):
    """The client hung up (a cancelled run)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: CassetteProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], OSError):
            return  # resets and hang-ups are normal for a proxy
        super().handle_error(request, client_address)


class CassetteProxy:
    def __init__(self) -> None:
        self._routes: weakref.WeakValueDictionary[str, Route] = weakref.WeakValueDictionary()
        # routes of shared tapes (cassette.url() outside runs) live as long as the process: a client built with
        # cassette(path).url(...) keeps working after that Cassette object is gone. A run's routes go with the run.
        self._kept: dict[str, Route] = {}
        self._errors: OrderedDict[str, CassetteError] = OrderedDict()
        self._lock = threading.Lock()
        self._upstream = None
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"lazystream-cassette-proxy:{self.port}", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def register(self, route: Route) -> str:
        with self._lock:
            self._routes[route.token] = route
            if route.tape.shared:
                self._kept[route.token] = route
        return f"http://127.0.0.1:{self.port}/{route.token}/"

    def route_of(self, url: str) -> Route | None:
        """The route a URL handed out by ``cassette.url()`` leads to (None: not one of ours, or gone)."""
        prefix = f"http://127.0.0.1:{self.port}/"
        if not url.startswith(prefix):
            return None
        return self.route(url[len(prefix):].partition("/")[0])

    def serves(self, url: str) -> bool:
        """True for a URL of this proxy (a route handed out by ``cassette.url()``)."""
        return url.startswith(f"http://127.0.0.1:{self.port}/")

    def route(self, token: str) -> Route | None:
        with self._lock:
            return self._routes.get(token)

    def keep_error(self, error: CassetteError) -> str:
        import secrets

        key = secrets.token_hex(8)
        with self._lock:
            self._errors[key] = error
            while len(self._errors) > _KEPT_ERRORS:
                self._errors.popitem(last=False)
        return key

    def take_error(self, key: str) -> CassetteError | None:
        with self._lock:
            return self._errors.pop(key, None)

    def upstream_client(self):
        """The HTTP client record mode forwards with (httpx, imported on first recording)."""
        with self._lock:
            if self._upstream is None:
                import httpx

                from ..limits import MODEL_CONNECT_TIMEOUT_S, MODEL_READ_TIMEOUT_S

                self._upstream = httpx.Client(timeout=httpx.Timeout(MODEL_READ_TIMEOUT_S,
                                                                    connect=MODEL_CONNECT_TIMEOUT_S))
            return self._upstream

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._upstream is not None:
            self._upstream.close()


_proxy: CassetteProxy | None = None
_proxy_lock = threading.Lock()


def get_proxy() -> CassetteProxy:
    """The process's proxy, started on first use."""
    global _proxy
    with _proxy_lock:
        if _proxy is None or not _proxy.running:
            _proxy = CassetteProxy()
        return _proxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lazystream-cassette/1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each event leaves at once

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: no access log on the user's stderr."""

    def do_POST(self) -> None:
        t0 = time.monotonic()
        token, _, rest = self.path.lstrip("/").partition("/")
        route = self.server.owner.route(token)
        try:
            body = read_body(self.rfile, self.headers, CASSETTE_MAX_BODY_BYTES)
        except BodyTooLarge as exc:
            self.send_json_error(413, f"cassette proxy: {exc}", "cassette_body_too_large")
            self.close_connection = True
            return
        if route is None:
            self.send_json_error(404, "cassette proxy: no cassette route here (the cassette or run that gave out "
                                 "this URL is gone; ask cassette.url() again)", "cassette_unknown_route")
            return
        cassette = route.tape.cassette
        redactor = cassette.redactor(header_secrets(self.headers.items()))
        incoming = _incoming(self.command, f"{route.upstream}/{rest}", body, redactor)
        try:
            if cassette.mode == "replay":
                self._replay(route, incoming, t0)
            else:
                from .recorder import record

                record(self, route, incoming, body, redactor, rest)
        except ClientGone:
            self.hang_up()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    # ---- replay -------------------------------------------------------------------------

    def _replay(self, route: Route, incoming: RecordedRequest, t0: float) -> None:
        cassette = route.tape.cassette
        try:
            entry = route.tape.take(incoming)
        except CassetteError as exc:
            key = self.server.owner.keep_error(exc)
            self.send_json_error(404, str(exc), "cassette_mismatch", {ERROR_HEADER: key})
            return
        res = entry.response
        speed = cassette.speed

        def at(ms: float) -> float:
            return t0 + ms / 1000.0 / speed if speed else t0

        self.wait_until(at(res.after_ms))
        if not res.is_stream:
            self.wait_until(at(res.end_ms))
            self.send_body(res.status, res.headers, res.body_bytes())
            return
        self.start_stream(res.status, res.headers)
        for event in res.events or ():
            self.wait_until(at(event.ms))
            self.write_chunk(event.to_bytes())
        self.wait_until(at(res.end_ms))
        self.end_stream(res)

    # ---- writing, shared with the recorder ---------------------------------------------

    def wait_until(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining > 0 and sleep_unless_hung_up(self.connection, remaining, None, CASSETTE_HANGUP_POLL_S) == GONE:
            raise ClientGone

    def start_stream(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError:
            raise ClientGone from None

    def end_stream(self, res: RecordedResponse) -> None:
        """Close the chunked body; a stream the server dropped is dropped again (no terminator)."""
        if res.end != END_COMPLETE:
            self.hang_up()
            return
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass  # the client already has every event: hanging up before the terminator is fine

    def send_body(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            raise ClientGone from None

    def send_json_error(self, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
        """An error in OpenAI's shape, so every client shows its message."""
        body = json.dumps({"error": {"message": message, "type": code, "param": None, "code": code}},
                          ensure_ascii=False).encode("utf-8")
        self.send_body(status, {"Content-Type": "application/json", **(headers or {})}, body)

    def hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _incoming(method: str, url: str, body: bytes, redactor: Redactor) -> RecordedRequest:
    """The request as it would be recorded: secrets removed, JSON bodies parsed."""
    text = body.decode("utf-8", "replace") if body else None
    parsed = None
    if text is not None:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
    if parsed is not None:
        return RecordedRequest(method.upper(), redactor.url(url), redactor.json(parsed))
    return RecordedRequest(method.upper(), redactor.url(url), None, redactor.text(text) if text else None)
