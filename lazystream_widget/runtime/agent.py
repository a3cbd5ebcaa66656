"""``FunctionCallAgent``: the seed's tool-calling loop.

Each turn asks the model with the tools' schemas. A reply without tool calls is the
answer. Otherwise every call runs (in parallel, each in its own ``tool`` span), and
its result, or a short clean error, goes back to the model as a tool message.
Nothing a tool or the model does wrong crashes the run: a raising tool, malformed
argument JSON, arguments that do not fit the schema and an unknown tool name all
become tool messages the model can react to. Only ``max_turns`` ends the loop with
an error. No built-in shell or file tools are offered: the model sees only the
tools you pass.

Tools run on daemon threads carrying the run's context (session, span, cancel
token), not on a pool: a tool that hangs past its timeout is abandoned (Python
threads cannot be killed) and neither the run's end nor the interpreter's exit
waits for it. Abandoned tools are counted (``abandoned.py``): the count is in the
tool span and the run's notices, with a warning past ``TOOL_ABANDONED_WARN_AT``.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from typing import Any

from ..limits import AGENT_MAX_TURNS, TOOL_ERROR_MAX_CHARS, TOOL_RESULT_MAX_CHARS, TOOL_TIMEOUT_S
from . import abandoned, cancel, tool_registry
from .agent_options import check_lazyllm_options, with_stream
from .chat import AssistantMessage, ChatModuleBase
from .module import ModuleBase
from .tool_arguments import parse_arguments, shown_arguments
from .tools import ToolArgumentError, ToolSpec, validate_arguments
from .trace import Span, activate, end_with_exception, error_info, start_span, strip_ansi


class MaxTurnsExceeded(RuntimeError):
    """The agent used all its turns without a final answer."""


class FunctionCallAgent(ModuleBase):
    """An agent that lets ``llm`` call ``tools`` until it answers.

    Args:
        llm: a chat module (``OnlineChatModule`` or ``TrainableModule``); give it ``stream=True``
            to stream the final answer.
        tools: tool names registered with ``@fc_register("tool")``, functions, or ToolSpecs.
        max_turns: model turns before giving up with :class:`MaxTurnsExceeded`.
        return_trace: write ``agent`` and ``tool`` spans to the trace queue.
        system_prompt: an optional system message.
        stream: ``None`` (default): stream as ``llm`` is configured; ``True`` / ``False``: LazyLLM's agent
            switch, overriding the model's.
        max_retries: LazyLLM's spelling of the turn bound: ``max_turns = max_retries + 1``.
        desc: a description of the agent (LazyLLM's ``desc``).

    LazyLLM-only options (``skills``, ``workspace``, ``sandbox``...) are accepted at their defaults and
    refused otherwise; built-in shell and file tools are never offered, whatever ``enable_builtin_tools`` says.
    """

    kind = "agent"

    def __init__(
        self,
        llm: ChatModuleBase,
        tools: list[Any] | None,
        max_turns: int = AGENT_MAX_TURNS,
        return_trace: bool = False,
        system_prompt: str | None = None,
        name: str | None = None,
        *,
        stream: bool | None = None,
        max_retries: int | None = None,
        desc: str = "",
        **lazyllm_options: Any,
    ) -> None:
        super().__init__(return_trace=return_trace, name=name)
        check_lazyllm_options(type(self).__name__, lazyllm_options)
        if not hasattr(llm, "chat"):
            raise TypeError(
                f"{type(self).__name__} needs a chat module (OnlineChatModule or TrainableModule), "
                f"got {type(llm).__name__}"
            )
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
                raise ValueError(f"max_retries must be an int >= 0 (the turns after the first), got {max_retries!r}")
            max_turns = max_retries + 1
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"max_turns must be a positive int, got {max_turns!r}")
        if tools is None:
            tools = []
        if isinstance(tools, (str, ToolSpec)) or callable(tools):
            tools = [tools]
        self.llm = with_stream(llm, stream)
        self.desc = desc
        # the registry looked up now, not at import: tests (and users) may swap tool_registry.REGISTRY
        self.tools: list[ToolSpec] = tool_registry.REGISTRY.resolve(list(tools))
        self._by_name = {t.name: t for t in self.tools}
        self.max_turns = max_turns
        self.system_prompt = system_prompt

    def forward(self, query: str) -> str:
        if not isinstance(query, str):
            raise TypeError(f"{type(self).__name__} takes the user's question as a str, got {type(query).__name__}")
        return self._converse(self._first_messages(query))

    def _first_messages(self, query: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": query})
        return messages

    def _converse(self, messages: list[dict[str, Any]]) -> str:
        """Model turns over ``messages`` (extended in place), tools run between them, until a reply has no tool call."""
        schemas = [t.openai_schema() for t in self.tools] or None
        for _ in range(self.max_turns):
            cancel.check_cancelled()
            reply: AssistantMessage = self.llm.chat(messages, schemas)
            if not reply.tool_calls:
                return reply.content
            messages.append(reply.to_message())
            messages.extend(self._run_tools(reply.tool_calls))
        return self._out_of_turns(messages)

    def _out_of_turns(self, messages: list[dict[str, Any]]) -> str:
        """Every turn ended in a tool call: give up (agents that can still answer override this)."""
        raise MaxTurnsExceeded(
            f"{self.name} made {self.max_turns} model turns without a final answer; "
            f"raise max_turns (now {self.max_turns}) or check that the tools give the model what it needs"
        )

    # ---- tools --------------------------------------------------------------------

    def _run_tools(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run all calls of one turn in parallel; one tool message per call, in call order."""
        pending = [_ToolCall(self, call) for call in calls]
        try:
            for tc in pending:
                cancel.check_cancelled()  # a cancelled run starts no new tool
                tc.start()
            return [tc.finish() for tc in pending]
        except BaseException as exc:  # a cancel while waiting: close the spans of calls not awaited yet
            for tc in pending:
                if tc.span is not None:
                    end_with_exception(tc.span, exc)  # no-op for spans already ended
            raise


class _ToolCall:
    """One tool call: parse, validate, run on a daemon thread, and turn the outcome into a message."""

    def __init__(self, agent: FunctionCallAgent, call: dict[str, Any]) -> None:
        self.call_id = call.get("id") or ""
        fn = call.get("function") or {}
        self.name = str(fn.get("name") or "")
        self.raw_args = fn.get("arguments") or ""
        self.spec = agent._by_name.get(self.name)
        self.agent = agent
        self.span: Span | None = None
        self.thread: threading.Thread | None = None
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.message: str | None = None  # set when the call is refused before running
        self.args: dict[str, Any] = {}
        self.started = 0.0

    def start(self) -> None:
        if self.agent.tracing():
            self.span = start_span(self.name or "(no name)", "tool", shown_arguments(self.raw_args),
                                   {"call_id": self.call_id})
        if self.spec is None:
            names = ", ".join(sorted(self.agent._by_name)) or "none"
            self.message = f"Error: unknown tool {self.name!r}; the tools available are: {names}"
            return
        try:
            # bounded (size, depth) before parsing; every parse fault is a ToolArgumentError (tool_arguments.py)
            self.args = validate_arguments(self.spec, parse_arguments(self.raw_args, self.name))
        except ToolArgumentError as exc:
            self.message = f"Error: {exc}"
            return
        except Exception as exc:  # whatever else the arguments make fail is still the model's to correct
            self.message = (f"Error: the arguments of {self.name} could not be checked "
                            f"({type(exc).__name__}: {strip_ansi(str(exc)).strip()[:200]})")
            return
        ctx = contextvars.copy_context()
        if self.span is not None:
            ctx.run(activate, self.span)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=ctx.run, args=(self._body,), name=f"tool-{self.name}", daemon=True)
        self.thread.start()

    def _body(self) -> None:
        try:
            self.result = self.spec.fn(**self.args)  # type: ignore[union-attr]
        except BaseException as exc:  # reported to the model and the trace, never raised
            self.error = exc
        finally:
            self.done.set()
            abandoned.finished(self)  # no-op unless it was abandoned after its timeout

    def finish(self) -> dict[str, Any]:
        if self.message is not None:  # refused before running: the refusal is the span's error
            kind = "UnknownTool" if self.spec is None else "ToolArgumentError"
            self._end_span(status="error", error={"type": kind, "message": self.message.removeprefix("Error: ")})
            content = self.message
        else:
            content = self._wait()
        return {"role": "tool", "tool_call_id": self.call_id, "name": self.name, "content": _sendable(content)}

    def _wait(self) -> str:
        timeout = self.spec.timeout if self.spec and self.spec.timeout is not None else TOOL_TIMEOUT_S
        token = cancel.current_token()
        deadline = self.started + timeout
        while not self.done.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if token is not None and token.cancelled:
                self._end_span(status="cancelled", error={"type": "RunCancelled", "message": token.reason})
                raise cancel.RunCancelled(token.reason)
            if time.monotonic() >= deadline:
                return self._abandon(timeout)
        if self.error is not None:
            info = error_info(self.error)
            self._end_span(status="error", error=info)
            short = f"{info['type']}: {info['message']}"
            return "Error: " + strip_ansi(short)[:TOOL_ERROR_MAX_CHARS]
        text = _result_text(self.result)
        self._end_span(output=self.result)
        if len(text) > TOOL_RESULT_MAX_CHARS:
            text = text[:TOOL_RESULT_MAX_CHARS] + f"…[cut: the result had {len(text)} characters]"
        return text

    def _abandon(self, timeout: float) -> str:
        """The tool hung past its timeout: leave its thread (it cannot be killed), count it, say so."""
        msg = f"{self.name} timed out after {timeout:g} s and was abandoned"
        live = abandoned.abandon(self, self.done)
        if self.span is not None:
            self.span.event("abandoned", timeout_s=timeout, abandoned_tool_threads=live)
        self._end_span(status="error", error={"type": "TimeoutError", "message": msg},
                       attrs={"abandoned": True, "abandoned_tool_threads": live})
        from ..runner import current_run  # the run this agent works for, if a runner started it

        run = current_run()
        if run is not None:
            run.add_notice(f"tool {self.name} hung past its {timeout:g} s timeout and was abandoned (Python threads "
                           f"cannot be killed); abandoned tool threads still running in this process: {live}")
        warning = abandoned.warn_if_many(live)
        if warning is not None and run is not None:
            run.add_notice(warning)
        return f"Error: {msg}"

    def _end_span(self, output: Any = None, **kw: Any) -> None:
        if self.span is not None:
            self.span.end(output, **kw)


def _result_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except Exception:  # circular, or an object whose str() raises: a tool's mistake must not crash the run
        try:
            return str(result)
        except Exception:
            return f"<unprintable {type(result).__name__} result>"


def _sendable(text: str) -> str:
    """``text`` without lone surrogates, which would make the next model request fail to encode."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
