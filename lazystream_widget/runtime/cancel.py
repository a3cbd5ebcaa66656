"""Cooperative cancellation of a run.

A :class:`CancelToken` rides in a ``ContextVar``, so it reaches every thread our pool
starts for the run. Code checks it at safe points (before a model request, per
streamed chunk, before starting a tool) and registers callbacks for blocking
operations, e.g. the chat module closes its HTTP stream from the cancelling thread.

The token also carries one hint from the run's display: :attr:`CancelToken.hold_reads_until`.
A view waiting its turn for the kernel's message budget (a hundred busy views at once) shows
nothing before that turn, so the run's streamed model reads need not wake for every token
until shortly before it: a streamed read loop calls :meth:`CancelToken.hold_reads` per chunk,
and the tokens gather in the socket meanwhile, to be read in one go.
"""

from __future__ import annotations

import contextvars
import threading
import time
from typing import Callable


class RunCancelled(Exception):
    """The run was cancelled (stop button, ``run.cancel()`` or a kernel interrupt)."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.reason = ""
        #: ``time.monotonic()`` before which nobody will look at the run's output (0: look now); set
        #: by the pump while the run's view waits in line, reset when it leaves the line
        self.hold_reads_until = 0.0

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "cancelled") -> bool:
        """Cancel; returns False if it already was. Callbacks run here, in the caller's thread."""
        with self._lock:
            if self._event.is_set():
                return False
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            try:
                cb()
            except Exception:
                pass  # a failing cleanup must not stop the others
        return True

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` on cancel (at once if already cancelled); returns a function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._remove(callback)
        callback()
        return lambda: None

    def _remove(self, callback: Callable[[], None]) -> None:
        with self._lock:
            try:
                self._callbacks.remove(callback)
            except ValueError:
                pass

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True (early) if cancelled meanwhile."""
        return self._event.wait(timeout)

    def hold_reads(self) -> bool:
        """Wait until :attr:`hold_reads_until` if it is still ahead; True (early) if cancelled meanwhile.

        Callers check ``hold_reads_until`` first (it is 0 nearly always): the check costs an attribute read.
        """
        left = self.hold_reads_until - time.monotonic()
        return left > 0 and self._event.wait(left)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise RunCancelled(self.reason)


_token: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("lazystream_cancel", default=None)


def current_token() -> CancelToken | None:
    return _token.get()


def set_token(token: CancelToken | None) -> contextvars.Token:
    return _token.set(token)


def check_cancelled() -> None:
    """Raise :class:`RunCancelled` if the current run was cancelled."""
    token = _token.get()
    if token is not None:
        token.raise_if_cancelled()


def sleep(seconds: float) -> None:
    """``time.sleep`` that a cancel interrupts (raising RunCancelled)."""
    token = _token.get()
    if token is None:
        import time

        time.sleep(seconds)
        return
    if token.wait(seconds):
        token.raise_if_cancelled()
