"""``ModuleBase``: subclass it and implement ``forward``; calls get traced for free.

As in the seed: ``return_trace=True`` makes a module write trace entries to
``FileSystemQueue().get_instance('lazy_trace')``. Runners (the widget) also turn
tracing on for everything in a run, so the tree shows every module.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, TypeVar

from .trace import activate, deactivate, end_with_exception, start_span, trace_everything

T = TypeVar("T")

#: Set by a flow just before it calls a module as one of its stages: the stage's span name (or None)
#: and attributes. The module's own span takes them, so a stage that is a module is one span, not two.
_stage: contextvars.ContextVar[tuple[str | None, dict[str, Any]] | None] = contextvars.ContextVar(
    "lazystream_stage", default=None)


@contextmanager
def as_stage(name: str | None, attrs: dict[str, Any]) -> Iterator[None]:
    """Calls in this block are a flow stage: the next module span opened takes ``name`` and ``attrs``."""
    token = _stage.set((name, attrs))
    try:
        yield
    finally:
        _stage.reset(token)


def describe_input(args: tuple, kwargs: dict) -> Any:
    """What a span shows as its input: the single argument itself, else args and kwargs."""
    if len(args) == 1 and not kwargs:
        return args[0]
    if not kwargs:
        return list(args)
    return {"args": list(args), "kwargs": kwargs}


class ModuleBase:
    """Base of everything callable in a run: models, agents, flows and user modules.

    Args:
        return_trace: write a span (start and end entries) to the ``lazy_trace`` queue per call.
        name: the span's name (default: the class name).
    """

    #: the span kind: "agent", "llm", "tool", "flow" or "module"
    kind: str = "module"
    _return_trace: bool = False
    _name: str | None = None

    def __init__(self, *, return_trace: bool = False, name: str | None = None) -> None:
        self._return_trace = bool(return_trace)
        self._name = name

    @property
    def name(self) -> str:
        return self._name or type(self).__name__

    @name.setter
    def name(self, name: str | None) -> None:
        self._name = name

    @property
    def return_trace(self) -> bool:
        return self._return_trace

    def tracing(self) -> bool:
        """Whether a call made now writes a span."""
        return self._return_trace or trace_everything()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(self, ...)")

    def span_attrs(self) -> dict[str, Any] | None:
        """Extra attributes for this module's span start entry (e.g. the model name)."""
        return None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.traced(self.forward, describe_input(args, kwargs), *args, _attrs=self.span_attrs(), **kwargs)

    def traced(self, fn: Callable[..., T], input: Any, *args: Any, _attrs: dict | None = None, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` inside this module's span (when tracing is on)."""
        if not self.tracing():
            return fn(*args, **kwargs)
        name = self.name
        stage = _stage.get()
        if stage is not None:  # this call is a flow's stage: one span, named and marked as the stage
            stage_token = _stage.set(None)  # ... for this call only, not for the modules it calls
            name = stage[0] or name
            _attrs = {**(_attrs or {}), **stage[1]}
        sp = start_span(name, self.kind, input, _attrs)
        token = activate(sp)
        try:
            out = fn(*args, **kwargs)
        except BaseException as exc:
            end_with_exception(sp, exc)
            raise
        finally:
            deactivate(token)
            if stage is not None:
                _stage.reset(stage_token)
        sp.end(out)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
