"""``ActionModule``: a module around a flow (or around stages, made into a pipeline)."""

from __future__ import annotations

from typing import Any

from ..module import ModuleBase
from .base import FlowBase
from .bind import unbound
from .pipeline import Pipeline


class ActionModule(ModuleBase):
    """Wraps callables as one module: ``ActionModule(f, g)`` runs ``pipeline(f, g)``; one flow is used as is.

    Args:
        *action: one flow, or the stages of a pipeline (also given as one list).
        return_trace: write a span for each call (with the flow's spans under it).
    """

    def __init__(self, *action: Any, return_trace: bool = False, name: str | None = None) -> None:
        super().__init__(return_trace=return_trace, name=name)
        if len(action) == 1 and isinstance(action[0], (list, tuple)):
            action = tuple(action[0])
        if not action:
            raise TypeError("ActionModule needs something to run: a flow, or the stages of a pipeline")
        if len(action) == 1 and isinstance(unbound(action[0]), FlowBase):
            self.action = action[0]
        else:
            self.action = Pipeline(*action)

    def forward(self, *args: Any, **kw: Any) -> Any:
        return self.action(*args, **kw)

    def start(self) -> ActionModule:
        """Start the modules inside that need starting (a ``TrainableModule``'s server). Returns self."""
        target = unbound(self.action)
        if isinstance(target, FlowBase):
            target.start()
        return self

    @property
    def submodules(self) -> list[ModuleBase]:
        """The modules inside the wrapped flow (nested flows searched too)."""
        found: list[ModuleBase] = []
        target = unbound(self.action)
        if isinstance(target, FlowBase):
            target.for_each(lambda x: isinstance(unbound(x), ModuleBase), lambda x: found.append(unbound(x)))
        return found

    def __repr__(self) -> str:
        return f"<ActionModule {self.name!r} {self.action!r}>"
