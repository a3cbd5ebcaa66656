"""``graph``: named nodes and the edges between them, run as a DAG.

::

    with graph() as g:
        g.search = search
        g.lookup = lookup
        g.merge = lambda a, b: a + b
    g.add_edge("__start__", ["search", "lookup"])
    g.add_edge(["search", "lookup"], "merge")
    g.add_edge("merge", "__end__")
    g("question")

A node runs once all the nodes it has edges from have finished; nodes without a path between them
run at the same time (on our pool, so their spans are siblings under the graph's span). A node with
one input gets that value (a ``package`` spread); with several, they become its positional arguments
in edge order (``kwargs`` inputs become keyword arguments). ``add_edge(a, b, formatter)`` maps the
value on that edge; ``add_const_edge(value, node)`` feeds a constant; ``set_node_arg_name`` passes
inputs by keyword. ``__end__`` returns its input (several as a ``package``). A cycle is a
``ValueError`` ("Graph has a cycle"), as in LazyLLM.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from .base import FlowBase
from .data import Identity, arguments, package

START, END = "__start__", "__end__"
_CONST = "_lazyllm_constant_"


class Graph(FlowBase):
    """Nodes (named stages) connected by edges; see the module docs."""

    flow_type = "graph"
    start_node_name, end_node_name = START, END

    class Node:
        """One node: its function, the nodes feeding it (with an optional formatter each) and those it feeds."""

        def __init__(self, func: Any, name: str, index: int | None = None) -> None:
            self.func, self.name, self.index = func, name, index
            self.arg_names: list[str] | None = None
            self.inputs: dict[str, Callable[[Any], Any] | None] = {}
            self.outputs: list[Graph.Node] = []

        def __repr__(self) -> str:
            return f"<graph node {self.name!r}>"

    def __init__(self, *, post_action: Any = None, auto_capture: bool = False, return_trace: bool = False,
                 name: str | None = None, **kw: Any) -> None:
        super().__init__(*kw.values(), item_names=list(kw), post_action=post_action, auto_capture=auto_capture,
                         return_trace=return_trace, name=name)
        self.__post_init__()

    def __post_init__(self) -> None:
        if any(n is None for n in self._item_names):
            raise TypeError("every graph node needs a name: g.name = f in the with block, or graph(name=f)")
        nodes = {n: Graph.Node(f, n, i) for i, (f, n) in enumerate(zip(self._items, self._item_names, strict=True))}
        nodes[START] = Graph.Node(None, START)
        nodes[END] = Graph.Node(Identity(), END)
        for key, value in (("_nodes", nodes), ("_in_degree", {n: 0 for n in nodes}),
                           ("_out_degree", {n: 0 for n in nodes}), ("_sorted_nodes", None), ("_constants", [])):
            object.__setattr__(self, key, value)

    # ---- building the edges ----------------------------------------------------------

    def _node(self, node: str | Node) -> Node:
        if isinstance(node, Graph.Node):
            return node
        try:
            return self._nodes[node]
        except KeyError:
            raise KeyError(f"graph has no node {node!r}; its nodes: {sorted(self._nodes)}") from None

    @property
    def start_node(self) -> Node:
        return self._nodes[START]

    @property
    def end_node(self) -> Node:
        return self._nodes[END]

    def set_node_arg_name(self, arg_names: list[list[str] | None]) -> None:
        """Pass each node's inputs as these keyword arguments (one list per node, in node order)."""
        for node_name, names in zip(self._item_names, arg_names, strict=False):
            self._nodes[node_name].arg_names = names

    def add_edge(self, from_node: Any, to_node: Any, formatter: Callable[[Any], Any] | None = None) -> Any:
        """Data flows from ``from_node`` to ``to_node`` (either may be a list), mapped by ``formatter`` if given."""
        if isinstance(from_node, (tuple, list)):
            return [self.add_edge(f, to_node, formatter) for f in from_node]
        if isinstance(to_node, (tuple, list)):
            return [self.add_edge(from_node, t, formatter) for t in to_node]
        src, dst = self._node(from_node), self._node(to_node)
        if src.name in dst.inputs:
            raise ValueError(f"graph already has an edge from {src.name!r} to {dst.name!r}")
        if formatter is not None and not callable(formatter):
            raise TypeError(f"an edge's formatter is a callable, got {type(formatter).__name__}")
        src.outputs.append(dst)
        dst.inputs[src.name] = formatter
        self._in_degree[dst.name] += 1
        self._out_degree[src.name] += 1
        object.__setattr__(self, "_sorted_nodes", None)
        return None

    def add_const_edge(self, constant: Any, to_node: Any) -> Any:
        """Feed ``constant`` to ``to_node`` (or each node of a list) as one more input."""
        if isinstance(to_node, (tuple, list)):
            return [self.add_const_edge(constant, t) for t in to_node]
        self._node(to_node).inputs[f"{_CONST}{len(self._constants)}"] = None
        self._constants.append(constant)
        return None

    def topological_sort(self) -> list[Node]:
        """The nodes with edges, in an order that runs every node after those it depends on."""
        in_degree = dict(self._in_degree)
        queue = deque(n for n in self._nodes.values() if in_degree[n.name] == 0)
        ordered: list[Graph.Node] = []
        while queue:
            node = queue.popleft()
            ordered.append(node)
            for out in node.outputs:
                in_degree[out.name] -= 1
                if in_degree[out.name] == 0:
                    queue.append(out)
        if len(ordered) != len(self._nodes):
            raise ValueError("Graph has a cycle")
        return [n for n in ordered if self._in_degree[n.name] > 0 or self._out_degree[n.name] > 0]

    @property
    def stage_names(self) -> list[str]:
        return list(self._item_names)

    def _span_attrs(self) -> dict[str, Any]:
        edges = [[n.name, o.name] for n in self._nodes.values() for o in n.outputs]
        return {"edges": edges}

    # ---- running ----------------------------------------------------------------------

    def _run(self, input: Any, **kw: Any) -> Any:
        if self._sorted_nodes is None:
            object.__setattr__(self, "_sorted_nodes", self.topological_sort())
        if END not in {n.name for n in self._sorted_nodes}:
            raise ValueError(f"graph {self.name!r} has no edge into {END!r}: add_edge(<last node>, {END!r}) says "
                             f"what the graph returns")
        from ..pool import ThreadPoolExecutor
        from ..task_marks import written as _written

        start = arguments(input, kw) if (input and kw) else (kw or input)
        results: dict[str, Any] = {START: start}
        lock = threading.Lock()
        futures: dict[str, Any] = {}
        token = _written.set({}) if _written.get() is None else None  # nodes are parts of this call (see parallel)
        try:
            with ThreadPoolExecutor(thread_name_prefix="lazystream-graph") as pool:
                for node in self._sorted_nodes:
                    if node.name != START:
                        futures[node.name] = pool.submit(self._compute, node, results, futures, lock)
                return futures[END].result()
        finally:
            if token is not None:
                _written.reset(token)

    def _input_of(self, name: str, node: Node, results: dict[str, Any], futures: dict[str, Any],
                  lock: threading.Lock) -> Any:
        if name.startswith(_CONST):
            return self._constants[int(name[len(_CONST):])]
        if name not in results:
            value = futures[name].result()
            with lock:
                results.setdefault(name, value)
        value = results[name]
        formatter = node.inputs[name]
        if formatter is not None:
            if isinstance(value, arguments):
                if bool(value.args) == bool(value.kw):
                    raise ValueError(f"edge {name!r} -> {node.name!r}: a formatter takes positional or keyword "
                                     f"values, not both")
                value = value.args or value.kw
            value = formatter(value)
        return value

    def _compute(self, node: Node, results: dict[str, Any], futures: dict[str, Any], lock: threading.Lock) -> Any:
        kw: dict[str, Any] = {}
        if len(node.inputs) == 1:
            value = self._input_of(next(iter(node.inputs)), node, results, futures, lock)
        else:
            value = arguments()
            for name in node.inputs:
                value.append(self._input_of(name, node, results, futures, lock))
        if isinstance(value, arguments):
            kw, value = dict(value.kw), value.args
        if node.arg_names:
            values = value if isinstance(value, (list, tuple)) else [value]
            kw.update(zip(node.arg_names, values, strict=False))
            value = package()
        if node.index is None:  # __end__
            return node.func(*value) if isinstance(value, package) else node.func(value)
        return self._call_stage(node.index, value, **kw)
