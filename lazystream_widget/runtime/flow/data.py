"""What travels between stages: ``package``, ``kwargs``, ``arguments`` and how a stage is called with them.

LazyLLM's rule, kept exactly (code written for it depends on it):

* a stage that returns a :class:`package` (a tuple subclass) has it *spread* over the next stage's
  positional arguments; parallel flows return a ``package``, so ``pipeline(parallel(f, g), add)``
  calls ``add(f(x), g(x))``;
* a :class:`kwargs` (a dict subclass) is spread as keyword arguments;
* anything else, a plain ``tuple`` included, is passed as one argument;
* a flow receives the package itself (it spreads it over its own first stage).

A flow called with several arguments packs them into a ``package``; ``flow()`` with none gets an
empty ``package``, so its first stage is called with no arguments.
"""

from __future__ import annotations

import copy
import types
from typing import Any

_UNSET: Any = object()


class package(tuple):
    """Several values handed to the next stage as separate positional arguments.

    ``package(1, 2)`` and ``package([1, 2])`` are both ``(1, 2)``; slicing and ``+`` keep the type.
    """

    def __new__(cls, *args: Any) -> package:
        if len(args) == 1 and isinstance(args[0], (tuple, list, types.GeneratorType)):
            return super().__new__(cls, args[0])
        return super().__new__(cls, args)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return package(super().__getitem__(key))
        return super().__getitem__(key)

    def __add__(self, other: Any) -> package:
        return package(super().__add__(other))


class kwargs(dict):
    """Values handed to the next stage as keyword arguments."""


class arguments:
    """Positional and keyword values together (what a graph node with several inputs receives)."""

    def __init__(self, args: Any = _UNSET, kw: Any = _UNSET) -> None:
        self.args = package() if args is _UNSET else args
        if not isinstance(self.args, package):
            self.args = package((self.args,))
        self.kw = kwargs() if kw is _UNSET else kwargs(copy.copy(kw))

    def append(self, value: Any) -> arguments:
        """Add one input: a package extends the positional values, kwargs merge, anything else is one value."""
        if isinstance(value, package):
            args, kw = value, kwargs()
        elif isinstance(value, kwargs):
            args, kw = package(), value
        elif isinstance(value, arguments):
            args, kw = value.args, value.kw
        else:
            args, kw = package((value,)), kwargs()
        if args:
            self.args += args
        if kw:
            dup = set(self.kw) & set(kw)
            if dup:
                raise ValueError(f"two inputs give the keyword argument(s) {sorted(dup)}; each may come from one input")
            self.kw.update(kw)
        return self

    def __repr__(self) -> str:
        return f"arguments(args={tuple(self.args)!r}, kw={dict(self.kw)!r})"


class Identity:
    """A stage that returns its input (several inputs as a ``package``)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        pass

    def __call__(self, *inputs: Any) -> Any:
        return inputs[0] if len(inputs) == 1 else package(*inputs)

    def __repr__(self) -> str:
        return "<Identity>"


def pack_call_args(args: tuple) -> Any:
    """The one input of a flow called with ``args``: the single argument, else a ``package`` of them."""
    return args[0] if len(args) == 1 else package(args)


def spread(value: Any, *, into_flow: bool) -> tuple[tuple, dict]:
    """The (positional, keyword) arguments a stage is called with for the input ``value``."""
    if not into_flow:
        if isinstance(value, package):
            return tuple(value), {}
        if isinstance(value, kwargs):
            return (), dict(value)
    return (value,), {}
