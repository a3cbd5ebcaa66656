"""LazyLLM's ``lazyllm.module`` namespace: ``from lazystream_widget.module import ModuleBase, ActionModule, ...``."""

from .runtime.chat import OnlineChatModule
from .runtime.flow import ActionModule
from .runtime.module import ModuleBase
from .runtime.trainable import TrainableModule

__all__ = ["ActionModule", "ModuleBase", "OnlineChatModule", "TrainableModule"]
