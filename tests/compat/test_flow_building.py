"""Building flows, LazyLLM's way, on real LazyLLM 1.4.0 and on ours (imports swapped).

Each case states what LazyLLM documents (``expected``); the test checks real LazyLLM returns it and ours
returns the same.
"""

from __future__ import annotations

import pytest

from lazystream_widget import package

from .harness import Case, check, run_ours
from .lazyllm_runner import normalize

CASES = [
    Case("named_stages_in_a_with_block", """
import lazyllm
with lazyllm.pipeline() as p:
    p.retrieve = lambda x: x + 1
    p.answer = lambda x: x * 10
result = [p(1), p.retrieve(5), p.answer(2)]
""", expected=[20, 6, 20]),

    Case("stage_names_are_unique", """
import lazyllm
with lazyllm.pipeline() as p:
    p.a = lambda x: x
    p.a = lambda x: x + 1
""", raises=True),

    Case("a_stage_cannot_be_replaced_after_the_block", """
import lazyllm
with lazyllm.pipeline() as p:
    p.a = lambda x: x
p.a = lambda x: x + 1
""", raises=True),

    Case("other_attributes_after_the_block_are_plain", """
import lazyllm
with lazyllm.pipeline() as p:
    p.a = lambda x: x + 1
p.note = "set later"
result = [p(1), p.note]
""", expected=[2, "set later"]),

    Case("a_flow_nested_as_an_attribute", """
from lazyllm import pipeline, parallel
with pipeline() as p:
    p.first = lambda x: x + 1
    with parallel() as p.both:
        p.both.double = lambda x: x * 2
        p.both.triple = lambda x: x * 3
    p.add = lambda a, b: a + b
result = [p(1), p.both(2), p.both.triple(3)]
""", expected=[10, package(4, 6), 9]),

    Case("a_flow_nested_under_a_local_name_joins_the_outer_flow", """
from lazyllm import pipeline, parallel
with pipeline() as outer:
    outer.a = lambda x: x + 1
    with parallel() as inner:
        inner.b = lambda x: x * 2
        inner.c = lambda x: x * 3
    outer.d = lambda b, c: b + c
result = [outer(1), outer.inner(2)]
""", expected=[10, package(4, 6)]),

    Case("a_class_given_as_a_stage_is_instantiated", """
import lazyllm

class Doubler:
    def __call__(self, x):
        return 2 * x

p = lazyllm.pipeline(Doubler, lambda x: x + 1)
with lazyllm.pipeline() as q:
    q.d = Doubler
    q.inc = lambda x: x + 1
result = [p(5), q(5)]
""", expected=[11, 11]),

    Case("pipeline_from_a_list_and_from_keywords", """
import lazyllm
f = lambda x: x + 1
g = lambda x: x * 3
by_name = lazyllm.pipeline(first=f, second=g)
result = [lazyllm.pipeline([f, g])(1), lazyllm.pipeline(f, g)(1), by_name(1), by_name.second(2)]
""", expected=[6, 6, 6, 6]),

    Case("positional_and_named_stages_do_not_mix", """
import lazyllm
lazyllm.pipeline(lambda x: x, b=lambda x: x)
""", raises=True),

    Case("an_empty_pipeline_returns_its_input", """
import lazyllm
result = lazyllm.pipeline()(7)
""", expected=7),

    Case("a_stage_that_raises_stops_the_pipeline", """
import lazyllm
seen = []
def boom(x):
    raise ZeroDivisionError("stage two divided by zero")
p = lazyllm.pipeline(lambda x: seen.append(x) or x, boom, lambda x: seen.append("never") or x)
try:
    p(1)
except Exception as exc:
    result = [str(exc), seen]
""", expected=["stage two divided by zero", [1]]),

    Case("post_action_sees_the_result_and_does_not_change_it", """
import lazyllm
seen = []
p = lazyllm.pipeline(lambda x: x + 1, lambda x: x * 2, post_action=lambda x: seen.append(x) or "ignored")
result = [p(1), seen]
""", expected=[4, [4]]),

    Case("the_tuple_target_binds_both_names", """
import lazyllm
with lazyllm.pipeline() as outer:
    outer.a = lambda x: x + 1
    with lazyllm.pipeline() as (outer.inner, inner):
        inner.b = lambda x: x * 2
result = [outer(1), outer.inner is inner]
""", expected=[4, True]),

    Case("action_module_wraps_functions_modules_and_flows", """
import lazyllm

def myfunc(input):
    return input + 1

class MyModule1(lazyllm.module.ModuleBase):
    def forward(self, input):
        return input * 2

class MyModule2(lazyllm.module.ModuleBase):
    def forward(self, input):
        return input * 4

class MyModule3(lazyllm.module.ModuleBase):
    def forward(self, input):
        return f"get {input}"

m = lazyllm.ActionModule(myfunc, lazyllm.pipeline(MyModule1(), MyModule2), MyModule3())
single = lazyllm.ActionModule(lazyllm.pipeline(myfunc, myfunc))
result = [m(1), single(1), [type(s).__name__ for s in m.submodules]]
""", expected=["get 16", 3, ["MyModule1", "MyModule2", "MyModule3"]]),

    Case("auto_capture_adds_new_local_callables", """
import lazyllm
def build():
    with lazyllm.pipeline(auto_capture=True) as p:
        first = lambda x: x + 1
        second = lambda x: x * 5
    return p
result = build()(1)
""", expected=10),
]

@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_flow_building_matches_lazyllm(case: Case, lazyllm_results: dict) -> None:
    check(case, run_ours(case), lazyllm_results[case.name])


def test_normalize_keeps_package_tuple_and_list_apart() -> None:
    from lazystream_widget import package

    assert normalize(package(1, 2)) == {"package": [1, 2]}
    assert normalize((1, 2)) == {"tuple": [1, 2]}
    assert normalize([1, 2]) == [1, 2]


def test_swap_imports_rewrites_every_lazyllm_import_and_nothing_else() -> None:
    from .harness import swap_imports

    source = ("import lazyllm\nimport threading, lazyllm\nimport lazyllm.flow\nimport lazyllm as L, os\n"
              "from lazyllm import pipeline\n    from lazyllm.tools import fc_register\nx = lazyllm.pipeline\n")
    assert swap_imports(source) == (
        "import lazystream_widget, lazystream_widget as lazyllm\n"
        "import threading, lazystream_widget, lazystream_widget as lazyllm\n"
        "import lazystream_widget.flow, lazystream_widget as lazyllm\n"
        "import lazystream_widget as L, os\n"
        "from lazystream_widget import pipeline\n"
        "    from lazystream_widget.tools import fc_register\n"
        "x = lazyllm.pipeline\n")


def test_our_side_can_never_run_real_lazyllm() -> None:
    from .harness import Case

    out = run_ours(Case("sneaky", "result = __import__('lazyllm').__name__"))
    assert out["error"]["type"] == "ImportError" and "swap_imports missed" in out["error"]["message"]
