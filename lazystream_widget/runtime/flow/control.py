"""Branching flows: ``switch`` (the first matching case runs) and ``ifs`` (if / else).

``switch(cond1, f1, cond2, f2, ..., "default", f)`` (or ``switch({cond1: f1, ...})``, or cases added in a
block with ``sw.case[cond::f]``, ``sw.case[cond, f]`` or ``sw.case(cond, f)``) runs the first branch
whose condition matches the input: a callable condition returning exactly ``True``, a value equal to
the input, or ``"default"``. With ``judge_on_full_input=False`` the input is ``(key, value...)``: the
conditions see ``key`` and the branch gets the rest. ``conversion`` maps the judged value first. No
match returns ``None`` (as LazyLLM does). The flow's span records the branch taken (attr ``matched``).

``ifs(cond, tpath, fpath)`` runs ``tpath`` when ``cond(input)`` is true, else ``fpath``; ``cond`` may
also be a bool or take no arguments. The span records ``branch``: ``"true"`` or ``"false"``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .base import FlowBase, label_of
from .data import package


class Switch(FlowBase):
    """Runs the first branch whose condition matches the input."""

    flow_type = "switch"

    def __init__(self, *args: Any, conversion: Callable[..., Any] | None = None, post_action: Any = None,
                 judge_on_full_input: bool = True, return_trace: bool = False, name: str | None = None) -> None:
        if len(args) == 1 and isinstance(args[0], dict):
            conds, items = list(args[0].keys()), list(args[0].values())
        else:
            if len(args) % 2:
                raise TypeError(f"switch takes conditions and branches in pairs (cond1, f1, cond2, f2, ...), or one "
                                f"dict {{cond: f}}; got {len(args)} arguments")
            conds, items = list(args[0::2]), list(args[1::2])
        if conversion is not None and not callable(conversion):
            raise TypeError(f"switch(conversion=...) takes a callable, got {type(conversion).__name__}")
        super().__init__(*items, post_action=post_action, return_trace=return_trace, name=name)
        object.__setattr__(self, "conds", conds)
        object.__setattr__(self, "_judge_on_full_input", bool(judge_on_full_input))
        object.__setattr__(self, "_conversion", conversion)

    def __setattr__(self, key: str, value: Any) -> None:
        if self._capture and not key.startswith("_"):
            raise TypeError(f"a switch branch needs a condition: write sw.case[cond::{label_of(value)}] (or "
                            f"sw.case(cond, {label_of(value)})) instead of sw.{key} = ...")
        super().__setattr__(key, value)

    @property
    def case(self) -> _Case:
        """Add a case inside the ``with`` block: ``sw.case[cond::f]``, ``sw.case[cond, f]`` or ``sw.case(cond, f)``."""
        return _Case(self)

    def _add_case(self, cond: Any, func: Any) -> None:
        self._add(None, func)
        self.conds.append(cond)

    @property
    def stage_names(self) -> list[str]:
        return [f"{_show(c)} -> {n}" for c, n in zip(self.conds, super().stage_names, strict=True)]

    def _run(self, input: Any, **kw: Any) -> Any:
        exp = input
        if not self._judge_on_full_input:
            if not isinstance(input, tuple) or len(input) < 2:
                raise ValueError(f"switch(judge_on_full_input=False) takes (key, value...) to judge key and pass on "
                                 f"the rest, got {input!r}")
            exp, input = input[0], (input[1] if len(input) == 2 else input[1:])
        if self._conversion is not None:
            exp = self._conversion(*exp) if isinstance(exp, package) else self._conversion(exp)
        for index, cond in enumerate(self.conds):
            if self._matches(cond, exp):
                self._note(matched={"index": index, "condition": _show(cond), "branch": self.stage_names[index]})
                return self._call_stage(index, input, **kw)
        self._note(matched=None)
        return None

    def _matches(self, cond: Any, exp: Any) -> bool:
        if callable(cond) and self._call_control(cond, exp, role="condition") is True:
            return True
        return bool(_equal(exp, cond) or _equal(exp, package((cond,))) or _equal(cond, "default"))


def _equal(a: Any, b: Any) -> Any:
    try:
        return a == b
    except Exception:  # a value whose == raises (or is ambiguous) simply does not match
        return False


def _show(cond: Any) -> str:
    return label_of(cond) if callable(cond) else repr(cond)


class _Case:
    """``sw.case[cond::f]``, ``sw.case[cond:f]``, ``sw.case[cond, f]`` and ``sw.case(cond, f)``."""

    def __init__(self, switch: Switch) -> None:
        self._switch = switch

    def __call__(self, cond: Any, func: Any) -> None:
        self._switch._add_case(cond, func)

    def __getitem__(self, key: Any) -> None:
        if isinstance(key, slice) and key.start is not None:
            if callable(key.step) and key.stop is None:
                return self._switch._add_case(key.start, key.step)
            if key.step is None and callable(key.stop):
                return self._switch._add_case(key.start, key.stop)
        elif isinstance(key, tuple) and len(key) == 2 and callable(key[1]):
            return self._switch._add_case(key[0], key[1])
        raise TypeError(f"write a case as sw.case[cond::func], sw.case[cond:func] or sw.case[cond, func]; got {key!r}")


class IFS(FlowBase):
    """``tpath(input)`` if ``cond(input)`` is true, else ``fpath(input)``."""

    flow_type = "ifs"

    def __init__(self, cond: Any, tpath: Any, fpath: Any, post_action: Any = None, return_trace: bool = False,
                 name: str | None = None) -> None:
        super().__init__(cond, tpath, fpath, item_names=[None, None, None], post_action=post_action,
                         return_trace=return_trace, name=name)
        takes_input: bool | None = None
        if not isinstance(self._items[0], bool):
            try:
                takes_input = bool(inspect.signature(self._items[0]).parameters)
            except (TypeError, ValueError):  # a builtin without a signature: try both ways when called
                takes_input = None
        object.__setattr__(self, "_cond_with_input", takes_input)

    def _check_stage(self, name: str, stage: Any) -> None:
        if not self._items and isinstance(stage, bool):
            return  # the condition may be a constant
        super()._check_stage(name, stage)

    def _run(self, input: Any, **kw: Any) -> Any:
        cond = self._items[0]
        if isinstance(cond, bool):
            flag = cond
        elif self._cond_with_input is True:
            flag = self._call_stage(0, input, **kw)
        elif self._cond_with_input is False:
            flag = self._call_stage(0, package())
        else:
            try:
                flag = cond()
            except Exception:
                flag = self._call_stage(0, input, **kw)
        self._note(branch="true" if flag else "false")
        return self._call_stage(1 if flag else 2, input, **kw)
