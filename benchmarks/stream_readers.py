"""What reading 100 paced streams costs: a thread per stream against one selector thread, same work.

    python -m benchmarks.stream_readers                 # 3 alternating rounds
    python -m benchmarks.stream_readers --rounds 5

The question it answers: would one thread reading every run's model socket (a selector loop) make a
token cheaper than a thread per run (what runs do now)? A sender process writes one streamed chunk
(HTTP/1.1 chunked framing, a ``data:`` line as the openai client receives it) to each of 100 socket
pairs every 50 ms, staggered (100 streams at 20 tokens/s). The reader side does what a run does per
chunk without httpx's stream layers: ``h11`` parses the body, the openai client's SSE decoder cuts
the events, ``json.loads`` reads each, ``os.write`` appends the token to a file. ``bare`` skips h11
and the SSE decoder (``recv``, ``json.loads``, ``os.write``). The figure is the reader process's CPU
per token (``time.process_time``). Results and what they mean: docs/benchmarks.md, "Many runs in one
kernel".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import selectors
import socket
import tempfile
import threading
import time
from collections.abc import Callable

STREAMS, TOKENS, DELAY = 100, 100, 0.05
_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def _send(socks: list[socket.socket], framed: bool) -> None:
    if framed:
        for s in socks:
            s.sendall(_HEAD)
    t0 = time.monotonic()
    for k in range(TOKENS):
        for i, s in enumerate(socks):
            wait = t0 + k * DELAY + i * DELAY / len(socks) - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            body = (b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":'
                    b'{"content":"w%d"}}]}\n\n' % k)
            s.sendall(b"%x\r\n%s\r\n" % (len(body), body) if framed else body)
    for s in socks:
        if framed:
            s.sendall(b"0\r\n\r\n")
        s.close()


class _Reader:
    """One stream's parsing state: h11 and the SSE decoder (``framed``), or none (bare)."""

    def __init__(self, fd: int, framed: bool) -> None:
        self.fd, self.framed, self.rest = fd, framed, b""
        if framed:
            import h11
            from openai._streaming import SSEDecoder  # the client's own decoder (private: a benchmark only)

            self.h11 = h11
            self.conn = h11.Connection(h11.CLIENT)
            self.conn.send(h11.Request(method="POST", target="/v1/chat/completions",
                                       headers=[("host", "model"), ("content-length", "0")]))
            self.conn.send(h11.EndOfMessage())
            self.sse = SSEDecoder()

    def feed(self, data: bytes) -> None:
        if not self.framed:
            for event in data.split(b"\n\n"):
                if event.startswith(b"data: "):
                    self._token(event[6:])
            return
        h11 = self.h11
        self.conn.receive_data(data)
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA or isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return
            if isinstance(event, h11.Data):
                *lines, self.rest = (self.rest + bytes(event.data)).split(b"\n")
                for line in lines:
                    sse = self.sse.decode(line.decode())
                    if sse is not None and sse.data:
                        self._token(sse.data)

    def _token(self, data: bytes | str) -> None:
        os.write(self.fd, json.loads(data)["choices"][0]["delta"]["content"].encode())


def _threads(socks: list[socket.socket], fd: int, framed: bool) -> None:
    def read(s: socket.socket) -> None:
        reader = _Reader(fd, framed)
        while data := s.recv(65536):
            reader.feed(data)

    threads = [threading.Thread(target=read, args=(s,)) for s in socks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _selector(socks: list[socket.socket], fd: int, framed: bool) -> None:
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ, _Reader(fd, framed))
    left = len(socks)
    while left:
        for key, _ in sel.select():
            data = key.fileobj.recv(65536)
            if data:
                key.data.feed(data)
            else:
                sel.unregister(key.fileobj)
                left -= 1


def measure(read: Callable[[list[socket.socket], int, bool], None], framed: bool) -> float:
    """The reader's CPU per token (µs) for one pass of STREAMS paced streams."""
    pairs = [socket.socketpair() for _ in range(STREAMS)]
    sender = mp.get_context("fork").Process(target=_send, args=([b for _, b in pairs], framed))
    sender.start()
    for _, b in pairs:
        b.close()
    with tempfile.TemporaryFile() as out:
        c0 = time.process_time()
        read([a for a, _ in pairs], out.fileno(), framed)
        cpu = time.process_time() - c0
        expected = sum(len(f"w{k}") for k in range(TOKENS)) * STREAMS
        assert os.fstat(out.fileno()).st_size == expected, "a token was lost"
    sender.join()
    for a, _ in pairs:
        a.close()
    return cpu / (STREAMS * TOKENS) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stream_readers", description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    for framed in (True, False):
        for rnd in range(args.rounds):
            line = ", ".join(f"{name} {measure(fn, framed):.0f}" for name, fn in
                             (("thread per stream", _threads), ("one selector thread", _selector)))
            print(f"{'h11 + SSE' if framed else 'bare'} round {rnd + 1}, µs CPU per token: {line}; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
