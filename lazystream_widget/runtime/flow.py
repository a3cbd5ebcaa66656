"""Flows in the LazyLLM style: ``pipeline`` (stages in order) and ``parallel`` (branches at once).

Both are modules of kind ``flow``. When a flow traces, every stage appears in the
tree: a stage that is a module traces itself; a plain function gets a ``module``
span named after it. ``parallel`` runs its branches in our pool, so their spans
nest under the flow's span as siblings.

Two ways to build one::

    p = pipeline(clean, llm, format_answer)

    with pipeline() as p:
        p.clean = clean
        p.llm = llm
"""

from __future__ import annotations

from typing import Any, Callable

from .module import ModuleBase
from .trace import span


def _stage_name(stage: Any, fallback: str) -> str:
    if isinstance(stage, ModuleBase):
        return stage.name
    return getattr(stage, "__name__", None) or type(stage).__name__ or fallback


class _Flow(ModuleBase):
    kind = "flow"

    def __init__(self, *stages: Callable[..., Any], return_trace: bool = False, name: str | None = None) -> None:
        super().__init__(return_trace=return_trace, name=name)
        object.__setattr__(self, "_stages", [])
        object.__setattr__(self, "_stage_names", [])
        object.__setattr__(self, "_building", False)
        for i, stage in enumerate(stages):
            self._add(stage, _stage_name(stage, f"stage{i}"))

    def _add(self, stage: Any, name: str) -> None:
        if not callable(stage):
            raise TypeError(f"{type(self).__name__} stage {name!r} is not callable (got {type(stage).__name__})")
        self._stages.append(stage)
        self._stage_names.append(name)

    def __enter__(self) -> _Flow:
        object.__setattr__(self, "_building", True)
        return self

    def __exit__(self, *exc: Any) -> None:
        object.__setattr__(self, "_building", False)

    def __setattr__(self, key: str, value: Any) -> None:
        if not key.startswith("_") and getattr(self, "_building", False):
            self._add(value, key)
        else:
            object.__setattr__(self, key, value)

    def __len__(self) -> int:
        return len(self._stages)

    @property
    def stages(self) -> list[Any]:
        return list(self._stages)

    def _run_stage(self, index: int, *args: Any, **kwargs: Any) -> Any:
        stage, name = self._stages[index], self._stage_names[index]
        if not self.tracing() or (isinstance(stage, ModuleBase) and stage.tracing()):
            return stage(*args, **kwargs)
        kind = stage.kind if isinstance(stage, ModuleBase) else "module"
        shown = args[0] if len(args) == 1 and not kwargs else list(args)
        with span(name, kind, shown, {"stage": index}) as sp:
            out = stage(*args, **kwargs)
            sp.end(out)
        return out


class pipeline(_Flow):
    """Stages called in order, each with the previous one's result (a tuple result is spread)."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self._stages:
            raise ValueError("pipeline has no stages; pass callables: pipeline(f, g) or assign them in a with block")
        out = self._run_stage(0, *args, **kwargs)
        for i in range(1, len(self._stages)):
            out = self._run_stage(i, *out) if isinstance(out, tuple) else self._run_stage(i, out)
        return out


class parallel(_Flow):
    """Every branch called with the same input at once; returns their results as a tuple."""

    def forward(self, *args: Any, **kwargs: Any) -> tuple:
        if not self._stages:
            raise ValueError("parallel has no branches; pass callables: parallel(f, g)")
        from .pool import ThreadPoolExecutor
        from .queue import _written

        # The branches are parts of this call, not top-level tasks: their futures must not wait
        # for a consumer to read what they wrote (the consumer may be this very thread, blocked
        # here). Outside a pool task, a throwaway record of writes makes them nested.
        token = _written.set({}) if _written.get() is None else None
        try:
            with ThreadPoolExecutor(len(self._stages), thread_name_prefix="lazystream-parallel") as pool:
                futures = [pool.submit(self._run_stage, i, *args, **kwargs) for i in range(len(self._stages))]
                return tuple(f.result() for f in futures)
        finally:
            if token is not None:
                _written.reset(token)
