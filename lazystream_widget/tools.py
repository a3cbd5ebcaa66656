"""LazyLLM's ``lazyllm.tools`` namespace: ``from lazystream_widget.tools import fc_register, ReactAgent, ...``.

Agents: ``FunctionCallAgent`` (the seed's), ``ReactAgent`` and ``PlanAndSolveAgent`` (the ones LazyLLM 1.4.0
recommends), all over our chat modules and ``@fc_register`` tools, streaming and traced.
"""

from .runtime.agent import FunctionCallAgent, MaxTurnsExceeded
from .runtime.plan_solve import PlanAndSolveAgent
from .runtime.react import ReactAgent
from .runtime.tool_registry import REGISTRY, fc_register, register
from .runtime.tools import ToolArgumentError, ToolSchemaError, ToolSpec, UnknownToolError

__all__ = [
    "REGISTRY",
    "FunctionCallAgent",
    "MaxTurnsExceeded",
    "PlanAndSolveAgent",
    "ReactAgent",
    "ToolArgumentError",
    "ToolSchemaError",
    "ToolSpec",
    "UnknownToolError",
    "fc_register",
    "register",
]
