"""The seed's ``lazyllm.tools`` namespace: ``from lazystream_widget.tools import fc_register, FunctionCallAgent``."""

from .runtime.agent import FunctionCallAgent, MaxTurnsExceeded
from .runtime.tools import REGISTRY, ToolArgumentError, ToolSchemaError, ToolSpec, UnknownToolError, fc_register

__all__ = [
    "REGISTRY",
    "FunctionCallAgent",
    "MaxTurnsExceeded",
    "ToolArgumentError",
    "ToolSchemaError",
    "ToolSpec",
    "UnknownToolError",
    "fc_register",
]
