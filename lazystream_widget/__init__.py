"""lazystream-widget: live streaming answers and trace trees for LLM agents in Jupyter.

The seed's API (LazyLLM's "Stream" page) works with only the import changed::

    import lazystream_widget as lazyllm
    from lazystream_widget.tools import fc_register, FunctionCallAgent

Names are imported on first use, so ``import lazystream_widget`` stays fast
(no ``openai``, ``ipywidgets`` or ``anywidget`` until you need them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0.dev0"  # 0.1.0 is released; see CHANGELOG.md, "Unreleased"

# public name -> module that defines it
_LAZY = {
    "FileSystemQueue": "lazystream_widget.runtime.queue",
    "ThreadPoolExecutor": "lazystream_widget.runtime.pool",
    "Session": "lazystream_widget.runtime.session",
    "session": "lazystream_widget.runtime.session",
    "new_session": "lazystream_widget.runtime.session",
    "current_session": "lazystream_widget.runtime.session",
    "ModuleBase": "lazystream_widget.runtime.module",
    "OnlineChatModule": "lazystream_widget.runtime.chat",
    "ModelConfigError": "lazystream_widget.runtime.chat",
    "ModelError": "lazystream_widget.runtime.chat",
    "TrainableModule": "lazystream_widget.runtime.trainable",
    "ServerStartError": "lazystream_widget.runtime.trainable",
    "pipeline": "lazystream_widget.runtime.flow",
    "parallel": "lazystream_widget.runtime.flow",
    "diverter": "lazystream_widget.runtime.flow",
    "warp": "lazystream_widget.runtime.flow",
    "switch": "lazystream_widget.runtime.flow",
    "ifs": "lazystream_widget.runtime.flow",
    "loop": "lazystream_widget.runtime.flow",
    "graph": "lazystream_widget.runtime.flow",
    "barrier": "lazystream_widget.runtime.flow",
    "save_pipeline_result": "lazystream_widget.runtime.flow",
    "FlowBase": "lazystream_widget.runtime.flow",
    "LazyLLMFlowsBase": "lazystream_widget.runtime.flow",
    "ActionModule": "lazystream_widget.runtime.flow",
    "Identity": "lazystream_widget.runtime.flow",
    "bind": "lazystream_widget.runtime.flow",
    "Placeholder": "lazystream_widget.runtime.flow",
    **{f"_{i}": "lazystream_widget.runtime.flow" for i in range(10)},
    "package": "lazystream_widget.runtime.flow",
    "kwargs": "lazystream_widget.runtime.flow",
    "arguments": "lazystream_widget.runtime.flow",
    "globals": "lazystream_widget.runtime.session_vars",
    "locals": "lazystream_widget.runtime.session_vars",
    "init_session": "lazystream_widget.runtime.session_vars",
    "teardown_session": "lazystream_widget.runtime.session_vars",
    "Thread": "lazystream_widget.runtime.thread",
    "fc_register": "lazystream_widget.runtime.tool_registry",
    "FunctionCallAgent": "lazystream_widget.runtime.agent",
    "ReactAgent": "lazystream_widget.runtime.react",
    "PlanAndSolveAgent": "lazystream_widget.runtime.plan_solve",
    "MaxTurnsExceeded": "lazystream_widget.runtime.agent",
    "RunCancelled": "lazystream_widget.runtime.cancel",
    "StreamView": "lazystream_widget.widget",
    "StreamConsole": "lazystream_widget.console",
    "Run": "lazystream_widget.runner",
    "configure": "lazystream_widget.settings",
    "cassette": "lazystream_widget.cassettes",
    "Cassette": "lazystream_widget.cassettes",
    "CassetteError": "lazystream_widget.cassettes",
    "CassetteMismatchError": "lazystream_widget.cassettes",
    "start_run": "lazystream_widget.worker",
}

__all__ = [
    "ActionModule",
    "Cassette",
    "CassetteError",
    "CassetteMismatchError",
    "FileSystemQueue",
    "FlowBase",
    "FunctionCallAgent",
    "Identity",
    "LazyLLMFlowsBase",
    "MaxTurnsExceeded",
    "ModelConfigError",
    "ModelError",
    "ModuleBase",
    "OnlineChatModule",
    "Placeholder",
    "PlanAndSolveAgent",
    "ReactAgent",
    "Run",
    "RunCancelled",
    "ServerStartError",
    "Session",
    "StreamConsole",
    "StreamView",
    "Thread",
    "ThreadPoolExecutor",
    "TrainableModule",
    "_0",
    "_1",
    "_2",
    "_3",
    "_4",
    "_5",
    "_6",
    "_7",
    "_8",
    "_9",
    "arguments",
    "barrier",
    "bind",
    "cassette",
    "configure",
    "current_session",
    "diverter",
    "fc_register",
    "globals",
    "graph",
    "ifs",
    "init_session",
    "kwargs",
    "locals",
    "loop",
    "new_session",
    "package",
    "parallel",
    "pipeline",
    "save_pipeline_result",
    "session",
    "start_run",
    "switch",
    "teardown_session",
    "warp",
    "__version__",
]
#: submodules reachable as attributes without importing them first, as in LazyLLM (lazyllm.flow, lazyllm.tools...)
_SUBMODULES = ("flow", "module", "tools")
assert set(__all__) == set(_LAZY) | {"__version__"}  # one list, kept in step
_namespace = globals()  # `globals` itself becomes LazyLLM's per-session values once looked up


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lazystream_widget' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    _namespace[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for editors and type checkers only
    from .cassettes import Cassette, CassetteError, CassetteMismatchError, cassette
    from .console import StreamConsole
    from .runner import Run
    from .runtime.agent import FunctionCallAgent, MaxTurnsExceeded
    from .runtime.cancel import RunCancelled
    from .runtime.chat import ModelConfigError, ModelError, OnlineChatModule
    from .runtime.flow import (
        ActionModule,
        FlowBase,
        Identity,
        LazyLLMFlowsBase,
        Placeholder,
        _0,
        _1,
        _2,
        _3,
        _4,
        _5,
        _6,
        _7,
        _8,
        _9,
        arguments,
        barrier,
        bind,
        diverter,
        graph,
        ifs,
        kwargs,
        loop,
        package,
        parallel,
        pipeline,
        save_pipeline_result,
        switch,
        warp,
    )
    from .runtime.module import ModuleBase
    from .runtime.plan_solve import PlanAndSolveAgent
    from .runtime.pool import ThreadPoolExecutor
    from .runtime.queue import FileSystemQueue
    from .runtime.react import ReactAgent
    from .runtime.session import Session, current_session, new_session, session
    from .runtime.session_vars import globals, init_session, locals, teardown_session
    from .runtime.thread import Thread
    from .runtime.tool_registry import fc_register
    from .runtime.trainable import ServerStartError, TrainableModule
    from .settings import configure
    from .widget import StreamView
    from .worker import start_run
