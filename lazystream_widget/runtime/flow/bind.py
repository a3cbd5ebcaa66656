"""``bind``: a stage's arguments chosen at build time, from its inputs, the pipeline's input, or earlier stages.

::

    with pipeline() as p:
        p.retrieve = retrieve
        p.answer = bind(answer, p.input, _0)            # answer(question, retrieved)
        p.cite = bind(cite, p.output("retrieve"), _0)   # an earlier stage's output

* ``_0`` ... ``_9`` are the stage's own inputs (the previous stage's result; a ``package`` counts
  one per element, as LazyLLM spreads it). When a bind names any argument, inputs it does not name
  are not passed (LazyLLM's rule).
* ``p.input`` (and ``p.input["key"]``, ``p.input.attr``), ``p.kwargs`` and ``p.output(stage)`` refer
  to the values of one call of pipeline ``p``, read when the stage runs.
* ``f | bind(...)`` is ``bind(f, ...)``; ``flow.bind(...)`` binds a flow, and
  ``with parallel().bind(p.input, _0) as p.branches:`` builds it in place.

References are looked up in the calls of pipelines running around the stage, at any depth (LazyLLM
finds only those of the directly enclosing pipeline unless ``save_pipeline_result()`` is on).
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from .data import package

#: flow id -> the live values of that pipeline's current call: {"input", "kwargs", <stage id>: output}
_frames: contextvars.ContextVar[dict[str, dict[str, Any]] | None] = contextvars.ContextVar("lazystream_bind_frames",
                                                                                           default=None)


class BindError(RuntimeError):
    """A bound argument cannot be resolved (its pipeline is not running, or its stage has not run yet)."""


@contextmanager
def pipeline_frame(flow_id: str, values: dict[str, Any]) -> Iterator[None]:
    """Make one pipeline call's values reachable by references for the duration of the call."""
    token = _frames.set({**(_frames.get() or {}), flow_id: values})
    try:
        yield
    finally:
        _frames.reset(token)


class Placeholder:
    """``_0`` ... ``_9``: the stage's n-th input. One object per index."""

    _pool: dict[int, Placeholder] = {}
    idx: int

    def __new__(cls, idx: int) -> Placeholder:
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise TypeError(f"a placeholder index is an int >= 0, got {idx!r}")
        if idx not in cls._pool:
            obj = super().__new__(cls)
            object.__setattr__(obj, "idx", idx)
            cls._pool[idx] = obj
        return cls._pool[idx]

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"placeholders are constants; cannot set {key}")

    def __deepcopy__(self, memo: Any = None) -> Placeholder:
        return self

    def __reduce__(self) -> tuple:
        return Placeholder, (self.idx,)

    def __repr__(self) -> str:
        return f"_{self.idx}"


_0, _1, _2, _3, _4, _5, _6, _7, _8, _9 = (Placeholder(i) for i in range(10))


class Unpack(package):
    """A referenced ``package`` spread into several positional arguments (``p.output(x, unpack=True)``)."""


class Reference:
    """``p.input``, ``p.kwargs`` or ``p.output(stage)``: a value of pipeline ``p``'s current call."""

    __slots__ = ("_flow_id", "_flow_name", "_target", "_target_name", "_path", "_unpack")

    def __init__(self, flow_id: str, flow_name: str, target: str = "input", target_name: str | None = None,
                 *, unpack: bool = False, path: tuple = ()) -> None:
        self._flow_id, self._flow_name = flow_id, flow_name
        self._target, self._target_name = target, target_name or target
        self._unpack, self._path = unpack, path

    def __getitem__(self, key: Any) -> Reference:
        return self._with(("item", key))

    def __getattr__(self, key: str) -> Reference:
        if key.startswith("__") and key.endswith("__"):
            raise AttributeError(key)
        return self._with(("attr", key))

    def _with(self, step: tuple) -> Reference:
        return Reference(self._flow_id, self._flow_name, self._target, self._target_name, unpack=self._unpack,
                         path=self._path + (step,))

    def describe(self) -> str:
        what = {"input": "input", "kwargs": "kwargs"}.get(self._target, f"output({self._target_name!r})")
        steps = "".join(f"[{k!r}]" if kind == "item" else f".{k}" for kind, k in self._path)
        return f"{self._flow_name}.{what}{steps}"

    def resolve(self) -> Any:
        values = (_frames.get() or {}).get(self._flow_id)
        if values is None:
            raise BindError(
                f"bind refers to {self.describe()}, but {self._flow_name} is not running around this call; "
                f"a reference to a pipeline's input or outputs works only in stages inside that pipeline")
        if self._target not in values:
            raise BindError(
                f"bind refers to {self.describe()}, but stage {self._target_name!r} has not run yet in this call; "
                f"a stage can use the outputs of the stages before it")
        value = values[self._target]
        for kind, key in self._path:
            value = value[key] if kind == "item" else getattr(value, key)
        if self._unpack and isinstance(value, package):
            value = Unpack(value)
        return value

    def __repr__(self) -> str:
        return f"<ref {self.describe()}>"


class _Unbound:
    """The bind has no function yet: ``bind(...)`` waiting for ``f | bind(...)``."""

    def __repr__(self) -> str:
        return "<nothing>"


_UNBOUND = _Unbound()
_OWN = ("_f", "_args", "_kw")


class bind:
    """``f`` with some arguments fixed, placeholders (``_0``...) and references (``p.input``...) allowed.

    A class given as ``f`` is instantiated. Unknown attributes are read from and written to ``f``, so a
    bound flow is built like the flow itself.
    """

    def __init__(self, __bind_func: Any = _UNBOUND, *args: Any, **kw: Any) -> None:
        f = __bind_func() if isinstance(__bind_func, type) else __bind_func
        object.__setattr__(self, "_f", f)
        object.__setattr__(self, "_args", args)
        object.__setattr__(self, "_kw", kw)

    # ---- composing ---------------------------------------------------------------

    def __ror__(self, value: Callable[..., Any]) -> bind:
        """``f | bind(a, b)``: the bind's first argument was really an argument, ``f`` the function."""
        if self._f is not _UNBOUND:
            object.__setattr__(self, "_args", (self._f,) + self._args)
        object.__setattr__(self, "_f", value)
        return self

    def __or__(self, other: Any) -> Any:
        if isinstance(other, bind):
            return other.__ror__(self)
        return NotImplemented

    def bind(self, *args: Any, **kw: Any) -> bind:
        return bind(self, *args, **kw)

    # ---- calling -----------------------------------------------------------------

    def resolve(self, args: tuple, kw: dict, stage_ref: Callable[[Any], Reference | None] | None = None
                ) -> tuple[Any, tuple, dict]:
        """(function, positional, keyword) arguments for a call with the stage inputs ``args`` and ``kw``.

        ``stage_ref(obj)`` maps a stage object given as an argument to a reference to its output (a
        pipeline passes its own: ``bind(f, p.retrieve)`` means retrieve's output).
        """
        if self._f is _UNBOUND:
            raise TypeError(f"{self!r} has no function; write f | bind(...) or bind(f, ...)")
        clash = set(kw) & set(self._kw)
        if clash:
            raise TypeError(f"bind({_name(self._f)}, ...) got keyword argument(s) {sorted(clash)} that are already "
                            f"bound")
        if self._args:
            call_args = [self._fill(a, args, stage_ref) for a in self._args]
        else:
            call_args = list(args)
        call_kw = {k: self._fill(v, args, stage_ref) for k, v in self._kw.items()}
        flat = tuple(itertools.chain.from_iterable(a if isinstance(a, Unpack) else (a,) for a in call_args))
        return self._f, flat, {**call_kw, **kw}

    def _fill(self, value: Any, args: tuple, stage_ref: Callable[[Any], Reference | None] | None) -> Any:
        if isinstance(value, Placeholder):
            if value.idx >= len(args):
                raise IndexError(f"bind({_name(self._f)}, ...) uses {value!r}, but the stage got {len(args)} "
                                 f"input(s); _0 is the first")
            return args[value.idx]
        if stage_ref is not None and callable(value) and not isinstance(value, type):
            ref = stage_ref(value)
            if ref is not None:
                value = ref
        if isinstance(value, Reference):
            return value.resolve()
        return value

    def __call__(self, *args: Any, **kw: Any) -> Any:
        f, call_args, call_kw = self.resolve(args, kw)
        return f(*call_args, **call_kw)

    # ---- behaving like the bound object ---------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:  # not set yet (copy / pickle): no recursion
            raise AttributeError(name)
        return getattr(self._f, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self._f, name, value)

    def __enter__(self) -> bind:
        import inspect

        enter = getattr(self._f, "_enter_from", None)
        if enter is None:
            raise TypeError(f"only a bound flow can be built in a with block, not {_name(self._f)}")
        frame = inspect.currentframe()
        enter(frame.f_back if frame is not None else None)
        return self

    def __exit__(self, *exc: Any) -> bool:
        return bool(self._f.__exit__(*exc))

    def __eq__(self, other: object) -> bool:
        return other is self or other == self._f

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        parts = [repr(a) for a in self._args] + [f"{k}={v!r}" for k, v in self._kw.items()]
        return f"bind({_name(self._f)}, {', '.join(parts)})" if parts else f"bind({_name(self._f)})"


def _name(f: Any) -> str:
    return getattr(f, "__name__", None) or getattr(f, "name", None) or type(f).__name__


def unbound(stage: Any) -> Any:
    """The object a stage calls in the end (a bind's function, unwrapped)."""
    while isinstance(stage, bind):
        stage = stage._f
    return stage
