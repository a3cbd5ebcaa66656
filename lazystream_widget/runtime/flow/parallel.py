"""``parallel`` (every branch on the same input), ``diverter`` (one input per branch), ``warp`` (one stage per input).

All three return a ``package`` of the branches' results in branch order (so a following stage gets them
as separate arguments), unless a result form is chosen:

* ``parallel(...).sum``: the results added (strings concatenated);
* ``.asdict``: ``{stage name: result}`` (the branches must be named);
* ``.astuple`` / ``.aslist``: a plain tuple / list;
* ``.join(sep)``: the results as strings joined by ``sep``.

Branches run at once on our pool (at most 5 at a time, or ``_concurrent=n``; ``_concurrent=False`` or
``parallel.sequential(...)`` runs them in order on the calling thread). The pool carries the session,
the current span and the cancel token, so branch spans are siblings under the flow's span.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any

from .base import FlowBase
from .data import kwargs as kwargs_type
from .data import package

_MAX_CONCURRENT = 5  # LazyLLM's default number of branches running at once
_barrier: contextvars.ContextVar[threading.Barrier | None] = contextvars.ContextVar("lazystream_barrier",
                                                                                   default=None)


def barrier(args: Any) -> Any:
    """A stage that waits until every concurrent branch of the enclosing parallel reached it; returns its input."""
    b = _barrier.get()
    if b is not None:
        b.wait()
    return args


class Parallel(FlowBase):
    """Branches called on the same input at once; their results as a ``package`` in branch order.

    Args:
        *args: the branches (or one list); or by name as keywords, ``parallel(a=f, b=g)``.
        _scatter: give each branch its own part of the input (what :class:`Diverter` does).
        _concurrent: ``True``: at most 5 branches at once; an int: at most that many; ``False``: in order.
        multiprocessing: accepted for LazyLLM compatibility; branches always run on threads here.
        post_action, auto_capture, return_trace, name: as for ``pipeline``.
    """

    flow_type = "parallel"
    _FORMS = ("dict", "tuple", "list", "sum", "join")

    def __init__(self, *args: Any, _scatter: bool = False, _concurrent: bool | int = True,
                 multiprocessing: bool = False, auto_capture: bool = False, post_action: Any = None,
                 return_trace: bool = False, name: str | None = None, id: str | None = None,
                 group_id: str | None = None, **kw: Any) -> None:
        items, names = self._split_items(args, kw)
        super().__init__(*items, item_names=names, post_action=post_action, auto_capture=auto_capture,
                         return_trace=return_trace, name=name, id=id, group_id=group_id)
        if isinstance(_concurrent, bool) or _concurrent is None:
            workers = _MAX_CONCURRENT if _concurrent else 0
        elif isinstance(_concurrent, int) and _concurrent >= 0:
            workers = _concurrent
        else:
            raise ValueError(f"{self.flow_type}(_concurrent=...) is True, False or a number of branches, "
                             f"got {_concurrent!r}")
        for key, value in (("_concurrent", workers), ("_scatter", bool(_scatter)), ("_form", None),
                           ("_join_with", "")):
            object.__setattr__(self, key, value)

    @classmethod
    def sequential(cls, *args: Any, **kw: Any) -> Parallel:
        """The same flow, its branches run one after another on the calling thread."""
        return cls(*args, _concurrent=False, **kw)

    # ---- result forms ----------------------------------------------------------------------

    def _set_form(self, form: str, join_with: str = "") -> Parallel:
        if self._form is not None:
            raise ValueError(f"{self!r} already returns its results as {self._form}; choose one result form")
        object.__setattr__(self, "_form", form)
        object.__setattr__(self, "_join_with", join_with)
        return self

    @property
    def asdict(self) -> Parallel:
        """Return ``{stage name: result}``."""
        return self._set_form("dict")

    @property
    def astuple(self) -> Parallel:
        """Return a plain tuple."""
        return self._set_form("tuple")

    @property
    def aslist(self) -> Parallel:
        """Return a list."""
        return self._set_form("list")

    @property
    def sum(self) -> Parallel:
        """Return the results added together (strings concatenated)."""
        return self._set_form("sum")

    def join(self, string: str = "") -> Parallel:
        """Return the results as strings joined by ``string``."""
        if not isinstance(string, str):
            raise TypeError(f"{self.flow_type}.join() takes the separator as a str, got {type(string).__name__}")
        return self._set_form("join", string)

    def _span_attrs(self) -> dict[str, Any]:
        return {"form": self._form} if self._form else {}

    def _post_process(self, output: Any) -> Any:
        form = self._form
        if form == "dict":
            if not all(self._item_names):
                raise ValueError(f"{self.flow_type}(...).asdict needs every branch named, e.g. "
                                 f"{self.flow_type}(a=f, b=g); unnamed: {self.stage_names}")
            return dict(zip(self._item_names, output, strict=False))
        if form == "tuple":
            return tuple(output)
        if form == "list":
            return list(output)
        if form == "sum":
            if not output:
                raise ValueError(f"{self.flow_type}(...).sum has no results to add")
            if isinstance(output[0], str):
                return "".join(str(x) for x in output)
            return sum(output, type(output[0])())
        if form == "join":
            return self._join_with.join(str(x) for x in output)
        return output

    # ---- running -----------------------------------------------------------------------

    def _run(self, input: Any, _items: list[int] | None = None, *, _kept_items: Any = None,
             _skip_items: Any = None, **kw: Any) -> package:
        indices = self._chosen(_items, _kept_items, _skip_items)
        inputs = self._split_input(input, indices)
        if self._concurrent and len(indices) > 1:
            return self._run_concurrently(indices, inputs, kw)
        return package(self._call_stage(i, inp, **kw) for i, inp in zip(indices, inputs, strict=True))

    def _chosen(self, items: list[int] | None, kept: Any, skipped: Any) -> list[int]:
        """Which branches run: all, or those named / numbered in ``_kept_items`` or not in ``_skip_items``."""
        if items is not None:
            return items
        if kept is not None and skipped is not None:
            raise ValueError("give _kept_items or _skip_items, not both")
        pick = kept if kept is not None else skipped
        if pick is None:
            return list(range(len(self._items)))
        pick = pick if isinstance(pick, (list, tuple, set)) else [pick]
        chosen = [i for i, n in enumerate(self._item_names) if i in pick or (n is not None and n in pick)]
        return chosen if kept is not None else [i for i in range(len(self._items)) if i not in chosen]

    def _split_input(self, input: Any, indices: list[int]) -> list[Any]:
        if not self._scatter:
            return [input] * len(indices)
        if isinstance(input, dict) and not isinstance(input, kwargs_type):
            missing = [self._item_names[i] for i in indices if self._item_names[i] not in input]
            if missing:
                raise ValueError(f"{self.flow_type} got a dict input without the key(s) {missing}; a dict gives "
                                 f"each branch the value under its stage name")
            return [input[self._item_names[i]] for i in indices]
        if isinstance(input, package) and len(input) == 1:
            input = input[0]
        if not isinstance(input, (tuple, list)):
            raise TypeError(f"{self.flow_type} splits its input over its branches, so it takes one input per branch "
                            f"(several arguments, a tuple or a list), got {type(input).__name__} {input!r}")
        if len(input) != len(indices):
            if len(input) == len(self._items):
                return [input[i] for i in indices]
            raise ValueError(f"{self.flow_type} has {len(indices)} branch(es) but got {len(input)} input(s); "
                             f"give one input per branch")
        return list(input)

    def _run_concurrently(self, indices: list[int], inputs: list[Any], kw: dict) -> package:
        from .. import session_vars
        from ..pool import ThreadPoolExecutor
        from ..task_marks import written as _written

        # The branches are parts of this call, not top-level tasks: their futures must not wait
        # for a consumer to read what they wrote (the consumer may be this very thread, blocked
        # here). Outside a pool task, a throwaway record of writes makes them nested.
        token = _written.set({}) if _written.get() is None else None
        workers = min(self._concurrent, len(indices))
        # barrier() can only wait for branches that run at the same time
        shared = threading.Barrier(len(indices)) if workers == len(indices) else None
        try:
            with ThreadPoolExecutor(workers,
                                    thread_name_prefix=f"lazystream-{self.flow_type}") as pool:
                scope = session_vars.copied_locals()  # each branch starts from a copy of the caller's locals
                futures = [pool.submit(session_vars.in_copied_scope, scope, self._branch, shared, i, inp, kw)
                           for i, inp in zip(indices, inputs, strict=True)]
                try:
                    return package([f.result() for f in futures])
                except BaseException:
                    if shared is not None:
                        shared.abort()  # a branch waiting in barrier() must not wait forever for a failed one
                    raise
        finally:
            if token is not None:
                _written.reset(token)

    def _branch(self, shared: threading.Barrier | None, index: int, input: Any, kw: dict) -> Any:
        _barrier.set(shared)
        return self._call_stage(index, input, **kw)


class Diverter(Parallel):
    """Each branch gets its own input: ``diverter(f, g, h)(x, y, z)`` is ``(f(x), g(y), h(z))``.

    A dict input gives each named branch the value under its name.
    """

    flow_type = "diverter"

    def __init__(self, *args: Any, _concurrent: bool | int = True, auto_capture: bool = False, **kw: Any) -> None:
        super().__init__(*args, _scatter=True, _concurrent=_concurrent, auto_capture=auto_capture, **kw)


class Warp(Parallel):
    """One stage applied to each input at once: ``warp(f)(1, 2, 3)`` is ``(f(1), f(2), f(3))``.

    Several stages given are run as one pipeline per input.
    """

    flow_type = "warp"

    def __init__(self, *args: Any, _concurrent: bool | int = True, auto_capture: bool = False, **kw: Any) -> None:
        super().__init__(*args, _scatter=True, _concurrent=_concurrent, auto_capture=auto_capture, **kw)
        self._merge_stages()

    def __post_init__(self) -> None:
        self._merge_stages()

    def _merge_stages(self) -> None:
        if len(self._items) > 1:
            from .pipeline import Pipeline

            merged = Pipeline(*self._items)
            object.__setattr__(self, "_items", [merged])
            object.__setattr__(self, "_item_names", [None])
            object.__setattr__(self, "_item_ids", [merged._flow_id])
            object.__setattr__(merged, "_father", self)

    @property
    def asdict(self) -> Parallel:
        raise NotImplementedError("warp's branches have no names, so it cannot return a dict; use .aslist or .astuple")

    def _run(self, input: Any, _items: list[int] | None = None, **kw: Any) -> package:
        if len(self._items) != 1:
            raise ValueError(f"warp applies one stage to each input; it has {len(self._items)}")
        if "_skip_items" in kw or "_kept_items" in kw:
            raise ValueError("warp has one stage: _kept_items and _skip_items do not apply")
        source = input[0] if isinstance(input, package) and len(input) == 1 else input
        inputs = list(source) if isinstance(source, (list, tuple)) else [source]
        indices = [0] * len(inputs)
        if self._concurrent and len(indices) > 1:
            return self._run_concurrently(indices, inputs, kw)
        return package(self._call_stage(0, inp, **kw) for inp in inputs)
