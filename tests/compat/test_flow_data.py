"""Data between stages: ``package`` / ``kwargs`` unpacking and ``bind`` with placeholders and references."""

from __future__ import annotations

import pytest

from lazystream_widget import package

from .harness import Case, check, run_ours

#: the functions of the examples in LazyLLM's documentation of bind
BIND_DOC_FUNCTIONS = """
from lazyllm import pipeline, parallel, bind, _0, _1
def f1(x): return x ** 2
def f21(input1, input2=0): return input1 + input2 + 1
def f22(input1, input2=0): return input1 + input2 - 1
def f3(in1="a", in2="b", in3="c"): return f"get [input:{in1}], [f21:{in2}], [f22:{in3}]"
"""

CASES = [
    # ---- package, kwargs, call arguments ------------------------------------------------------------
    Case("a_package_is_spread_a_tuple_is_not", """
import lazyllm
from lazyllm import package
spread = lazyllm.pipeline(lambda x: package(x, x + 10), lambda a, b: [a, b])(1)
kept = lazyllm.pipeline(lambda x: (x, x + 10), lambda t: ["one argument", t])(1)
result = [spread, kept]
""", expected=[[1, 11], ["one argument", (1, 11)]]),

    Case("kwargs_are_spread_as_keywords", """
import lazyllm
from lazyllm import kwargs
result = lazyllm.pipeline(lambda x: kwargs(a=x, b=2 * x), lambda a, b: f"a={a} b={b}")(3)
""", expected="a=3 b=6"),

    Case("several_call_arguments_reach_the_first_stage_spread", """
import lazyllm
p = lazyllm.pipeline(lambda a, b: a * b, lambda x: x + 1)
result = [p(3, 4), lazyllm.pipeline(lambda: "no arguments")()]
""", expected=[13, "no arguments"]),

    Case("call_keywords_go_to_the_first_stage_only", """
import lazyllm
seen = []
p = lazyllm.pipeline(lambda x, scale=1: x * scale, lambda x, scale=1: seen.append(scale) or x)
result = [p(2, scale=5), seen]
""", expected=[10, [1]]),

    Case("a_package_returned_last_is_the_result", """
import lazyllm
from lazyllm import package
result = lazyllm.pipeline(lambda x: package(x, -x))(4)
""", expected=package(4, -4)),

    Case("package_slices_and_sums_stay_packages", """
from lazyllm import package
p = package(1, 2, 3)
result = [p[1:], p + package([4]), package([5, 6]), p[0]]
""", expected=[package(2, 3), package(1, 2, 3, 4), package(5, 6), 1]),

    # ---- bind -------------------------------------------------------------------------------------------
    Case("bind_the_pipeline_input_and_placeholders", BIND_DOC_FUNCTIONS + """
with pipeline() as ppl:
    ppl.f1 = f1
    with parallel() as ppl.subprl2:
        ppl.subprl2.path1 = f21
        ppl.subprl2.path2 = f22
    ppl.f3 = bind(f3, ppl.input, _0, _1)
result = ppl(2)
""", expected="get [input:2], [f21:5], [f22:3]"),

    Case("bind_with_the_or_operator_and_a_bound_flow", BIND_DOC_FUNCTIONS + """
with pipeline() as ppl2:
    ppl2.f1 = f1
    with parallel().bind(ppl2.input, _0) as ppl2.subprl2:
        ppl2.subprl2.path1 = f21
        ppl2.subprl2.path2 = f22
    ppl2.f3 = f3 | bind(ppl2.input, _0, _1)
result = ppl2(2)
""", expected="get [input:2], [f21:7], [f22:5]"),

    Case("bind_an_earlier_stage_output_by_name_and_by_object", """
from lazyllm import pipeline, bind, _0
with pipeline() as p:
    p.retrieve = lambda q: q.upper()
    p.rank = lambda docs: len(docs)
    p.answer = bind(lambda docs, n: f"{docs}:{n}", p.output("retrieve"), _0)
    p.again = bind(lambda a, docs: a + "|" + docs, _0, p.retrieve)
result = p("abc")
""", expected="ABC:3|ABC"),

    Case("bind_keywords_items_and_attributes_of_the_input", """
from types import SimpleNamespace
from lazyllm import pipeline, bind, _0
with pipeline() as p:
    p.size = lambda d: len(d)
    p.show = bind(lambda n, name="?", items="?": f"{name}/{items}/{n}", _0, name=p.input["name"],
                  items=p.input["items"])
with pipeline() as q:
    q.echo = lambda ns: ns.label
    q.both = bind(lambda a, b: a + b, _0, q.input.label)
result = [p({"name": "box", "items": [7, 8]}), q(SimpleNamespace(label="ab"))]
""", expected=["box/[7, 8]/2", "abab"]),

    Case("bind_a_chained_item_of_the_input", """
from lazyllm import pipeline, bind, _0
with pipeline() as p:
    p.size = lambda d: len(d)
    p.show = bind(lambda n, first: f"{first}/{n}", _0, p.input["items"][0])
result = p({"items": [7, 8]})
""", raises=True, ours="7/1"),

    Case("bind_drops_inputs_it_does_not_name", """
from lazyllm import bind
result = [bind(lambda *a: list(a), 1, 2)("ignored"), bind(lambda *a: list(a))("kept", "too")]
""", expected=[[1, 2], ["kept", "too"]]),

    Case("bind_a_placeholder_twice_and_keywords_at_call_time", """
from lazyllm import bind, _0, _1
f = bind(lambda a, b, c, d=0: [a, b, c, d], _1, _0, _1)
result = [f("x", "y"), f("x", "y", d=4)]
""", expected=[["y", "x", "y", 0], ["y", "x", "y", 4]]),

    Case("bind_a_keyword_that_is_already_bound", """
from lazyllm import bind
bind(lambda a=0: a, a=1)(a=2)
""", raises=True),

    Case("bind_output_unpacked", """
from lazyllm import pipeline, parallel, bind, _0
with pipeline() as p:
    p.pair = parallel(lambda x: x + 1, lambda x: x + 2)
    p.total = lambda a, b: a + b
    p.all = bind(lambda a, b, c: [a, b, c], p.output("pair", unpack=True), _0)
result = p(1)
""", expected=[2, 3, 5]),

    Case("bind_the_pipeline_keywords", """
from lazyllm import pipeline, bind, _0
with pipeline() as p:
    p.first = lambda x, lang="en": x
    p.second = bind(lambda x, kw: f"{x}:{kw['lang']}", _0, p.kwargs)
result = p("hi", lang="fr")
""", expected="hi:fr"),

    Case("bind_a_reference_from_a_nested_flow", """
from lazyllm import pipeline, bind, _0
with pipeline() as outer:
    outer.a = lambda x: x + 1
    with pipeline() as outer.inner:
        outer.inner.b = bind(lambda x, original: [x, original], _0, outer.input)
result = outer(1)
""", raises=True, ours=[2, 1]),

    Case("bind_a_stage_that_has_not_run_yet", """
from lazyllm import pipeline, bind, _0
with pipeline() as p:
    p.a = bind(lambda x, later: later, _0, p.output("b"))
    p.b = lambda x: x
p(1)
""", raises=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_data_between_stages_matches_lazyllm(case: Case, lazyllm_results: dict) -> None:
    check(case, run_ours(case), lazyllm_results[case.name])
