"""What every flow shares: how it is built, how it calls a stage, and the spans it writes.

Building, as in LazyLLM::

    p = pipeline(f, g)                  # stages in order
    p = pipeline(retrieve=f, answer=g)  # named stages: p.retrieve, p.answer
    with pipeline() as p:               # the same, in a block
        p.retrieve = f
        with parallel() as p.search:    # a flow nested in place...
            p.search.web = web
            p.search.docs = docs
        with parallel() as side:        # ...or under a local name: added to p as stage "side"
            side.a = a

A class given as a stage is instantiated. Stage names are unique within a flow; once its block is
closed a flow's stages are fixed.

Tracing: a flow that traces (``return_trace=True``, or any flow in a widget run) writes a ``flow``
span (attrs ``flow``: its type, ``stages``: its stage names) and traces everything it calls, so each
stage is a span under it with its input, output and time (attrs ``stage``: its name, ``index``). A
stage that is a module is that module's own span, named after the stage. A stage that raises ends
its span and every enclosing flow's span with the exception; the exception itself propagates
unchanged, with a note saying in which stage of which flow it happened.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
import uuid
from typing import Any, Callable, Iterator

from .. import cancel
from ..module import ModuleBase, as_stage, describe_input
from ..trace import Span, _trace_all, current_span, set_trace_everything, span
from .bind import bind, unbound
from .data import pack_call_args, spread

#: Keyword names a flow's constructor reserves; every other keyword is a named stage.
RESERVED = ("post_action", "auto_capture", "return_trace", "name", "id", "group_id")

_building = threading.local()  # flows whose ``with`` block is open in this thread, innermost last
#: (flow, its span) of the flow call running in this context, when it traces
_flow_span: contextvars.ContextVar[tuple[Any, Span] | None] = contextvars.ContextVar("lazystream_flow_span",
                                                                                     default=None)


def _stack() -> list[FlowBase]:
    stack = getattr(_building, "stack", None)
    if stack is None:
        stack = _building.stack = []
    return stack


def label_of(stage: Any) -> str:
    """A readable name for an unnamed stage: a module's name, a function's ``__name__``, else its type.

    A module that took its name from a stage of some flow (``p.summary = llm``: LazyLLM's naming rule)
    is labelled by its type where it runs as an unnamed stage: a shared model used in two parallel
    branches and later as ``p.summary`` must not show as "summary" in the branches."""
    target = unbound(stage)
    if isinstance(target, ModuleBase):
        return _unstaged_name(target) if _named_by_a_stage(target) else target.name
    name = getattr(target, "__name__", None)
    if isinstance(name, str) and name:
        return "lambda" if name == "<lambda>" else name
    return type(target).__name__


def _named_by_a_stage(module: ModuleBase) -> bool:
    """Is the module's name the one a flow gave it (``p.summary = llm``), not one of its own?"""
    given = module.__dict__.get("_named_as_stage")
    return given is not None and given == module._name


def _unstaged_name(module: ModuleBase) -> str:
    """The name a module has apart from a stage's: its model for a model, else its type."""
    model = getattr(module, "model", None)
    return model if isinstance(model, str) and model else type(module).__name__


class FlowBase(ModuleBase):
    """A module made of stages. Subclasses implement ``_run(input, **kw)``."""

    kind = "flow"
    #: the flow's type, shown in spans and reprs ("pipeline", "parallel", ...)
    flow_type = "flow"
    _capture = False  # stages may be added (in the constructor or in the with block)

    def __init__(self, *items: Any, item_names: list[str | None] | None = None, post_action: Any = None,
                 auto_capture: bool = False, return_trace: bool = False, name: str | None = None,
                 id: str | None = None, group_id: str | None = None) -> None:
        super().__init__(return_trace=return_trace, name=name)
        for key, value in (("_items", []), ("_item_names", []), ("_item_ids", []), ("_father", None),
                           ("_auto_capture", bool(auto_capture)), ("_curr_frame", None), ("_frame_keys", None),
                           ("_auto_registered", False), ("_flow_id", id or uuid.uuid4().hex),
                           ("_group_id", group_id)):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "_capture", True)
        try:
            names = list(item_names) if item_names else [None] * len(items)
            for stage_name, stage in zip(names, items, strict=True):
                self._add(stage_name, stage)
        finally:
            object.__setattr__(self, "_capture", False)
        object.__setattr__(self, "post_action", post_action() if isinstance(post_action, type) else post_action)
        if post_action is not None and not callable(self.post_action):
            raise TypeError(f"{self.flow_type}(post_action=...) takes a callable, got {type(post_action).__name__}")

    @staticmethod
    def _split_items(args: tuple, kw: dict) -> tuple[tuple, list[str | None] | None]:
        """Stages given positionally, as one list, or by name (LazyLLM allows one form per call)."""
        if args and kw:
            raise TypeError(f"give a flow's stages either positionally or by name, not both (got {len(args)} "
                            f"positional and the named {sorted(kw)})")
        if len(args) == 1 and isinstance(args[0], (list, tuple)) and not isinstance(args[0], type):
            args = tuple(args[0])
        if kw:
            return tuple(kw.values()), list(kw)
        return args, None

    # ---- building -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name or self.flow_type

    @name.setter
    def name(self, name: str | None) -> None:
        object.__setattr__(self, "_name", name)

    def _check_stage(self, name: str, stage: Any) -> None:
        if not callable(stage):
            raise TypeError(f"{self.flow_type} stage {name!r} is not callable (got {type(stage).__name__} "
                            f"{stage!r}); a stage is a function, a module, a flow or a class to instantiate")

    def _add(self, name: str | None, stage: Any) -> None:
        if not self._capture:
            raise RuntimeError(f"cannot add a stage to {self!r} now: stages are given to its constructor or "
                               f"assigned inside its `with` block")
        if isinstance(stage, type):
            stage = stage()  # LazyLLM instantiates a class given as a stage
        if name is not None:
            if not isinstance(name, str) or not name:
                raise TypeError(f"a stage name is a non-empty str, got {name!r}")
            if name in self._item_names:
                raise ValueError(f"{self.flow_type} already has a stage named {name!r}; stage names are unique")
        self._check_stage(name or label_of(stage), stage)
        self._items.append(stage)
        self._item_names.append(name)
        self._item_ids.append(name or uuid.uuid4().hex)
        inner = unbound(stage)
        if isinstance(inner, FlowBase):
            object.__setattr__(inner, "_father", self)
        elif name and isinstance(inner, ModuleBase) and inner._name is None:
            inner._name = name  # LazyLLM names an unnamed module after the stage it is assigned to
            object.__setattr__(inner, "_named_as_stage", name)  # ... a name of that stage, not of the module

    def __setattr__(self, key: str, value: Any) -> None:
        if self._capture and not key.startswith("_"):
            self._register_in_parent()
            self._add(key, value)
        elif key in self.__dict__.get("_item_names", ()):
            raise RuntimeError(f"stage {key!r} of {self!r} can only be set inside its `with` block")
        else:
            object.__setattr__(self, key, value)

    def __getattr__(self, key: str) -> Any:
        names = self.__dict__.get("_item_names")
        if names is not None and key in names:
            return self._items[names.index(key)]
        known = [n for n in (names or ()) if n]
        raise AttributeError(f"{type(self).__name__} object has no attribute {key!r}"
                             + (f" (its named stages: {known})" if known else ""))

    def __enter__(self) -> FlowBase:
        frame = inspect.currentframe()
        return self._enter_from(frame.f_back if frame is not None else None)

    def _enter_from(self, frame: Any) -> FlowBase:
        if self._items:
            raise ValueError(f"{self!r} already has stages from its constructor; build a flow either from its "
                             f"constructor or in a `with` block, not both")
        object.__setattr__(self, "_curr_frame", frame)
        if self._auto_capture and frame is not None:
            object.__setattr__(self, "_frame_keys", set(frame.f_locals))
        object.__setattr__(self, "_capture", True)
        _stack().append(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        try:
            if self._auto_capture and exc_type is None and self._curr_frame is not None:
                for var, value in dict(self._curr_frame.f_locals).items():
                    if var not in self._frame_keys and unbound(value) is not self and callable(value):
                        self._add(var, value)
        finally:
            stack = _stack()
            if stack and stack[-1] is self:
                stack.pop()
            object.__setattr__(self, "_capture", False)
            object.__setattr__(self, "_curr_frame", None)  # no frame kept alive after the block
            object.__setattr__(self, "_frame_keys", None)
        if exc_type is None:
            self.__post_init__()
        return False

    def __post_init__(self) -> None:
        """Called when the ``with`` block closes (subclasses finish their set-up here)."""

    def _register_in_parent(self) -> None:
        """``with parallel() as inner:`` inside ``with pipeline() as outer:``: ``inner`` becomes outer's stage.

        Done at the first stage assignment (as LazyLLM does), so the stages keep their written order.
        """
        if self._auto_registered:
            return
        object.__setattr__(self, "_auto_registered", True)
        stack = _stack()
        if len(stack) < 2 or stack[-1] is not self or self._curr_frame is None:
            return
        parent = stack[-2]
        if parent._curr_frame is not self._curr_frame:  # only blocks written in the same function
            return
        for key, value in dict(self._curr_frame.f_locals).items():
            if unbound(value) is self:
                if key not in parent._item_names and all(unbound(s) is not self for s in parent._items):
                    parent._add(key, value)
                return

    def __iter__(self) -> Iterator[FlowBase]:
        # LazyLLM's `with pipeline() as (outer.name, name):` binds both targets to the flow
        return iter([self, self])

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return True  # an empty flow is still a flow (len() would make it falsy)

    @property
    def stages(self) -> list[Any]:
        return list(self._items)

    @property
    def stage_names(self) -> list[str]:
        """Every stage's name: its given name, else a readable label (function or module name)."""
        return [n or label_of(s) for n, s in zip(self._item_names, self._items, strict=True)]

    def id(self, module: Any = None) -> str:
        """The flow's id, or the id of one of its stages (its name, or a generated one)."""
        if isinstance(module, str):
            return module
        if module is None:
            return self._flow_id
        return self._item_ids[self._index_of(module)]

    def _index_of(self, stage: Any) -> int:
        for i, s in enumerate(self._items):
            if s is stage or unbound(s) is stage:
                return i
        raise ValueError(f"{stage!r} is not a stage of {self!r}")

    @property
    def is_root(self) -> bool:
        return self._father is None

    @property
    def ancestor(self) -> FlowBase:
        return self if self._father is None else self._father.ancestor

    def for_each(self, filter: Callable[[Any], bool], action: Callable[[Any], Any]) -> None:
        """Apply ``action`` to every stage (nested flows recursively) for which ``filter`` is true."""
        for item in self._items:
            inner = unbound(item)
            if isinstance(inner, FlowBase):
                inner.for_each(filter, action)
            elif filter(item):
                action(item)

    def bind(self, *args: Any, **kw: Any) -> bind:
        """This flow with bound arguments (see :class:`bind`)."""
        return bind(self, *args, **kw)

    def start(self) -> FlowBase:
        """Start the modules among the stages (nested flows included) that need starting, e.g. a
        ``TrainableModule``'s server, as LazyLLM's ``flow.start()`` deploys them. Returns the flow."""
        self.for_each(_startable, lambda stage: unbound(stage).start())
        return self

    def __repr__(self) -> str:
        inner = ", ".join(self._stage_repr(i) for i in range(len(self._items)))
        named = f" {self._name!r}" if self._name else ""
        return f"<{self.flow_type}{named} [{inner}]>"

    def _stage_repr(self, i: int) -> str:
        stage, name = self._items[i], self._item_names[i]
        inner = unbound(stage)
        shown = repr(inner) if isinstance(inner, FlowBase) else label_of(stage)
        return f"{name}={shown}" if name else shown

    # ---- calling ---------------------------------------------------------------------

    def __call__(self, *args: Any, **kw: Any) -> Any:
        input = pack_call_args(args)
        if not self.tracing():
            return self._call(input, kw)
        attrs = {"flow": self.flow_type, "stages": self.stage_names, **self._span_attrs()}
        return self.traced(self._traced_call, input, input, kw, _attrs=attrs)

    def _span_attrs(self) -> dict[str, Any]:
        return {}

    def _traced_call(self, input: Any, kw: dict) -> Any:
        # Everything this flow calls traces too, so the tree shows the flow's whole structure.
        token = set_trace_everything(True)
        span_token = _flow_span.set((self, current_span()))
        try:
            return self._call(input, kw)
        finally:
            _flow_span.reset(span_token)
            _trace_all.reset(token)

    def _call(self, input: Any, kw: dict) -> Any:
        output = self._run(input, **kw)
        if self.post_action is not None:
            self._call_control(self.post_action, output, role="post_action")
        return self._post_process(output)

    def _run(self, input: Any, **kw: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _run(input, **kw)")

    def _post_process(self, output: Any) -> Any:
        return output

    def _flow_span_now(self) -> Span | None:
        """This flow's span in the current call, if it traces."""
        current = _flow_span.get()
        return current[1] if current is not None and current[0] is self else None

    def _note(self, **attrs: Any) -> None:
        """Record something about this call (e.g. the branch a switch took) on the flow's span."""
        sp = self._flow_span_now()
        if sp is not None:
            sp.attrs.update(attrs)

    def _stage_ref(self, obj: Any) -> Any:
        """A reference to the output of stage ``obj`` when ``bind`` is given the stage itself (pipelines)."""
        return None

    def _call_stage(self, index: int, input: Any, **kw: Any) -> Any:
        """Call stage ``index`` on ``input``, spread as LazyLLM does, in its span; a failure notes where it was."""
        stage = self._items[index]
        name = self._item_names[index]
        label = name or label_of(stage)
        cancel.check_cancelled()
        try:
            args, kwargs = spread(input, into_flow=isinstance(unbound(stage), FlowBase))
            if isinstance(stage, bind):
                fn, args, kwargs = stage.resolve(args, {**kwargs, **kw}, self._stage_ref)
            else:
                fn = stage
                if kw:
                    kwargs = {**kwargs, **kw}
            return self._traced_stage(fn, args, kwargs, name, label, {"index": index})
        except Exception as exc:
            _note_exception(exc, f"in stage {label!r} of {self._described()}")
            raise

    def _call_control(self, fn: Any, input: Any, role: str, **kw: Any) -> Any:
        """Call a condition or post action (not a stage) on ``input``, spread like a stage's input."""
        args, kwargs = spread(input, into_flow=isinstance(unbound(fn), FlowBase))
        if isinstance(fn, bind):
            fn, args, kwargs = fn.resolve(args, {**kwargs, **kw}, self._stage_ref)
        elif kw:
            kwargs = {**kwargs, **kw}
        try:
            return self._traced_stage(fn, args, kwargs, None, label_of(fn), {"role": role})
        except Exception as exc:
            _note_exception(exc, f"in the {role} of {self._described()}")
            raise

    def _described(self) -> str:
        """``pipeline 'retrieve'`` (its own name, else its stage name in the flow around it) or ``a pipeline``."""
        name = self._name
        if name is None and self._father is not None:
            for stage, stage_name in zip(self._father._items, self._father._item_names, strict=True):
                if unbound(stage) is self:
                    name = stage_name
        return f"{self.flow_type} {name!r}" if name else f"a {self.flow_type}"

    def _traced_stage(self, fn: Any, args: tuple, kwargs: dict, name: str | None, label: str,
                      extra: dict[str, Any]) -> Any:
        if not self.tracing():
            return fn(*args, **kwargs)
        attrs = {"stage": label, **extra}
        if isinstance(fn, ModuleBase) and fn.tracing():
            # the module's own span is the stage's span, named after the stage it runs in
            with as_stage(name or (label if _named_by_a_stage(fn) else None), attrs):
                return fn(*args, **kwargs)
        with span(label, "module", describe_input(args, kwargs), attrs) as sp:
            out = fn(*args, **kwargs)
            sp.end(out)
        return out


def _startable(stage: Any) -> bool:
    target = unbound(stage)
    return isinstance(target, ModuleBase) and callable(getattr(target, "start", None))


def _note_exception(exc: BaseException, where: str) -> None:
    """Say on the exception where in the flows it happened (one line per flow level, innermost first)."""
    if hasattr(exc, "add_note"):  # Python 3.11+
        notes = getattr(exc, "__notes__", [])
        if where not in notes:
            exc.add_note(where)
