"""``PlanAndSolveAgent``: a planner writes numbered steps, a solver works through them with the tools.

As in LazyLLM 1.4.0:

1. the planner model (``plan_llm``, or ``llm``) is asked, without tools, for a plan: numbered steps;
2. each step goes to the solver (``solve_llm``, or ``llm``) as a task of its own, with the question and the
   results of the steps before it; the solver may call tools, at most ``max_retries + 1`` turns per step;
3. the answer is the last step's result.

Steps are read from the plan as LazyLLM reads them: the lines starting ``1. ``, ``2. ``... after the
first line. A plan without numbered steps is solved as one step, the question itself (LazyLLM fails
there).

Streaming (``stream``, else as the model is configured): the plan, then each step's result, go to the
answer queue, separated by blank lines; ``run.result`` is the last step's result only. Tracing: an
``agent`` span holding the planner's ``llm`` span (stage ``plan``) and one ``module`` span per step
(named ``step 1``, ``step 2``..., input: the step, output: its result) with the solver's ``llm`` and
``tool`` spans inside.
"""

from __future__ import annotations

import re
from typing import Any

from . import cancel
from .agent import FunctionCallAgent, MaxTurnsExceeded
from .agent_options import check_lazyllm_options, with_stream
from .module import ModuleBase, as_stage
from .queue import answer_queue
from .react import MaxRetriesExceeded
from .trace import span

PLANNER_PROMPT = """First understand the problem, then write a plan to solve it. Start with the header \
'Plan:' and list the steps as a numbered list (1. 2. 3. ...), one per line. Keep the plan short but \
actionable; if the task is a question, the last step is usually 'Answer the user's original question \
from the results of the steps above'. For each step say whether it needs a tool, and which one. Do not \
guess what a tool would return: plan to call it."""

SOLVER_PROMPT = """### Final objective
{objective}

### Previous steps
{previous_steps}

### Current task
{current_task}

Address only the current task: do not answer the final objective yet and do not do later steps. If \
information is missing, use the tools to get it. Reply with the result of the current task only."""

TOOLS_PROMPT = "You can call the tools you are given. Do not guess the arguments of a call; ask if the task is unclear."

PLAN_PREFIX = "I will give a plan first:\n"
_STEP_RE = re.compile(r"\n\s*\d+\. ")


def parse_steps(plan: str) -> list[str]:
    """The numbered steps of a plan, as LazyLLM 1.4.0 splits them (``\\n1. ``, ``\\n2. ``...)."""
    return [step for step in _STEP_RE.split(plan)[1:] if step]


class PlanAndSolveAgent(ModuleBase):
    """Plans the task in numbered steps, then solves them one by one with tools.

    Args:
        llm: the model for both the planner and the solver; or give ``plan_llm`` and ``solve_llm``
            (or ``llm`` for the planner and ``solve_llm`` for the solver).
        tools: tool names registered with ``@fc_register("tool")``, functions, or ToolSpecs.
        plan_llm, solve_llm: separate models for planning and solving.
        max_retries: model turns after the first, per step (``max_retries + 1`` turns in all per step).
        return_trace: write the ``agent`` span and everything under it to the trace queue.
        stream: ``None`` (default): stream as the models are configured; ``True`` / ``False`` override it.
        desc: a description of the agent.
        name: the agent span's name (default ``"PlanAndSolveAgent"``).
    """

    kind = "agent"

    def __init__(self, llm: Any = None, tools: list[Any] | None = None, *, plan_llm: Any = None,
                 solve_llm: Any = None, max_retries: int = 5, return_trace: bool = False, stream: bool | None = None,
                 desc: str = "", name: str | None = None, **lazyllm_options: Any) -> None:
        super().__init__(return_trace=return_trace, name=name)
        check_lazyllm_options(type(self).__name__, lazyllm_options)
        both = plan_llm is not None and solve_llm is not None
        if not ((llm is None and both) or (llm is not None and plan_llm is None)):
            raise ValueError("PlanAndSolveAgent takes llm= (for planning and solving), or plan_llm= and solve_llm=, "
                             "or llm= (planning) with solve_llm= (solving)")
        planner = plan_llm if plan_llm is not None else llm
        if not hasattr(planner, "chat"):
            raise TypeError(f"PlanAndSolveAgent needs chat modules (OnlineChatModule or TrainableModule), got "
                            f"{type(planner).__name__}")
        self.plan_llm = with_stream(planner, stream)
        self.solver = FunctionCallAgent(solve_llm if solve_llm is not None else llm, tools, system_prompt=TOOLS_PROMPT,
                                        max_retries=max_retries, stream=stream, name="solver")
        self.max_retries = max_retries
        self.stream = stream
        self.desc = desc

    @property
    def tools(self) -> list[Any]:
        return self.solver.tools

    def _planner_prompt(self) -> str:
        lines = [f"- {t.name}: {(t.description or '').strip().splitlines()[0] if t.description else ''}"
                 for t in self.solver.tools]
        return f"{PLANNER_PROMPT}\n\nAvailable tools:\n" + "\n".join(lines) if lines else PLANNER_PROMPT

    def forward(self, query: str) -> str:
        if not isinstance(query, str):
            raise TypeError(f"PlanAndSolveAgent takes the user's question as a str, got {type(query).__name__}")
        streaming = self.plan_llm.stream
        if streaming:
            answer_queue().enqueue(PLAN_PREFIX)
        with as_stage("plan", {"role": "plan"}):
            plan = self.plan_llm.chat([{"role": "system", "content": self._planner_prompt()},
                                       {"role": "user", "content": query}]).content
        steps = parse_steps(plan) or [query]
        done: list[str] = []
        response = ""
        for number, step in enumerate(steps, 1):
            cancel.check_cancelled()
            if self.solver.llm.stream and (streaming or number > 1):
                answer_queue().enqueue("\n\n")  # the plan and each step's result apart
            response = self._solve(number, step, query, done)
            done.append(f"- **SubTask**: {step} **Response**: {response}")
        return response

    def _solve(self, number: int, step: str, query: str, done: list[str]) -> str:
        task = SOLVER_PROMPT.format(objective=query, previous_steps="\n".join(done), current_task=step)
        messages = self.solver._first_messages(task)
        if not self.tracing():
            return self._converse(number, messages)
        with span(f"step {number}", "module", step, {"step": number}) as sp:
            response = self._converse(number, messages)
            sp.end(response)
        return response

    def _converse(self, number: int, messages: list[dict[str, Any]]) -> str:
        try:
            return self.solver._converse(messages)
        except MaxTurnsExceeded:
            raise MaxRetriesExceeded(
                f"{self.name}: step {number} used all {self.solver.max_turns} model turns "
                f"(max_retries={self.max_retries}) without a result; raise max_retries or check the tools"
            ) from None
