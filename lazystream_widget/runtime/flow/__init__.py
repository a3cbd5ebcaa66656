"""LazyLLM's flows, traced: every flow and every stage is a span in the run's tree.

* building and calling: :mod:`.base` (stages, ``with`` blocks, nesting, spans);
* what travels between stages: :mod:`.data` (``package``, ``kwargs``, ``arguments``);
* arguments chosen at build time: :mod:`.bind` (``bind``, ``_0``..``_9``, ``p.input``, ``p.output``);
* the flows: :mod:`.pipeline` (``pipeline``, ``loop``), :mod:`.parallel` (``parallel``, ``diverter``,
  ``warp``), :mod:`.control` (``switch``, ``ifs``), :mod:`.graph` (``graph``);
* :mod:`.action`: ``ActionModule``, a module around a flow.

The lower-case names are LazyLLM's spelling (``lazyllm.pipeline is lazyllm.flow.Pipeline``).
"""

from .action import ActionModule
from .base import FlowBase
from .bind import BindError, Placeholder, Reference, _0, _1, _2, _3, _4, _5, _6, _7, _8, _9, bind
from .control import IFS, Switch
from .data import Identity, arguments, kwargs, package
from .graph import Graph
from .parallel import Diverter, Parallel, Warp, barrier
from .pipeline import Loop, Pipeline, save_pipeline_result

LazyLLMFlowsBase = FlowBase
pipeline = Pipeline
parallel = Parallel
diverter = Diverter
warp = Warp
switch = Switch
ifs = IFS
loop = Loop
graph = Graph

__all__ = [
    "IFS", "ActionModule", "BindError", "Diverter", "FlowBase", "Graph", "Identity", "LazyLLMFlowsBase", "Loop",
    "Parallel", "Pipeline", "Placeholder", "Reference", "Switch", "Warp",
    "_0", "_1", "_2", "_3", "_4", "_5", "_6", "_7", "_8", "_9",
    "arguments", "barrier", "bind", "diverter", "graph", "ifs", "kwargs", "loop", "package", "parallel",
    "pipeline", "save_pipeline_result", "switch", "warp",
]
