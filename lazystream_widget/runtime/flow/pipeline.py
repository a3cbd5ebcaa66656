"""``pipeline`` (stages in order) and ``loop`` (a pipeline run again until a condition or a count).

``pipeline(f, g, h)(x)`` is ``h(g(f(x)))``, with LazyLLM's argument rules (a ``package`` result is spread
over the next stage). Keyword arguments of the call go to the first stage only. An empty pipeline
returns its input.

``loop(f, g, stop_condition=cond, count=n)`` runs its stages again and again on their own output
until ``cond(output)`` is true or ``n`` passes were made. With ``judge_on_full_input=False`` the
stages return ``(flag, value...)``: the condition sees ``flag`` and the next pass gets the rest.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .base import FlowBase, label_of
from .bind import Reference, pipeline_frame
from .data import package


class Pipeline(FlowBase):
    """Stages called in order, each on the previous one's result.

    Args:
        *args: the stages (or one list of them); or give them by name as keywords, ``pipeline(a=f, b=g)``.
        post_action: called with the result after the last stage (its return value is ignored).
        auto_capture: in a ``with`` block, add every callable assigned to a new local variable as a stage.
        save_result: accepted for LazyLLM compatibility; references to a pipeline's values work anywhere
            inside it without it.
        return_trace: write a ``flow`` span and one span per stage (a widget run traces every flow anyway).
        name: the flow's span name (default ``"pipeline"``).
    """

    flow_type = "pipeline"

    def __init__(self, *args: Any, post_action: Any = None, auto_capture: bool = False, save_result: bool | None = None,
                 return_trace: bool = False, name: str | None = None, id: str | None = None,
                 group_id: str | None = None, **kw: Any) -> None:
        items, names = self._split_items(args, kw)
        super().__init__(*items, item_names=names, post_action=post_action, auto_capture=auto_capture,
                         return_trace=return_trace, name=name, id=id, group_id=group_id)
        object.__setattr__(self, "save_flow_result", save_result)

    # ---- references for bind ---------------------------------------------------------------

    @property
    def input(self) -> Reference:
        """The input of this pipeline's current call (``p.input["key"]`` and ``p.input.attr`` reach into it)."""
        return Reference(self._flow_id, self.name, "input")

    @property
    def kwargs(self) -> Reference:
        """The keyword arguments of this pipeline's current call."""
        return Reference(self._flow_id, self.name, "kwargs")

    def output(self, module: Any, unpack: bool = False) -> Reference:
        """The output of stage ``module`` (its name or the stage itself) in this pipeline's current call.

        ``unpack=True`` spreads a ``package`` output over several arguments of the bound call.
        """
        if isinstance(module, str):
            return Reference(self._flow_id, self.name, module, module, unpack=unpack)
        index = self._index_of(module)
        label = self._item_names[index] or label_of(self._items[index])
        return Reference(self._flow_id, self.name, self._item_ids[index], label, unpack=unpack)

    def _stage_ref(self, obj: Any) -> Reference | None:
        try:
            return self.output(obj)
        except ValueError:
            return None

    # ---- running ---------------------------------------------------------------------------

    def _run(self, input: Any, **kw: Any) -> Any:
        values: dict[str, Any] = {"input": input, "kwargs": dict(kw)}
        with pipeline_frame(self._flow_id, values):
            return self._passes(input, kw, values)

    def _passes(self, input: Any, kw: dict, values: dict[str, Any]) -> Any:
        return self._one_pass(input, kw, values)

    def _one_pass(self, output: Any, kw: dict, values: dict[str, Any]) -> Any:
        for i in range(len(self._items)):
            output = self._call_stage(i, output, **kw)
            kw = {}  # the call's keyword arguments go to the first stage only
            values[self._item_ids[i]] = output
        return output


class Loop(Pipeline):
    """A pipeline run repeatedly on its own output.

    Args:
        *item: the stages of one pass (or give them by name as keywords).
        stop_condition: called on each pass's output; the loop ends when it returns something true.
        count: the most passes (default: no limit but the stop condition). LazyLLM requires ``count > 1``;
            here ``count=1`` is one pass.
        judge_on_full_input: ``False``: each pass returns ``(flag, value...)``, the condition sees ``flag``
            and the next pass (or the caller) gets ``value...``.
        on_limit: called as ``on_limit(output, passes, count)`` when ``count`` passes ran without the
            condition being met; returning a larger int allows more passes in this call.
        post_action, auto_capture, return_trace, name: as for :class:`Pipeline`.
    """

    flow_type = "loop"

    def __init__(self, *item: Any, stop_condition: Any = None, count: int = sys.maxsize, post_action: Any = None,
                 auto_capture: bool = False, judge_on_full_input: bool = True, on_limit: Any = None,
                 return_trace: bool = False, name: str | None = None, **kw: Any) -> None:
        if stop_condition is not None and not callable(stop_condition):
            raise TypeError(f"loop(stop_condition=...) takes a callable or None, got {type(stop_condition).__name__}")
        if on_limit is not None and not callable(on_limit):
            raise TypeError(f"loop(on_limit=...) takes a callable or None, got {type(on_limit).__name__}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"loop(count=...) is the most passes, an int >= 1; got {count!r}")
        super().__init__(*item, post_action=post_action, auto_capture=auto_capture, return_trace=return_trace,
                         name=name, **kw)
        for key, value in (("_stop_condition", stop_condition), ("_count", count),
                           ("_judge_on_full_input", bool(judge_on_full_input)), ("_on_limit", on_limit)):
            object.__setattr__(self, key, value)

    def _span_attrs(self) -> dict[str, Any]:
        return {"count": self._count} if self._count != sys.maxsize else {}

    def _passes(self, input: Any, kw: dict, values: dict[str, Any]) -> Any:
        output, limit, passes = input, self._count, 0
        while passes < limit:
            passes += 1
            output = self._one_pass(output, kw, values)
            kw = {}
            flag = output
            if not self._judge_on_full_input:
                if not isinstance(output, tuple) or len(output) < 2:
                    raise ValueError(f"loop(judge_on_full_input=False) needs each pass to return (flag, value...), "
                                     f"got {output!r}")
                flag, output = output[0], output[1:]
            if self._stop_condition is not None and self._call_control(self._stop_condition, flag,
                                                                       role="stop_condition"):
                break
            if passes == limit and self._on_limit is not None:
                more = self._call_control(self._on_limit, package(output, passes, limit), role="on_limit")
                if isinstance(more, int) and not isinstance(more, bool) and more > limit:
                    limit = more
        self._note(passes=passes)
        return output


@contextmanager
def save_pipeline_result(flag: bool = True) -> Iterator[None]:
    """LazyLLM's switch for references from nested flows; here they always work, so this does nothing."""
    yield
