"""ReactAgent and PlanAndSolveAgent on our side: streaming, traces, prompts, bounds and options.

What they compute is compared with LazyLLM's in tests/compat/test_agents_and_tools.py; here, what only our
runtime has (the answer queue, the trace tree, the widget run) and our errors.
"""

from __future__ import annotations

import pytest

from lazystream_widget.runner import Run
from lazystream_widget.runtime.agent import MaxTurnsExceeded
from lazystream_widget.runtime.chat import OnlineChatModule
from lazystream_widget.runtime.plan_solve import PLAN_PREFIX, PLANNER_PROMPT, parse_steps
from lazystream_widget.runtime.react import REACT_PROMPT, MaxRetriesExceeded
from lazystream_widget.testing import ScriptedServer, arithmetic_responder
from lazystream_widget.testing.arithmetic import PLAN
from lazystream_widget.tools import PlanAndSolveAgent, ReactAgent, fc_register

QUESTION = "What is 20+(2*4)? Calculate step by step."


@fc_register("tool")
def multiply_tool(a: int, b: int) -> int:
    """
    Multiply two integers and return the result integer

    Args:
        a (int): multiplier
        b (int): multiplier
    """
    return a * b


@fc_register("tool")
def add_tool(a: int, b: int):
    """
    Add two integers and returns the result integer

    Args:
        a (int): addend
        b (int): addend
    """
    return a + b


TOOLS = ["multiply_tool", "add_tool"]


@pytest.fixture
def server(scripted_server_factory) -> ScriptedServer:
    return scripted_server_factory(responder=arithmetic_responder)


def llm_for(server: ScriptedServer, stream: bool = True) -> OnlineChatModule:
    return OnlineChatModule(base_url=server.base_url, model="scripted", stream=stream)


def test_react_agent_streams_and_traces_like_function_call_agent(server) -> None:
    run = Run(ReactAgent(llm_for(server), TOOLS), QUESTION).start()
    assert run.wait(30) == "The result of 20+(2*4) is 28."
    assert run.text == "The result of 20+(2*4) is 28."  # the answer streamed, the tool-call turns not
    (agent,) = [s for s in run.trace if s.parent_id is None]
    assert (agent.kind, agent.name, agent.status) == ("agent", "ReactAgent", "ok")
    assert [(c.kind, c.name) for c in agent.children] == [
        ("llm", "scripted"), ("tool", "multiply_tool"), ("llm", "scripted"), ("tool", "add_tool"), ("llm", "scripted")]
    assert [c.output for c in agent.children if c.kind == "tool"] == [8, 28]
    first = server.requests[0]["messages"]
    assert first[0] == {"role": "system", "content": REACT_PROMPT} and first[1]["content"] == QUESTION
    assert {t["function"]["name"] for t in server.requests[0]["tools"]} == set(TOOLS)


def test_the_agents_stream_switch_overrides_the_models(server) -> None:
    quiet = Run(ReactAgent(llm_for(server, stream=True), TOOLS, stream=False), QUESTION).start()
    assert quiet.wait(30) == "The result of 20+(2*4) is 28." and quiet.text == ""
    loud = Run(ReactAgent(llm_for(server, stream=False), TOOLS, stream=True), QUESTION).start()
    assert loud.wait(30) == "The result of 20+(2*4) is 28." and loud.text == loud.result
    assert all(r.get("stream") is not True for r in server.requests[:3])
    assert all(r.get("stream") is True for r in server.requests[3:])


def test_react_agent_gives_up_after_max_retries_plus_one_turns(server) -> None:
    agent = ReactAgent(llm_for(server), TOOLS, max_retries=2)
    with pytest.raises(MaxRetriesExceeded) as info:
        agent("Multiply forever and never stop.")
    assert isinstance(info.value, ValueError) and isinstance(info.value, MaxTurnsExceeded)
    assert str(info.value).startswith("ReactAgent made 3 model turns (max_retries=2) and every one asked for a tool")
    assert "force_summarize=True" in str(info.value) and len(server.requests) == 3
    summarizing = ReactAgent(llm_for(server), TOOLS, max_retries=0, force_summarize=True,
                             force_summarize_context="Background: a test.")
    assert summarizing("Multiply forever and never stop.") == "Forced answer."
    last = server.requests[-1]
    assert "tools" not in last and last["messages"][-1]["content"].startswith("Background: a test.\n\nYou have used")


def test_plan_and_solve_streams_the_plan_and_each_step_and_traces_them(server) -> None:
    run = Run(PlanAndSolveAgent(llm_for(server), TOOLS), QUESTION).start()
    assert run.wait(30) == "The final answer is 28."
    assert run.text == (PLAN_PREFIX + PLAN + "\n\nThe product is 8.\n\nThe sum is 28.\n\nThe final answer is 28.")
    (agent,) = [s for s in run.trace if s.parent_id is None]
    assert (agent.kind, agent.name) == ("agent", "PlanAndSolveAgent")
    assert [(c.kind, c.name) for c in agent.children] == [
        ("llm", "plan"), ("module", "step 1"), ("module", "step 2"), ("module", "step 3")]
    plan, *steps = agent.children
    assert plan.output["content"] == PLAN and plan.attrs["model"] == "scripted"
    assert [s.input for s in steps] == parse_steps(PLAN) == [
        "Multiply 2 by 4 with multiply_tool.", "Add 20 to the product with add_tool.",
        "Answer the user's original question."]
    assert [s.output for s in steps] == ["The product is 8.", "The sum is 28.", "The final answer is 28."]
    assert [(c.kind, c.name) for c in steps[0].children] == [("llm", "scripted"), ("tool", "multiply_tool"),
                                                              ("llm", "scripted")]
    planner_request = server.requests[0]
    assert "tools" not in planner_request
    assert planner_request["messages"][0]["content"].startswith(PLANNER_PROMPT)
    assert "- multiply_tool: Multiply two integers and return the result integer" in (
        planner_request["messages"][0]["content"])
    assert "The product is 8." in server.requests[-1]["messages"][-1]["content"]  # earlier steps' results


def test_a_plan_without_numbered_steps_is_solved_as_the_question_itself(scripted_server_factory) -> None:
    server = scripted_server_factory(["No plan needed.", "Just the answer."])
    agent = PlanAndSolveAgent(llm_for(server), TOOLS)
    assert agent("Say something.") == "Just the answer."
    assert "### Current task\nSay something." in server.requests[1]["messages"][-1]["content"]


def test_agent_options_lazyllm_has_and_we_do_not_are_clear_errors(server) -> None:
    llm = llm_for(server)
    ReactAgent(llm, TOOLS, enable_builtin_tools=True, skills=None, workspace=None)  # defaults: fine
    with pytest.raises(TypeError, match=r"ReactAgent\(skills=...\): LazyLLM's skills is not part of lazystream-widget"):
        ReactAgent(llm, TOOLS, skills=True)
    with pytest.raises(TypeError, match=r"got unexpected keyword argument\(s\) \['colour'\]"):
        PlanAndSolveAgent(llm, TOOLS, colour="red")
    with pytest.raises(ValueError, match="takes llm= .* or plan_llm= and solve_llm="):
        PlanAndSolveAgent(plan_llm=llm, tools=TOOLS)
    with pytest.raises(ValueError, match="max_retries must be an int >= 0"):
        ReactAgent(llm, TOOLS, max_retries=-1)
    assert ReactAgent(llm, None).tools == [] and ReactAgent(llm, TOOLS, prompt="Be brief.").system_prompt == "Be brief."
