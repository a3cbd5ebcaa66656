"""``Thread``: LazyLLM's thread that carries the caller's session, with ``get_result()``.

Unlike a plain ``threading.Thread``, whose context starts empty, it runs its target in a copy of the
context it was *created* in (as LazyLLM's does): the same queues (session), the same trace parent
span and cancel token, and LazyLLM's session id for ``globals``. ``get_result()`` waits for the
target and returns its value or raises its exception (also a prehook's); it may be called again.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any, Callable

from . import session_vars


class Thread(threading.Thread):
    """A thread running ``target(*args, **kwargs)`` in its creator's context.

    Args:
        group, target, name, args, kwargs, daemon: as for ``threading.Thread``.
        prehook: a callable (or a list of them) called first, on the thread, without arguments.
        local_scope: ``"isolated"`` (default): a fresh ``locals`` scope; ``"inherit"``: the creator's.
    """

    def __init__(self, group: None = None, target: Callable[..., Any] | None = None, name: str | None = None,
                 args: tuple = (), kwargs: dict[str, Any] | None = None, *,
                 prehook: Callable[[], Any] | list[Callable[[], Any]] | None = None, daemon: bool | None = None,
                 local_scope: str = "isolated") -> None:
        session_vars.check_local_scope(local_scope)
        hooks = list(prehook) if isinstance(prehook, (list, tuple)) else ([prehook] if prehook else [])
        for hook in hooks:
            if not callable(hook):
                raise TypeError(f"Thread(prehook=...) takes callables, got {type(hook).__name__}")
        if target is not None and not callable(target):
            raise TypeError(f"Thread(target=...) takes a callable, got {type(target).__name__}")
        session_vars.before_handoff(local_scope)
        self._lazy_context = contextvars.copy_context()
        self._lazy_call = session_vars.in_task(self._call_target, local_scope)
        self._lazy_target, self._lazy_args, self._lazy_kwargs = target, tuple(args), dict(kwargs or {})
        self._lazy_hooks = hooks
        self._lazy_done = threading.Event()
        self._lazy_ok = False
        self._lazy_value: Any = None
        super().__init__(group, self._work, name, daemon=daemon)

    def _call_target(self) -> Any:
        for hook in self._lazy_hooks:
            hook()
        if self._lazy_target is not None:
            return self._lazy_target(*self._lazy_args, **self._lazy_kwargs)
        return None

    def _work(self) -> None:
        try:
            self._lazy_value = self._lazy_context.run(self._lazy_call)
            self._lazy_ok = True
        except BaseException as exc:  # handed to get_result() on the waiting thread
            self._lazy_value = exc
        finally:
            self._lazy_done.set()

    def get_result(self, timeout: float | None = None) -> Any:
        """Wait for the target and return its result, or raise its exception. ``TimeoutError`` after ``timeout`` s."""
        if self.ident is None:
            raise RuntimeError(f"{self.name} was not started: call start() before get_result()")
        if not self._lazy_done.wait(timeout):
            raise TimeoutError(f"{self.name} did not finish within {timeout:g} s")
        if not self._lazy_ok:
            raise self._lazy_value
        return self._lazy_value
