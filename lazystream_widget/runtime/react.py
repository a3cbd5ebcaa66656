"""``ReactAgent``: LazyLLM 1.4.0's recommended agent: reason, call a tool, observe, until it can answer.

As in LazyLLM 1.4.0 it is the tool-calling loop of ``FunctionCallAgent`` (native tool calls, several per
turn allowed, run in parallel) under a ReAct system prompt, with LazyLLM's bound: at most
``max_retries + 1`` model turns. When they are used up it raises :class:`MaxRetriesExceeded` (a
``ValueError``, as LazyLLM's), or with ``force_summarize=True`` asks the model once more, without tools,
for its final answer. It streams and traces exactly like ``FunctionCallAgent``: an ``agent`` span with
the ``llm`` and ``tool`` spans of every turn under it.
"""

from __future__ import annotations

from typing import Any

from .agent import FunctionCallAgent, MaxTurnsExceeded

#: Our ReAct system prompt (LazyLLM's words differ; the loop it asks for is the same).
REACT_PROMPT = """You solve the user's task in a loop: reason about what is still missing, call a tool \
when it gives you something you cannot know yourself, read its result, and repeat until you can answer.

- Call a tool only when you need its result; prefer one tool call per step.
- Do not call any more tools once you have enough to answer.
- Answer in the language of the user's question.
- Your final reply is the answer itself, clear and complete, without your internal reasoning."""

FORCE_SUMMARIZE_PROMPT = ("You have used all your tool calls. Do not call any more tools: give your final "
                          "answer now, from what you found so far.")


class MaxRetriesExceeded(MaxTurnsExceeded, ValueError):
    """A ReactAgent (or a PlanAndSolveAgent step) used all its turns without a final answer.

    Both a :class:`MaxTurnsExceeded` and a ``ValueError`` (what LazyLLM raises there).
    """


class ReactAgent(FunctionCallAgent):
    """Reason -> act (tool call) -> observe, until the answer.

    Args:
        llm: a chat module (``OnlineChatModule`` or ``TrainableModule``).
        tools: tool names registered with ``@fc_register("tool")``, functions, or ToolSpecs.
        max_retries: model turns after the first (LazyLLM's bound: ``max_retries + 1`` turns in all).
        return_trace: write ``agent``, ``llm`` and ``tool`` spans to the trace queue.
        prompt: the system prompt (default :data:`REACT_PROMPT`).
        stream: ``None`` (default): stream as ``llm`` is configured; ``True`` / ``False`` override it.
        force_summarize: when the turns are used up, ask once more (without tools) for the answer instead of
            raising :class:`MaxRetriesExceeded`.
        force_summarize_context: text added to that last request (e.g. the task's background).
        desc: a description of the agent.
        name: the agent span's name (default ``"ReactAgent"``).

    LazyLLM-only options (``skills``, ``workspace``, ``sandbox``...) are accepted at their defaults and refused
    otherwise; built-in shell and file tools are never offered.
    """

    def __init__(self, llm: Any, tools: list[Any] | None = None, max_retries: int = 5, return_trace: bool = False,
                 prompt: str | None = None, stream: bool | None = None, *, force_summarize: bool = False,
                 force_summarize_context: str = "", desc: str = "", name: str | None = None,
                 **lazyllm_options: Any) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0 (model turns after the first), got {max_retries!r}")
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError(f"ReactAgent(prompt=...) is the system prompt, a str; got {type(prompt).__name__}")
        super().__init__(llm, tools, return_trace=return_trace, system_prompt=prompt or REACT_PROMPT, name=name,
                         stream=stream, max_retries=max_retries, desc=desc, **lazyllm_options)
        self.max_retries = max_retries
        self.force_summarize = bool(force_summarize)
        self.force_summarize_context = force_summarize_context

    def _out_of_turns(self, messages: list[dict[str, Any]]) -> str:
        if self.force_summarize:
            context = f"{self.force_summarize_context}\n\n" if self.force_summarize_context else ""
            final = self.llm.chat([*messages, {"role": "user", "content": context + FORCE_SUMMARIZE_PROMPT}])
            if final.content:
                return final.content
        raise MaxRetriesExceeded(
            f"{self.name} made {self.max_turns} model turns (max_retries={self.max_retries}) and every one asked for "
            f"a tool, so there is no final answer; raise max_retries, pass force_summarize=True to ask for an "
            f"answer anyway, or check that the tools give the model what it needs")
