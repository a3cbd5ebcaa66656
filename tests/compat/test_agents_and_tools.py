"""``fc_register``, ``TrainableModule``'s signature, ``ReactAgent`` and ``PlanAndSolveAgent`` on LazyLLM and ours.

The agents talk to one scripted model server (real HTTP) that both sides share; it answers from the
conversation alone (``lazystream_widget.testing.arithmetic_responder``), so both see the same replies. The tools record
their calls, and the cases compare the answer and the calls made.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lazystream_widget.testing import ScriptedServer, arithmetic_responder

from .harness import Case, check, run_ours

_TOOLS = '''
import lazyllm
from lazyllm.tools import fc_register
calls = []

@fc_register("tool")
def multiply_tool_{n}(a: int, b: int) -> int:
    """
    Multiply two integers and return the result integer

    Args:
        a (int): multiplier
        b (int): multiplier
    """
    calls.append(["multiply", a, b])
    return a * b

@fc_register("tool")
def add_tool_{n}(a: int, b: int):
    """
    Add two integers and returns the result integer

    Args:
        a (int): addend
        b (int): addend
    """
    calls.append(["add", a, b])
    return a + b

TOOL_NAMES = ["multiply_tool_{n}", "add_tool_{n}"]
llm = lazyllm.OnlineChatModule(source="openai", model="scripted", base_url=BASE_URL + "/", api_key="test-key")
'''


def tools(n: int) -> str:
    """Two tools, ``multiply_tool_<n>`` and ``add_tool_<n>``: LazyLLM refuses to register a name twice in a process
    (``duplicate class``), so each case has its own; the model calls whichever ``multiply_*`` / ``add_*`` it is
    offered."""
    return _TOOLS.replace("{n}", str(n))

CASES = [
    # ---- fc_register ----------------------------------------------------------------------------------
    Case("fc_register_returns_the_function_unchanged_even_without_a_docstring", """
from lazyllm.tools import fc_register

def nodoc(x: int):
    return x * 3

registered = fc_register("tool")(nodoc)

@fc_register("tool")
def also_nodoc(y):
    return y

result = [registered is nodoc, nodoc(2), also_nodoc("same"), also_nodoc.__name__]
""", expected=[True, 6, "same", "also_nodoc"]),

    Case("fc_register_under_another_name", """
import lazyllm
from lazyllm.tools import fc_register, ReactAgent

def other(a: str):
    '''Say hi.

    Args:
        a (str): who
    '''
    return "hi " + a

g = fc_register("tool")(other, "another_name")
llm = lazyllm.OnlineChatModule(source="openai", model="scripted", base_url=BASE_URL + "/", api_key="test-key")
ReactAgent(llm, ["another_name"])
result = [g.__name__, g("bo"), g.__wrapped__ is other, g is other]
""", expected=["another_name", "hi bo", True, False]),

    Case("a_bare_fc_register_registers_in_the_tool_group", """
import lazyllm
from lazyllm.tools import fc_register, ReactAgent

@fc_register
def bare_tool(a: str):
    '''Echo.

    Args:
        a (str): text
    '''
    return a

llm = lazyllm.OnlineChatModule(source="openai", model="scripted", base_url=BASE_URL + "/", api_key="test-key")
ReactAgent(llm, ["bare_tool"])
result = bare_tool("x")
""", expected="x"),

    Case("a_tool_without_a_docstring_fails_when_an_agent_is_built", """
import lazyllm
from lazyllm.tools import fc_register, ReactAgent

@fc_register("tool")
def undocumented_tool(x: int):
    return x

llm = lazyllm.OnlineChatModule(source="openai", model="scripted", base_url=BASE_URL + "/", api_key="test-key")
ReactAgent(llm, ["undocumented_tool"])
""", raises=True),

    # ---- TrainableModule's signature --------------------------------------------------------------------
    Case("trainable_module_signature", """
import inspect, lazyllm
params = list(inspect.signature(lazyllm.TrainableModule.__init__).parameters.values())[1:5]
result = [[p.name, p.kind.name, p.default] for p in params]
""", expected=[["base_model", "POSITIONAL_OR_KEYWORD", ""], ["target_path", "POSITIONAL_OR_KEYWORD", ""],
               ["stream", "KEYWORD_ONLY", False], ["return_trace", "KEYWORD_ONLY", False]]),

    Case("trainable_module_takes_two_positional_arguments", """
import lazyllm
lazyllm.TrainableModule("scripted", "out/weights", True)
""", raises=True),

    # ---- agents ---------------------------------------------------------------------------------------
    Case("react_agent_solves_with_tools", tools(1) + """
from lazyllm.tools import ReactAgent
agent = ReactAgent(llm, TOOL_NAMES)
result = [agent("What is 20+(2*4)? Calculate step by step."), calls]
""", expected=["The result of 20+(2*4) is 28.", [["multiply", 2, 4], ["add", 20, 8]]]),

    Case("react_agent_gives_up_after_max_retries", tools(2) + """
from lazyllm.tools import ReactAgent
agent = ReactAgent(llm, TOOL_NAMES, max_retries=2)
try:
    agent("Multiply forever and never stop.")
except Exception as exc:
    result = ["raised", len(calls)]
""", expected=["raised", 3]),

    Case("react_agent_force_summarize", tools(3) + """
from lazyllm.tools import ReactAgent
agent = ReactAgent(llm, TOOL_NAMES[:1], max_retries=1, force_summarize=True)
result = [agent("Multiply forever and never stop."), len(calls)]
""", expected=["Forced answer.", 2]),

    Case("plan_and_solve_agent_plans_then_solves_each_step", tools(4) + """
from lazyllm.tools import PlanAndSolveAgent
agent = PlanAndSolveAgent(llm, TOOL_NAMES)
result = [agent("What is 20+(2*4)? Calculate step by step."), calls]
""", expected=["The final answer is 28.", [["multiply", 2, 4], ["add", 20, 8]]]),

    Case("plan_and_solve_agent_with_separate_models", tools(5) + """
from lazyllm.tools import PlanAndSolveAgent
agent = PlanAndSolveAgent(plan_llm=llm, solve_llm=llm, tools=TOOL_NAMES)
result = agent("What is 20+(2*4)? Calculate step by step.")
""", expected="The final answer is 28."),

    Case("plan_and_solve_agent_needs_its_models", tools(6) + """
from lazyllm.tools import PlanAndSolveAgent
PlanAndSolveAgent(plan_llm=llm, tools=TOOL_NAMES[:1])
""", raises=True),
]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer(responder=arithmetic_responder).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def case_vars(server: ScriptedServer) -> dict:
    return {"BASE_URL": server.base_url}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tools_and_agents_match_lazyllm(case: Case, lazyllm_results: dict, case_vars: dict) -> None:
    check(case, run_ours(case, case_vars), lazyllm_results[case.name])
