"""Socket reads of our model client: one system call per streamed chunk, not three.

The openai client reads a streamed answer through httpcore, whose socket stream calls
``sock.settimeout(timeout)`` before every ``recv`` (an ``ioctl``), and a Python socket with a timeout
``poll`` s before each ``recv``: three system calls per chunk, and each lets go of the GIL. With a
hundred runs streaming in one kernel the GIL is what the run threads wait for (a run thread was
scheduled in 5-8 times per token), and every hand-off is a thread switch. Here the timeout is set
only when it changes, and a plain TCP socket on Linux reads in blocking mode with the kernel's
receive timeout (``SO_RCVTIMEO``): the same wait, the same errors (``ReadTimeout`` when it passes,
``ReadError``), one ``recv`` per chunk. A cancel still wakes the read (``chat._abort_stream`` shuts
the socket down). TLS sockets keep Python's timeout (an SSL read may need to write) and only skip
the repeated ``settimeout`` (measured in ``docs/benchmarks.md``, "Many runs in one kernel").

It is installed on the connection pool of the client we build (``ChatModuleBase._make_client``), as
httpcore's own network backend interface allows. The pool and its backend are not public attributes
of httpx: if a future version moves them, nothing is installed and the client reads as before.
"""

from __future__ import annotations

import socket
import ssl
import struct
import sys
from typing import Any

#: Linux: a blocking socket's ``recv`` honours ``SO_RCVTIMEO`` and fails with EAGAIN when it passes
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_UNSET = object()


def _timeval(timeout: float | None) -> bytes:
    """``timeout`` seconds as a ``struct timeval`` (zero: wait for ever)."""
    if timeout is None:
        return struct.pack("@ll", 0, 0)
    seconds = int(timeout)
    micros = int((timeout - seconds) * 1e6)
    return struct.pack("@ll", seconds, micros if seconds or micros else 1)  # never 0 (for ever) by rounding


def _backend_class() -> Any:
    """A ``SyncBackend`` whose TCP streams set the read timeout only when it changes; None if httpcore
    has no such classes (imported on first use, as the client is)."""
    try:
        from httpcore2 import SyncBackend
        from httpcore2._backends.sync import SyncStream
        from httpcore2._exceptions import ReadError, ReadTimeout, map_exceptions
    except ImportError:  # pragma: no cover - depends on the installed client
        return None

    read_errors = {socket.timeout: ReadTimeout, OSError: ReadError}

    class _Stream(SyncStream):
        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            #: a plain TCP socket on Linux reads in blocking mode with the kernel's receive timeout
            self._kernel_timeout = _KERNEL_TIMEOUTS and not isinstance(sock, ssl.SSLSocket)
            self._rcvtimeo: Any = _UNSET  # the SO_RCVTIMEO set on the socket

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            with map_exceptions(read_errors):
                sock = self._sock
                if self._kernel_timeout and (timeout is None or timeout > 0):
                    # Python's own timeout polls before each recv (two system calls); a blocking socket
                    # with SO_RCVTIMEO waits in recv itself, for the same time, and says EAGAIN at its end
                    if sock.gettimeout() is not None:  # a write set one (once per request)
                        sock.settimeout(None)
                    if timeout != self._rcvtimeo:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(timeout))
                        self._rcvtimeo = timeout
                    try:
                        return sock.recv(max_bytes)
                    except BlockingIOError:  # the receive timeout passed with nothing to read
                        raise TimeoutError("timed out") from None  # as Python's timeout says it
                if sock.gettimeout() != timeout:  # gettimeout() is no system call; settimeout() is
                    sock.settimeout(timeout)
                return sock.recv(max_bytes)

        def start_tls(self, *args: Any, **kwargs: Any) -> Any:
            stream = super().start_tls(*args, **kwargs)
            return _Stream(stream._sock) if type(stream) is SyncStream else stream

    class _Backend(SyncBackend):
        def connect_tcp(self, *args: Any, **kwargs: Any) -> Any:
            stream = super().connect_tcp(*args, **kwargs)
            return _Stream(stream._sock) if type(stream) is SyncStream else stream

    return _Backend


_BACKEND: Any = None


def install(client: Any) -> bool:
    """Use the reads above for ``client`` (an ``openai.OpenAI``); False if its pool is not the one we know."""
    global _BACKEND
    pool = getattr(getattr(getattr(client, "_client", None), "_transport", None), "_pool", None)
    current = getattr(pool, "_network_backend", None)
    if current is None or type(current).__name__ != "SyncBackend":  # not httpcore's plain one: leave it
        return False
    if _BACKEND is None:
        cls = _backend_class()
        if cls is None:  # pragma: no cover - depends on the installed client
            return False
        _BACKEND = cls()
    if not isinstance(_BACKEND, type(current)):  # pragma: no cover - a second httpcore
        return False
    pool._network_backend = _BACKEND
    return True
