"""Small HTTP/1.1 server helpers shared by the scripted model server and the cassette proxy.

Standard library only. Both servers stream server-sent events to one client per connection
and must notice a client that hangs up (a cancelled run) while they wait between events.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Mapping
from typing import BinaryIO

GONE, STOPPED = "gone", "stopped"


class BodyTooLarge(ValueError):
    """The request body is over the server's limit."""


def read_body(rfile: BinaryIO, headers: Mapping[str, str], limit: int | None = None) -> bytes:
    """The request body, whether sent with ``Content-Length`` or ``Transfer-Encoding: chunked``."""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        body = bytearray()
        while True:
            size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(body)
            if limit is not None and len(body) + size > limit:
                raise BodyTooLarge(f"request body over {limit} bytes")
            body += rfile.read(size)
            rfile.readline()
    length = int(headers.get("Content-Length") or 0)
    if limit is not None and length > limit:
        raise BodyTooLarge(f"request body of {length} bytes is over {limit} bytes")
    return rfile.read(length)


def sleep_unless_hung_up(
    conn: socket.socket, seconds: float, stop: threading.Event | None = None, poll_s: float = 0.05
) -> str | None:
    """Sleep ``seconds``, but return early with ``GONE`` when the client hangs up, ``STOPPED`` when
    ``stop`` is set; None after a full sleep. Uses ``poll``, not ``select`` (which fails on
    descriptors >= 1024)."""
    deadline = time.monotonic() + seconds
    poller = select.poll()
    poller.register(conn, select.POLLIN | select.POLLPRI)
    while True:
        if stop is not None and stop.is_set():
            return STOPPED
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        step = min(remaining, poll_s)
        if poller.poll(step * 1000):
            try:
                peeked = conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError:
                return GONE
            if not peeked:
                return GONE
            time.sleep(step)  # unexpected bytes (a pipelined request): just sleep, don't spin
