"""Waiting for a Redis session to change: a blocking ``XREAD``, no polling loop.

A :class:`RedisWatcher` follows a session's answer, thinking and trace streams (and any other
queue the session had when it was made). ``wait(timeout)`` blocks in Redis until an item is
appended after the last one the watcher has reported, then returns True. It is edge-triggered
like the file backend's inotify watcher: the ``XREAD`` and a read of each stream's last id go in
one pipeline, so after a wake-up the watcher moves to the end of every stream and does not wake
again for items its owner is about to drain anyway.

A lost connection is not an error here: ``wait`` returns False after its timeout, and the next
call reconnects (the caller's reads report an outage that lasts).
"""

from __future__ import annotations

import time
from typing import Any

from ..protocol import ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE
from .redis_conn import transient_errors

_START = b"0-0"
_MAX_BLOCK_S = 2.0


class RedisWatcher:
    def __init__(self, client: Any, stream_keys: list[bytes]) -> None:
        self._client = client
        self._keys = stream_keys
        self._ids: dict[bytes, bytes] = {}
        self._closed = False
        try:
            self._ids = dict(zip(stream_keys, self._tails(), strict=True))
        except transient_errors():
            self._ids = {}  # Redis away: the first successful wait starts from the current ends

    def _tails(self) -> list[bytes]:
        pipe = self._client.pipeline(transaction=False)
        for key in self._keys:
            pipe.xrevrange(key, count=1)
        return [rows[0][0] if rows else _START for rows in pipe.execute()]

    def wait(self, timeout: float) -> bool:
        if self._closed:
            time.sleep(max(0.0, timeout))
            return False
        deadline = time.monotonic() + timeout
        while True:
            # block in slices well inside the socket timeout, so a long wait is never taken for a dead server
            block = min(deadline - time.monotonic(), _MAX_BLOCK_S)
            try:
                if not self._ids:
                    self._ids = dict(zip(self._keys, self._tails(), strict=True))
                pipe = self._client.pipeline(transaction=False)
                pipe.xread(self._ids, count=1, block=max(1, int(block * 1000)))
                for key in self._keys:
                    pipe.xrevrange(key, count=1)
                got, *tails = pipe.execute()
            except transient_errors():
                time.sleep(max(0.0, min(deadline - time.monotonic(), 0.25)))
                got, tails = None, []
            if got or time.monotonic() >= deadline or self._closed:
                break
        if not got:
            return False
        # something new: skip to the ends (the owner drains after this returns; nothing is missed)
        for key, rows in zip(self._keys, tails, strict=True):
            if rows:
                self._ids[key] = rows[0][0]
        return True

    def close(self) -> None:
        self._closed = True


def standard_queues() -> tuple[str, ...]:
    return (ANSWER_QUEUE, THINK_QUEUE, TRACE_QUEUE)
