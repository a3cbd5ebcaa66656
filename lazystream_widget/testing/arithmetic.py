"""A scripted model for the agent examples of LazyLLM's docs ("What is 20+(2*4)? Calculate step by step.").

``arithmetic_responder`` decides every reply from the conversation alone (never from how many requests it
saw), so several agents, LazyLLM's and ours, can share one server in any order, at once:

* a planning request (a system prompt asking for a ``Plan:``, no tools) gets a three-step plan;
* a solver step ("current task" in the prompt) or a plain question gets the tool calls it needs, one turn
  at a time: ``multiply_*(2, 4)``, then ``add_*(20, <product>)`` (whichever tools of those names it is
  offered), then the answer from the results;
* a question containing ``never stop`` always asks for another tool call (to use up an agent's turns);
  once told to stop calling tools it answers ``Forced answer.``.
"""

from __future__ import annotations

import re
from typing import Any

from .script import Reply, ToolCall

__all__ = ["PLAN", "arithmetic_responder"]

PLAN = ("Plan:\n1. Multiply 2 by 4 with multiply_tool.\n2. Add 20 to the product with add_tool.\n"
        "3. Answer the user's original question.")


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _result(tool_message: str) -> int:
    """A tool result: the first number (LazyLLM appends a notice such as "ReAct rounds left: 4")."""
    return int(re.findall(r"-?\d+", tool_message)[0])


def _current_task(prompt: str) -> str | None:
    """The line under a solver prompt's "### Current Task" header (LazyLLM's and ours), lower-cased."""
    match = re.search(r"^###\s*current task\s*\n+(.+)$", prompt, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip().lower() if match else None


def _tool(request: dict[str, Any], prefix: str) -> str:
    """The offered tool whose name starts with ``prefix`` (tests give each case its own tool names)."""
    for tool in request.get("tools") or []:
        name = (tool.get("function") or {}).get("name", "")
        if name.startswith(prefix):
            return name
    return prefix + "_tool"


def arithmetic_responder(request: dict[str, Any]) -> Reply:
    multiply, add = _tool(request, "multiply"), _tool(request, "add")
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    system = " ".join(text_of(m) for m in messages if m.get("role") == "system")
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    last_user = text_of(messages[users[-1]]) if users else ""
    results = [text_of(m) for m in messages[(users[-1] if users else 0) + 1:] if m.get("role") == "tool"]
    if not request.get("tools") and "Plan:" in system:
        return Reply(text=PLAN)
    if "stop calling tools" in last_user.lower() or "do not call any more tools" in last_user.lower():
        return Reply(text="Forced answer.")
    if "never stop" in " ".join(text_of(m) for m in messages).lower():
        return Reply(tool_calls=[ToolCall(multiply, {"a": 1, "b": 1})])
    task = _current_task(last_user)
    if task is not None and "multiply" in task:
        if not results:
            return Reply(tool_calls=[ToolCall(multiply, {"a": 2, "b": 4})])
        return Reply(text=f"The product is {_result(results[-1])}.")
    if task is not None and "add" in task:
        if not results:
            product = re.search(r"product is (-?\d+)", last_user)
            return Reply(tool_calls=[ToolCall(add, {"a": 20, "b": int(product.group(1)) if product else 0})])
        return Reply(text=f"The sum is {_result(results[-1])}.")
    if task is not None:
        total = re.search(r"sum is (-?\d+)", last_user)
        return Reply(text=f"The final answer is {total.group(1) if total else 'unknown'}.")
    # the whole question at once (ReactAgent): multiply, then add, then answer
    if len(results) == 0:
        return Reply(tool_calls=[ToolCall(multiply, {"a": 2, "b": 4})])
    if len(results) == 1:
        return Reply(tool_calls=[ToolCall(add, {"a": 20, "b": _result(results[0])})])
    return Reply(text=f"The result of 20+(2*4) is {_result(results[-1])}.")
