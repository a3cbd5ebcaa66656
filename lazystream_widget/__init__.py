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

__version__ = "0.1.0"

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
    "fc_register": "lazystream_widget.runtime.tools",
    "FunctionCallAgent": "lazystream_widget.runtime.agent",
    "MaxTurnsExceeded": "lazystream_widget.runtime.agent",
    "RunCancelled": "lazystream_widget.runtime.cancel",
    "StreamView": "lazystream_widget.widget",
    "Run": "lazystream_widget.runner",
    "configure": "lazystream_widget.settings",
    "cassette": "lazystream_widget.cassettes",
    "Cassette": "lazystream_widget.cassettes",
    "CassetteError": "lazystream_widget.cassettes",
    "CassetteMismatchError": "lazystream_widget.cassettes",
    "start_run": "lazystream_widget.worker",
}

__all__ = [
    "Cassette",
    "CassetteError",
    "CassetteMismatchError",
    "FileSystemQueue",
    "FunctionCallAgent",
    "MaxTurnsExceeded",
    "ModelConfigError",
    "ModelError",
    "ModuleBase",
    "OnlineChatModule",
    "Run",
    "RunCancelled",
    "ServerStartError",
    "Session",
    "StreamView",
    "ThreadPoolExecutor",
    "TrainableModule",
    "cassette",
    "configure",
    "current_session",
    "fc_register",
    "new_session",
    "parallel",
    "pipeline",
    "session",
    "start_run",
    "__version__",
]
assert set(__all__) == set(_LAZY) | {"__version__"}  # one list, kept in step


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lazystream_widget' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for editors and type checkers only
    from .cassettes import Cassette, CassetteError, CassetteMismatchError, cassette
    from .runner import Run
    from .runtime.agent import FunctionCallAgent, MaxTurnsExceeded
    from .runtime.cancel import RunCancelled
    from .runtime.chat import ModelConfigError, ModelError, OnlineChatModule
    from .runtime.flow import parallel, pipeline
    from .runtime.module import ModuleBase
    from .runtime.pool import ThreadPoolExecutor
    from .runtime.queue import FileSystemQueue
    from .runtime.session import Session, current_session, new_session, session
    from .runtime.tools import fc_register
    from .runtime.trainable import ServerStartError, TrainableModule
    from .settings import configure
    from .widget import StreamView
    from .worker import start_run
