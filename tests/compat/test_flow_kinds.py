"""Every flow kind (parallel and its result forms, diverter, warp, switch, ifs, loop, graph) on LazyLLM and ours."""

from __future__ import annotations

import pytest

from lazystream_widget import package

from .harness import Case, check, run_ours

CASES = [
    # ---- parallel ---------------------------------------------------------------------------------
    Case("parallel_returns_a_package_in_branch_order", """
import lazyllm
result = lazyllm.parallel(lambda a: a + 1, lambda a: a * 4, lambda a: a / 2)(1)
""", expected=package(2, 4, 0.5)),

    Case("parallel_result_forms", """
import lazyllm
t1, t2, t3 = (lambda a: a + 1), (lambda a: a * 4), (lambda a: a / 2)
result = [
    lazyllm.parallel(a=t1, b=t2, c=t3).asdict(2),
    lazyllm.parallel(a=t1, b=t2, c=t3).astuple(-1),
    lazyllm.parallel(a=t1, b=t2, c=t3).aslist(0),
    lazyllm.parallel(a=t1, b=t2, c=t3).join("\\n")(1),
    lazyllm.parallel(t1, t2).sum(1),
    lazyllm.parallel(lambda x: x + "a", lambda x: x + "b").sum("q"),
    lazyllm.parallel(lambda x: [x], lambda x: [x, x]).sum(3),
]
""", expected=[{"a": 3, "b": 8, "c": 1.0}, (0, -4, -0.5), [1, 0, 0.0], "2\n4\n0.5", 6, "qaqb", [3, 3, 3]]),

    Case("a_result_form_is_chosen_once", """
import lazyllm
lazyllm.parallel(lambda x: x).sum.aslist
""", raises=True),

    Case("asdict_needs_named_branches", """
import lazyllm
lazyllm.parallel(lambda x: x, lambda x: x).asdict(1)
""", raises=True),

    Case("parallel_branches_run_at_the_same_time", """
import threading, lazyllm
gate = threading.Barrier(3, timeout=10)
def branch(x):
    gate.wait()  # returns only when all three run at once
    return x
result = lazyllm.parallel(branch, branch, branch)(7)
""", expected=package(7, 7, 7)),

    Case("parallel_sequential_runs_in_order_on_the_calling_thread", """
import threading, lazyllm
caller, seen = threading.get_ident(), []
def step(name):
    return lambda x: seen.append((name, threading.get_ident() == caller)) or name
result = [lazyllm.parallel.sequential(step("a"), step("b"), step("c"))(0), seen]
""", expected=[package("a", "b", "c"), [("a", True), ("b", True), ("c", True)]]),

    Case("a_parallel_result_is_spread_over_the_next_stage", """
import lazyllm
result = lazyllm.pipeline(lazyllm.parallel(lambda x: x + 1, lambda x: x * 2), lambda a, b: [a, b])(3)
""", expected=[4, 6]),

    Case("a_branch_that_raises_fails_the_parallel", """
import lazyllm
def bad(x):
    raise ValueError("branch b failed")
lazyllm.parallel(lambda x: x, bad)(1)
""", raises=True),

    # ---- diverter and warp --------------------------------------------------------------------------
    Case("diverter_gives_each_branch_its_own_input", """
import lazyllm
div = lazyllm.diverter(lambda x: x + 1, lambda x: x * 2, lambda x: -x)
named = lazyllm.diverter(a=lambda x: x + 1, b=lambda x: x * 2, c=lambda x: -x).asdict
result = [div(1, 2, 3), div([1, 2, 3]), named(1, 2, 3), named(dict(c=3, b=2, a=1))]
""", expected=[package(2, 4, -3), package(2, 4, -3), {"a": 2, "b": 4, "c": -3}, {"a": 2, "b": 4, "c": -3}]),

    Case("warp_applies_one_stage_to_each_input", """
import lazyllm
from lazyllm import package
result = [
    lazyllm.warp(lambda x: x * 2)(1, 2, 3, 4),
    lazyllm.warp(lazyllm.pipeline(lambda x: x * 2, lambda x: f"get {x}"))(1, 2, 3, 4),
    lazyllm.warp(lambda x, y: x * 2 + y)([package(1, 2), package(10, 20)]),
    lazyllm.warp(lambda x: x * 2, lambda x: x + 1)(1, 2),
]
""", expected=[package(2, 4, 6, 8), package("get 2", "get 4", "get 6", "get 8"), package(4, 40), package(3, 5)]),

    # ---- switch --------------------------------------------------------------------------------------
    Case("switch_runs_the_first_matching_case", """
import lazyllm
def is_positive(x): return x > 0
def is_negative(x): return x < 0
sw = lazyllm.switch(is_positive, lambda x: 2 * x, is_negative, lambda x: -x, "default", lambda x: "000",
                    judge_on_full_input=True)
result = [sw(1), sw(0), sw(-4)]
""", expected=[2, "000", 4]),

    Case("switch_built_with_cases", """
import lazyllm
def t1(x): return 2 * x
def t2(x): return 3 * x
def t3(x): return x
with lazyllm.switch(judge_on_full_input=True) as sw:
    sw.case[lambda x: x == 1::t1]
    sw.case(lambda x: x == 2, t2)
    sw.case[lambda x: x == 3, t3]
result = [sw(1), sw(2), sw(3), sw(4)]
""", expected=[2, 6, 3, None]),

    Case("switch_matches_values_and_needs_exactly_true_from_a_condition", """
import lazyllm
sw = lazyllm.switch(lambda x: 1, lambda x: "truthy", "b", lambda x: "equal to b", "default", lambda x: "default")
by_dict = lazyllm.switch({"x": lambda v: "x!", "default": lambda v: "other"})
result = [sw("a"), sw("b"), by_dict("x"), by_dict("y")]
""", expected=["default", "equal to b", "x!", "other"]),

    Case("switch_judging_the_first_element", """
import lazyllm
sw = lazyllm.switch("up", lambda v: v.upper(), "rev", lambda a, b: b + a, judge_on_full_input=False)
result = [sw("up", "hello"), sw("rev", "ab", "cd")]
""", expected=["HELLO", "cdab"]),

    Case("switch_with_a_conversion", """
import lazyllm
sw = lazyllm.switch("short", lambda s: "S:" + s, "long", lambda s: "L:" + s,
                    conversion=lambda s: "short" if len(s) < 4 else "long")
result = [sw("abc"), sw("abcdef")]
""", expected=["S:abc", "L:abcdef"]),

    # ---- ifs ------------------------------------------------------------------------------------------
    Case("ifs_takes_the_path_its_condition_picks", """
import lazyllm
f = lazyllm.ifs(lambda x: x > 0, lambda x: x * 2, lambda x: -x)
const = lazyllm.ifs(False, lambda x: "yes", lambda x: "no")
no_input = lazyllm.ifs(lambda: True, lambda x: x + 1, lambda x: x - 1)
result = [f(10), f(-5), const(1), no_input(1)]
""", expected=[20, 5, "no", 2]),

    # ---- loop -------------------------------------------------------------------------------------------
    Case("loop_until_the_stop_condition", """
import lazyllm
lp = lazyllm.loop(lambda x: x * 2, stop_condition=lambda x: x > 10, judge_on_full_input=True)
with lazyllm.loop(stop_condition=lambda x: x > 10, judge_on_full_input=True) as lp2:
    lp2.f1 = lambda x: x + 1
    lp2.f2 = lambda x: x * 2
result = [lp(1), lp(3), lp2(0)]
""", expected=[16, 12, 14]),

    Case("loop_a_fixed_count", """
import lazyllm
calls = []
lp = lazyllm.loop(lambda x: calls.append(x) or x + 1, count=3)
result = [lp(0), calls]
""", expected=[3, [0, 1, 2]]),

    Case("loop_count_and_condition_whichever_first", """
import lazyllm
lp = lazyllm.loop(lambda x: x + 1, stop_condition=lambda x: x == 100, count=5)
result = [lp(0), lp(97)]
""", expected=[5, 100]),

    Case("loop_judging_a_flag", """
import lazyllm
from lazyllm import package
def step(x):
    return package(x >= 3, x + 1)
result = lazyllm.loop(step, stop_condition=lambda flag: flag, judge_on_full_input=False)(0)
""", expected=package(4)),

    Case("loop_count_one", """
import lazyllm
result = lazyllm.loop(lambda x: x + 1, count=1)(0)
""", raises=True, ours=1),

    # ---- graph ------------------------------------------------------------------------------------------
    Case("graph_nodes_and_edges", """
import lazyllm
with lazyllm.graph() as g:
    g.node1 = lambda x: x * 2
    g.node2 = lambda x: x + 1
    g.node3 = lambda x, y: x + y
g.add_edge("__start__", "node1")
g.add_edge("node1", "node2")
g.add_edge("node1", "node3")
g.add_edge("node2", "node3")
g.add_edge("node3", "__end__")
result = [g(3), [n.name for n in g.topological_sort()]]
""", expected=[13, ["__start__", "node1", "node2", "node3", "__end__"]]),

    Case("graph_constant_edges_formatters_and_arg_names", """
import lazyllm
with lazyllm.graph() as g:
    g.add = lambda x, y: x + y
    g.multiply = lambda x: x * 2
g.add_edge("__start__", "add")
g.add_const_edge(5, "add")
g.add_edge("add", "multiply")
g.add_edge("multiply", "__end__")
with lazyllm.graph() as h:
    h.left = lambda x: x + 1
    h.right = lambda x: x * 10
    h.join = lambda a, b: f"{a}-{b}"
h.add_edge("__start__", ["left", "right"])
h.add_edge("left", "join", formatter=lambda v: v * 100)
h.add_edge("right", "join")
h.add_edge("join", "__end__")
with lazyllm.graph() as k:
    k.sub = lambda a, b: a - b
k.add_edge("__start__", "sub")
k.add_const_edge(10, "sub")
k.add_edge("sub", "__end__")
k.set_node_arg_name([["b", "a"]])
result = [g(3), h(1), k(3)]
""", expected=[16, "200-10", 7]),

    Case("graph_several_ends_return_a_package", """
import lazyllm
with lazyllm.graph() as g:
    g.a = lambda x: x + 1
    g.b = lambda x: x - 1
g.add_edge("__start__", ["a", "b"])
g.add_edge(["a", "b"], "__end__")
result = g(10)
""", expected=package(11, 9)),

    Case("graph_with_a_cycle", """
import lazyllm
with lazyllm.graph() as g:
    g.a = lambda x: x
    g.b = lambda x: x
g.add_edge("__start__", "a")
g.add_edge("a", "b")
g.add_edge("b", "a")
g.add_edge("b", "__end__")
try:
    g.topological_sort()
except ValueError as exc:
    result = str(exc)
""", expected="Graph has a cycle"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_flow_kinds_match_lazyllm(case: Case, lazyllm_results: dict) -> None:
    check(case, run_ours(case), lazyllm_results[case.name])
