"""Every flow and every stage is a span: the flow's structure, each stage's input, output, time and errors."""

from __future__ import annotations

import time

import pytest

import lazystream_widget as lazyllm
from lazystream_widget import _0, bind, graph, ifs, loop, parallel, pipeline, switch
from lazystream_widget.runtime.module import ModuleBase
from lazystream_widget.runtime.session import session
from lazystream_widget.spans import SpanRecord, build_spans, format_tree, roots


def add_one(x: int) -> int:
    return x + 1


def double(x: int) -> int:
    return 2 * x


class Square(ModuleBase):
    def forward(self, x: int) -> int:
        return x * x


@pytest.fixture
def traced(read_trace):
    """``traced(flow, *args)``: call the flow (return_trace on) in a fresh session; (result or exception, roots)."""

    def call(flow, *args, **kw):
        flow._return_trace = True
        with session():
            try:
                out = flow(*args, **kw)
            except Exception as exc:  # the caller checks it
                out = exc
            spans = build_spans(read_trace())
        return out, roots(spans)

    return call


def tree(span: SpanRecord) -> list:
    """(kind, name, status, [children]) of a span, to compare whole trees at once."""
    return [span.kind, span.name, span.status, [tree(c) for c in span.children]]


def test_a_pipeline_span_holds_one_span_per_stage_in_order(traced) -> None:
    with pipeline(name="calc") as p:
        p.inc = add_one
        p.square = Square()
        p.twice = double
    out, (flow,) = traced(p, 2)
    assert out == 18
    assert tree(flow) == ["flow", "calc", "ok", [["module", "inc", "ok", []], ["module", "square", "ok", []],
                                                 ["module", "twice", "ok", []]]]
    assert flow.attrs["flow"] == "pipeline" and flow.attrs["stages"] == ["inc", "square", "twice"]
    assert flow.input == 2 and flow.output == 18 and flow.duration_ms is not None
    assert [(s.input, s.output) for s in flow.children] == [(2, 3), (3, 9), (9, 18)]
    assert [(s.attrs["stage"], s.attrs["index"]) for s in flow.children] == [("inc", 0), ("square", 1), ("twice", 2)]


def test_unnamed_stages_are_named_after_their_function_or_module(traced) -> None:
    out, (flow,) = traced(pipeline(add_one, Square(), lambda x: x - 1), 1)
    assert out == 3
    assert [c.name for c in flow.children] == ["add_one", "Square", "lambda"]
    assert flow.name == "pipeline"


def test_a_shared_module_is_labelled_by_the_stage_it_runs_in(traced) -> None:
    """One module in two parallel branches and then as ``p.summary``: LazyLLM names it "summary" when that
    stage is assigned, but the branches (unnamed stages) must not show it as "summary" (QA finding 3)."""
    shared = Square()
    with pipeline() as p:
        with parallel() as p.branches:
            p.branches.a = pipeline(add_one, shared)
            p.branches.b = pipeline(double, shared)
        p.add = lambda a, b: a + b
        p.summary = shared
    out, (flow,) = traced(p, 2)
    assert out == ((2 + 1) ** 2 + (2 * 2) ** 2) ** 2
    assert shared.name == "summary"  # LazyLLM's rule, kept
    branches = flow.children[0]
    assert sorted([c.name for c in b.children] for b in branches.children) == [["add_one", "Square"],
                                                                               ["double", "Square"]]
    # (a model is labelled by its model there, as anywhere it has no name of its own)
    assert [b.attrs["stages"] for b in sorted(branches.children, key=lambda b: b.name)] == [
        ["add_one", "Square"], ["double", "Square"]]
    assert flow.children[-1].name == "summary" and flow.attrs["stages"][-1] == "summary"
    named = Square(name="mine")  # a name the user gave is the module's own, wherever it runs
    out, (flow,) = traced(pipeline(add_one, named), 1)
    assert [c.name for c in flow.children] == ["add_one", "mine"]


def test_nested_flows_show_their_whole_structure(traced) -> None:
    with pipeline() as p:
        p.inc = add_one
        with parallel().sum as p.fan:
            p.fan.same = lambda x: x
            p.fan.twice = double
        p.answer = bind(lambda total, original: f"{original}->{total}", _0, p.input)
    out, (flow,) = traced(p, 1)
    assert out == "1->6"
    fan = flow.children[1]
    assert tree(flow) == ["flow", "pipeline", "ok", [
        ["module", "inc", "ok", []],
        ["flow", "fan", "ok", sorted([["module", "same", "ok", []], ["module", "twice", "ok", []]],
                                     key=lambda t: [c.name for c in fan.children].index(t[1]))],
        ["module", "answer", "ok", []]]]
    assert fan.attrs["flow"] == "parallel" and fan.attrs["form"] == "sum" and fan.attrs["stage"] == "fan"
    assert fan.output == 6
    # a bind stage's span shows the arguments it was really called with
    assert flow.children[2].input == [6, 1]


def test_a_failing_stage_marks_its_span_and_every_enclosing_flow(traced) -> None:
    def broken(x: int) -> int:
        raise ZeroDivisionError("stage two divided by zero")

    with pipeline() as p:
        p.first = add_one
        with pipeline() as p.inner:
            p.inner.divide = broken
            p.inner.never = double
        p.last = double
    out, (flow,) = traced(p, 1)
    assert isinstance(out, ZeroDivisionError)
    assert tree(flow) == ["flow", "pipeline", "error", [
        ["module", "first", "ok", []], ["flow", "inner", "error", [["module", "divide", "error", []]]]]]
    for span in (flow, flow.children[1], flow.children[1].children[0]):
        assert span.error["type"] == "ZeroDivisionError" and span.error["message"] == "stage two divided by zero"


def test_parallel_branches_are_sibling_spans_that_overlap(traced) -> None:
    def slow_a(x: int) -> str:
        time.sleep(0.5)
        return f"a{x}"

    def slow_b(x: int) -> str:
        time.sleep(0.5)
        return f"b{x}"

    out, (flow,) = traced(parallel(slow_a, slow_b), 1)
    assert out == ("a1", "b1")
    a, b = sorted(flow.children, key=lambda s: s.name)
    assert (a.name, b.name) == ("slow_a", "slow_b") and a.parent_id == b.parent_id == flow.id
    assert a.started_at < b.ended_at and b.started_at < a.ended_at, "the branches must have run at the same time"


def test_control_flows_record_their_decision(traced) -> None:
    sw = switch(lambda x: x > 0, double, "default", lambda x: 0)
    out, (flow,) = traced(sw, 5)
    assert out == 10
    assert flow.attrs["matched"] == {"index": 0, "condition": "lambda", "branch": "lambda -> double"}
    assert [(c.name, c.attrs.get("role")) for c in flow.children] == [("lambda", "condition"), ("double", None)]

    out, (flow,) = traced(ifs(lambda x: x > 0, double, add_one), -3)
    assert out == -2 and flow.attrs["branch"] == "false"
    assert [c.name for c in flow.children] == ["lambda", "add_one"]

    out, (flow,) = traced(loop(add_one, stop_condition=lambda x: x >= 3), 0)
    assert out == 3 and flow.attrs["passes"] == 3 and flow.attrs["flow"] == "loop"
    assert [c.name for c in flow.children] == ["add_one", "lambda"] * 3


def test_graph_nodes_are_spans_under_the_graph(traced) -> None:
    with graph() as g:
        g.left = add_one
        g.right = double
        g.join = lambda a, b: a + b
    g.add_edge("__start__", ["left", "right"])
    g.add_edge(["left", "right"], "join")
    g.add_edge("join", "__end__")
    out, (flow,) = traced(g, 3)
    assert out == 10
    assert flow.attrs["flow"] == "graph" and ["left", "join"] in flow.attrs["edges"]
    assert sorted(c.name for c in flow.children) == ["join", "left", "right"]
    assert {c.name: c.output for c in flow.children} == {"left": 4, "right": 6, "join": 10}


def test_in_a_widget_run_every_flow_traces_without_return_trace() -> None:
    from lazystream_widget.runner import Run

    with pipeline() as p:
        p.inc = add_one
        p.both = parallel(double, Square())
    run = Run(p, 2).start()
    assert run.wait(30) == (6, 9)
    text = format_tree(run.trace)
    assert text.splitlines()[0].startswith("- flow pipeline · ok")
    assert {s.name for s in lazyllm.testing.find_spans(run, kind="flow")} == {"pipeline", "both"}
    assert {s.name for s in lazyllm.testing.find_spans(run, kind="module")} == {"inc", "double", "Square"}
