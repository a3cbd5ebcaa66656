"""Real LazyLLM (1.4.0) in the widget: its queue formats and its OpenTelemetry spans, translated to ours.

A run of a LazyLLM module, flow or agent (unchanged) goes like this, in the run's pool worker:

1. **Tracing.** Once per process, before LazyLLM's first span: if the user configured no
   LazyLLM tracing backend (its default, Langfuse, without ``LANGFUSE_*`` keys, creates no tracer
   provider at all, so no spans), select LazyLLM's ``local`` backend with its storage in a
   temporary directory; a configured backend (the user's Langfuse) is left as it is. Then let
   LazyLLM set up its tracer provider (``lazyllm.tracing.tracing_available()``, public) and add
   our span processor to it (:mod:`.otel`). LazyLLM's spans then reach the tree live: a node
   shows its name when it starts and its kind, input, model and usage when it ends (LazyLLM
   sets its attributes only then).
2. **A fresh LazyLLM session** (``lazyllm.common.new_session``, public) per run, and the call
   submitted through LazyLLM's own ``lazyllm.ThreadPoolExecutor``, so LazyLLM's session id (its
   queue key) reaches the worker and concurrent runs never share a queue.
3. **LazyLLM's FileSystemQueue, read as it is**: answer items are JSON such as
   ``{"tag": "text", "delta": ...}`` (also ``think``, ``tool_calls``, ``tool_results`` and
   ``runtime_event``); ``lazy_trace`` items are flat ``str()`` reprs. Text and thinking deltas go
   to our answer and thinking queues. The queue is drained once more after the call's future is
   done, so no token is lost (the seed loop's pitfall).
4. **Where tracing is off or unavailable**, the tree is built from the queue's events instead
   (LLM calls from ``runtime_event``, tool calls from ``tool_calls`` / ``tool_results``, which
   LazyLLM emits only when the agent streams) and a notice says what is missing.

No LazyLLM code is patched. Nothing here is imported unless a LazyLLM object is given.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from ..limits import LAZYLLM_QUEUE_POLL_S
from ..protocol import TRACE_QUEUE, TraceEntry
from ..runtime.cancel import RunCancelled, current_token
from ..runtime.queue import FileSystemQueue, answer_queue, think_queue
from ..runtime.session import current_session
from ..runtime.trace import Span, end_with_exception, strip_ansi
from . import otel
from .semconv import parse_json_text

#: The LazyLLM version this adapter is written against and tested with (the ``[lazyllm]`` extra pins it).
SUPPORTED_VERSION = "1.4.0"

Notify = Callable[[str], None]


def is_lazyllm_object(obj: Any) -> bool:
    """True for an instance (or function) from the ``lazyllm`` package, without importing it."""
    if "lazyllm" not in sys.modules:
        return False  # nothing from lazyllm can exist before it is imported
    module = getattr(type(obj), "__module__", "") or ""
    return module == "lazyllm" or module.startswith("lazyllm.")


# ---- tracing setup (once per process) ----------------------------------------------------------


@dataclass(frozen=True)
class TracingStatus:
    problem: str | None  # None: LazyLLM makes spans and our processor receives them
    backend: str = ""
    storage: str | None = None  # the temporary directory of the local backend we selected


_status: TracingStatus | None = None
_status_lock = threading.Lock()


def _langfuse_configured() -> bool:
    return all(os.environ.get(k) for k in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY")) and bool(
        os.environ.get("LANGFUSE_HOST") or os.environ.get("LANGFUSE_BASE_URL")
    )


def prepare_tracing() -> TracingStatus:
    """Make LazyLLM's tracing produce spans (selecting its local backend if none is configured). Once."""
    global _status
    if _status is not None:
        return _status
    with _status_lock:
        if _status is None:
            _status = _prepare_tracing()
    return _status


def _prepare_tracing() -> TracingStatus:
    import lazyllm

    if not otel.sdk_available():
        return TracingStatus("the OpenTelemetry SDK is not installed (pip install 'lazystream-widget[lazyllm]')")
    from lazyllm.tracing import tracing_available

    config = lazyllm.config
    if not config["trace_enabled"]:
        return TracingStatus("LazyLLM's tracing is switched off (LAZYLLM_TRACE_ENABLED)")
    backend, storage = config["trace_backend"], None
    user_chose = bool(os.environ.get("LAZYLLM_TRACE_BACKEND")) or backend != "langfuse" or _langfuse_configured()
    if not user_chose:
        # Its default backend (Langfuse) is unconfigured: LazyLLM would create no tracer at all.
        storage = tempfile.mkdtemp(prefix="lazystream-lazyllm-traces-")
        import atexit

        atexit.register(shutil.rmtree, storage, True)  # runs after LazyLLM's own exit flush
        config["trace_local_storage_dir"] = storage
        config["trace_backend"] = backend = "local"
    if not tracing_available():
        return TracingStatus(
            f"LazyLLM's tracing backend {backend!r} did not start (see LazyLLM's warning in the log; its tracing "
            "may have started unconfigured before the widget's first run, which lasts for the whole process)",
            backend,
            storage,
        )
    problem = otel.ensure_processor(install_provider=False)
    return TracingStatus(problem, backend, storage)


# ---- LazyLLM's spans: tool calls named --------------------------------------------------------


class LazyLLMRunSpans(otel.RunSpans):
    """LazyLLM's spans of one run, with its tool calls shown as tool nodes.

    LazyLLM 1.4.0 runs each tool call as a ``_indexed_call`` span (output ``[index, result,
    error]``) under a ``Diverter`` under its ``ToolManager``, whose input holds the calls' names,
    arguments and ids but is known only when it ends (LazyLLM sets attributes at the end), just
    after the calls. So a call shows as ``tool call`` while it runs; its end entry is held back
    until its ToolManager ends and then written once, with the tool's name, arguments and id.
    """

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self._names: dict[str, str] = {}
        self._parents: dict[str, str | None] = {}
        self._held: dict[str, dict[int, TraceEntry]] = {}  # ToolManager span -> call index -> end entry

    def refine_start(self, span: Any, entry: TraceEntry) -> None:
        self._names[entry["span"]] = entry["name"]
        self._parents[entry["span"]] = entry.get("parent")
        if entry["name"] == "_indexed_call":
            entry["name"], entry["kind"] = "tool call", "tool"

    def refine_end(self, span: Any, entry: TraceEntry) -> list[TraceEntry]:
        sid = entry["span"]
        name = self._names.pop(sid, None)
        if name == "_indexed_call":
            return self._tool_call_ended(sid, entry)
        if name == "ToolManager":
            return [*self._named_calls(sid, entry.get("input")), entry]
        return [entry]

    def _tool_call_ended(self, sid: str, entry: TraceEntry) -> list[TraceEntry]:
        entry["name"], entry["kind"] = "tool call", "tool"
        entry.pop("input", None)  # a placeholder ({"args": [{}]}): the arguments come from the ToolManager
        out = entry.get("output")
        if not (isinstance(out, list) and len(out) == 3 and isinstance(out[0], int)):
            return [entry]
        index, result, error = out
        if isinstance(result, dict) and result.get("ok") is True and "value" in result:
            result = result["value"]  # LazyLLM's tool result envelope, without a sandbox
        elif isinstance(result, dict) and result.get("ok") is False:
            error = error or result.get("msg") or "tool failed"
            result = None
        entry["output"] = parse_json_text(result)
        if error:
            message = strip_ansi(str(error)).strip().splitlines()
            entry["status"] = "error"
            entry["error"] = {"type": "ToolError", "message": message[0] if message else "tool failed"}
        diverter = self._parents.get(sid)
        manager = self._parents.get(diverter) if diverter else None
        if manager is None:
            return [entry]
        self._held.setdefault(manager, {})[index] = entry
        return []

    def _named_calls(self, manager: str, manager_input: Any) -> list[TraceEntry]:
        held = self._held.pop(manager, {})
        listed = manager_input.get("args") if isinstance(manager_input, dict) else None
        calls = listed[0] if isinstance(listed, list) and listed and isinstance(listed[0], list) else []
        for index, entry in held.items():
            call = calls[index] if index < len(calls) and isinstance(calls[index], dict) else {}
            fn = call.get("function") if isinstance(call.get("function"), dict) else {}
            if fn.get("name"):
                arguments = parse_json_text(fn.get("arguments"))
                entry["name"] = str(fn["name"])
                entry["input"] = arguments
                entry["attrs"] = {**(entry.get("attrs") or {}), "arguments": arguments, "call_id": call.get("id")}
        return [held[i] for i in sorted(held)]

    def flush(self) -> list[TraceEntry]:
        held, self._held = self._held, {}
        return [entry for calls in held.values() for _, entry in sorted(calls.items())]


# ---- the queue: answer text, and a tree when there are no spans ---------------------------------


class _QueueTree:
    """A tree built from LazyLLM's queue events, for runs without spans."""

    def __init__(self, root: Span) -> None:
        self.root = root
        self.calls: dict[str, Span] = {}
        self.tools: dict[str, Span] = {}

    def _span(self, name: str, kind: str, input: Any = None, attrs: dict | None = None) -> Span:
        sp = Span(name, kind, self.root, self.root.session_id)
        sp.start(input, attrs)
        return sp

    def event(self, item: dict[str, Any]) -> None:
        tag = item.get("tag")
        if tag == "runtime_event":
            ev = item.get("runtime_event") or {}
            data = ev.get("data") or {}
            call = str(data.get("model_call_id", ""))
            if ev.get("type") == "model_call_started":
                self.calls[call] = self._span("llm", "llm")
            elif call in self.calls:
                sp = self.calls.pop(call)
                usage = data.get("usage") or {}
                usage = {k: usage[k] for k in ("prompt_tokens", "completion_tokens") if isinstance(usage.get(k), int)}
                failed = data.get("kind") not in (None, "finish")
                sp.end(
                    status="error" if failed else "ok", usage=usage or None,
                    error={"type": "ModelError", "message": strip_ansi(str(data.get("error") or data.get("kind")))}
                    if failed else None,
                    attrs={k: data[k] for k in ("finish", "attempt_count") if k in data},
                )  # fmt: skip
        elif tag == "tool_calls":
            for call in item.get("tool_calls") or []:
                fn = call.get("function") or {}
                arguments = parse_json_text(fn.get("arguments"))
                self.tools[str(call.get("id"))] = self._span(
                    str(fn.get("name") or "tool call"), "tool", arguments, {"call_id": call.get("id")}
                )
        elif tag == "tool_results":
            for res in item.get("tool_results") or []:
                sp = self.tools.pop(str(res.get("id")), None)
                if sp is None:
                    continue
                result = res.get("result")
                if isinstance(result, dict) and result.get("ok") is False:
                    message = strip_ansi(str(result.get("msg", "tool failed"))).strip().splitlines()
                    sp.end(status="error", error={"type": "ToolError", "message": message[0] if message else ""})
                else:
                    sp.end(parse_json_text(strip_ansi(result) if isinstance(result, str) else result))

    def close(self) -> None:
        for sp in [*self.calls.values(), *self.tools.values()]:
            sp.end(status="error", error={"type": "Unfinished", "message": "no end event arrived from LazyLLM"})


class _QueueReader:
    """Moves one LazyLLM session's queue items into our run's queues."""

    def __init__(self, tree: _QueueTree | None) -> None:
        import lazyllm

        self.answer_in = lazyllm.FileSystemQueue()
        self.trace_in = lazyllm.FileSystemQueue.get_instance("lazy_trace")
        self.answer = answer_queue()
        self.think = think_queue()
        self.trace = FileSystemQueue(TRACE_QUEUE)
        self.tree = tree
        self.streamed = 0  # text deltas seen

    def drain(self) -> bool:
        """Move what is waiting; True if anything was."""
        items = self.answer_in.dequeue()
        traces = self.trace_in.dequeue()
        for raw in items:
            self._item(raw)
        if self.tree is not None:  # with spans, the tree says it all; else show LazyLLM's flat reprs
            for text in traces:
                self.trace.enqueue(strip_ansi(str(text)).rstrip("\n") + "\n")
        return bool(items or traces)

    def _item(self, raw: Any) -> None:
        item = None
        if isinstance(raw, str) and raw.startswith("{"):
            try:
                item = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: model text nested thousands deep
                item = None
        if not isinstance(item, dict) or "tag" not in item:
            self.answer.enqueue(strip_ansi(str(raw)))  # not LazyLLM's JSON: plain answer text
            self.streamed += 1
            return
        tag = item["tag"]
        if tag in ("text", "think"):
            delta = strip_ansi(str(item.get("delta", "")))
            if delta:
                (self.answer if tag == "text" else self.think).enqueue(delta)
                self.streamed += 1
        elif self.tree is not None:
            self.tree.event(item)

    def clear(self) -> None:
        self.answer_in.clear()
        self.trace_in.clear()


# ---- the run ---------------------------------------------------------------------------------------


def _name_of(module: Any) -> str:
    return getattr(module, "name", None) or type(module).__name__


def _is_agent(module: Any) -> bool:
    return any(c.__name__ == "LazyLLMAgentBase" for c in type(module).__mro__)


def _no_stream_notice(module: Any) -> str:
    if _is_agent(module) and not getattr(module, "_stream", True):
        return (
            "LazyLLM streamed nothing: in LazyLLM 1.4.0 an agent streams only when the agent itself is given "
            f"stream=True (e.g. {type(module).__name__}(llm, tools, stream=True)); stream=True on its model alone "
            "is overridden by the agent. Below is the agent's return value."
        )
    return (
        "LazyLLM streamed nothing: create the model with stream=True (and an agent with stream=True too) "
        "to see the answer as it is written. Below is the return value."
    )


def invoker(module: Any, notify: Notify | None = None) -> Callable[[Any], Any]:
    """A callable that runs ``module`` on a query the LazyLLM way, writing into the current run's queues."""
    notify = notify or (lambda _text: None)

    def run_lazyllm(query: Any) -> Any:
        import lazyllm
        from lazyllm.common import new_session

        status = prepare_tracing()
        tree: _QueueTree | None = None
        target: LazyLLMRunSpans | None = None
        token = None
        if status.problem is None:
            target = LazyLLMRunSpans(current_session().id)
            token = otel.activate(target)  # LazyLLM's pool carries it into its workers
        else:
            root = Span(_name_of(module), "agent" if _is_agent(module) else "module", None, current_session().id)
            root.start(query)
            tree = _QueueTree(root)
            notify(
                f"No LazyLLM spans: {status.problem}. The tree is built from LazyLLM's queue events, so it has no "
                "flow or pipeline steps, and LLM and tool calls only when the agent streams (stream=True)."
            )
        error: BaseException | None = None
        try:
            with new_session(f"lazystream-{uuid.uuid4().hex}"):
                reader = _QueueReader(tree)
                result = _call(lazyllm, module, query, reader)
            if reader.streamed == 0 and result not in (None, ""):
                notify(_no_stream_notice(module))
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            if target is not None:
                otel.release(target, token)
            if tree is not None:
                tree.close()
                if error is None:
                    tree.root.end(None)
                else:
                    end_with_exception(tree.root, error)

    run_lazyllm.__name__ = _name_of(module)
    return run_lazyllm


def _call(lazyllm: Any, module: Any, query: Any, reader: _QueueReader) -> Any:
    """Submit through LazyLLM's pool, move queue items while it runs, drain after it is done."""
    pool = lazyllm.ThreadPoolExecutor(1)
    future = pool.submit(module, query)
    cancel = current_token()
    try:
        while True:
            done = future.done()  # read before draining: what was enqueued before done() is drained below
            moved = reader.drain()
            if done and not moved:
                break
            if cancel is not None and cancel.cancelled:
                reader.clear()
                raise RunCancelled(
                    f"{cancel.reason} (LazyLLM cannot be interrupted: its call goes on in the background, "
                    "its output is discarded)"
                )
            if not moved:
                concurrent.futures.wait([future], timeout=LAZYLLM_QUEUE_POLL_S)
        return future.result()
    finally:
        pool.shutdown(wait=False)
