"""LazyLLM's ``lazyllm.flow`` namespace: ``from lazystream_widget.flow import pipeline, parallel, ...``.

The flows live in :mod:`lazystream_widget.runtime.flow`; see ``docs/flows.md``.
"""

from .runtime.flow import (
    IFS,
    Diverter,
    FlowBase,
    Graph,
    LazyLLMFlowsBase,
    Loop,
    Parallel,
    Pipeline,
    Switch,
    Warp,
    barrier,
    diverter,
    graph,
    ifs,
    loop,
    parallel,
    pipeline,
    save_pipeline_result,
    switch,
    warp,
)

__all__ = [
    "IFS",
    "Diverter",
    "FlowBase",
    "Graph",
    "LazyLLMFlowsBase",
    "Loop",
    "Parallel",
    "Pipeline",
    "Switch",
    "Warp",
    "barrier",
    "diverter",
    "graph",
    "ifs",
    "loop",
    "parallel",
    "pipeline",
    "save_pipeline_result",
    "switch",
    "warp",
]
