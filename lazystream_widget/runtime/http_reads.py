"""Socket reads of our model client without a system call per read to set a timeout that did not change.

The openai client reads a streamed answer through httpcore, whose socket stream calls
``sock.settimeout(timeout)`` before every ``recv``: one ``ioctl`` per chunk, and each system call lets
go of the GIL. With a hundred runs streaming in one kernel the GIL is what the run threads wait for
(a run thread was scheduled in 5-8 times per token), and every hand-off is a thread switch. The
timeout is the same for every read of a response, so it is set only when it changes: the same read,
the same timeout in force, the same errors (``ReadTimeout``, ``ReadError``), one system call fewer per
chunk (measured in ``docs/benchmarks.md``, "Many runs in one kernel").

It is installed on the connection pool of the client we build (``ChatModuleBase._make_client``), as
httpcore's own network backend interface allows. The pool and its backend are not public attributes
of httpx: if a future version moves them, nothing is installed and the client reads as before.
"""

from __future__ import annotations

import socket
from typing import Any


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
        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            with map_exceptions(read_errors):
                sock = self._sock
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
