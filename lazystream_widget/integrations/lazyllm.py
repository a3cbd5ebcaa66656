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
2. **A fresh LazyLLM session** (``lazyllm.common.init_session`` / ``teardown_session``, public)
   per run, in a context of its own, and the call submitted through LazyLLM's own
   ``lazyllm.ThreadPoolExecutor``, so LazyLLM's session id (its queue key) reaches the worker
   and concurrent runs never share a queue. LazyLLM cannot be interrupted: a cancelled run ends
   at once, and the session is torn down only when LazyLLM's call has finished in the
   background (tearing it down under the call made LazyLLM fail noisily).
3. **LazyLLM's FileSystemQueue, read as it is**: answer items are JSON such as
   ``{"tag": "text", "delta": ...}`` (also ``think``, ``tool_calls``, ``tool_results`` and
   ``runtime_event``); ``lazy_trace`` items are flat ``str()`` reprs. Text and thinking deltas go
   to our answer and thinking queues. The queue is drained once more after the call's future is
   done, so no token is lost (the seed loop's pitfall).
4. **Where tracing is off or unavailable**, the tree is built from the queue's events instead
   (LLM calls from ``runtime_event``, tool calls from ``tool_calls`` / ``tool_results``, which
   LazyLLM emits only when the agent streams) and a notice says what is missing.

The spans' refinements (kinds at start, tool calls named, plumbing marked internal) are in
:mod:`.lazyllm_spans`; what a cassette in force means for the module's models is in
:mod:`.lazyllm_models`. No LazyLLM code is patched. Nothing here is imported unless a LazyLLM
object is given.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import copy
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from ..limits import LAZYLLM_QUEUE_POLL_S
from ..protocol import TRACE_QUEUE, ErrorInfo
from ..runtime.cancel import RunCancelled, current_token
from ..runtime.queue import FileSystemQueue, answer_queue, think_queue
from ..runtime.session import current_session
from ..runtime.trace import Span, end_with_exception, message_parts, strip_ansi
from . import otel
from .lazyllm_spans import LazyLLMRunSpans
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
    if _tracing_set_up():  # LazyLLM decided already (a module ran before the widget's first LazyLLM run)
        if tracing_available():
            return TracingStatus(otel.ensure_processor(install_provider=False), backend)
        unconfigured = " unconfigured (no LANGFUSE_* keys)" if backend == "langfuse" and not user_chose else ""
        return TracingStatus(
            f"LazyLLM set up its tracing before the widget's first LazyLLM run (a LazyLLM module ran first), with "
            f"its {backend!r} backend{unconfigured}, and it does that once per process, so it makes no spans until "
            "the kernel restarts. To see them: restart the kernel and run a StreamView before calling LazyLLM "
            "directly, or set os.environ['LAZYLLM_TRACE_BACKEND'] = 'local' before importing lazyllm",
            backend,
        )
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


def _tracing_set_up() -> bool:
    """Has LazyLLM set up (or given up on) its tracing runtime in this process? It does so once, at its first
    traced call. (``_runtime._initialized``: not public; pinned to the supported version, covered by tests.)"""
    try:
        from lazyllm.tracing.collect.runtime import _runtime
    except Exception:
        return False
    return bool(getattr(_runtime, "_initialized", False))


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
                    headline, full = message_parts(str(result.get("msg", "tool failed")))
                    error: ErrorInfo = {"type": "ToolError", "message": headline or "tool failed"}
                    if full:
                        error["full"] = full
                    sp.end(status="error", error=error)
                else:
                    sp.end(parse_json_text(strip_ansi(result) if isinstance(result, str) else result))

    def close(self, why: ErrorInfo | None = None) -> None:
        for sp in [*self.calls.values(), *self.tools.values()]:
            if why is None:
                sp.end(status="error", error={"type": "Unfinished", "message": "no end event arrived from LazyLLM"})
            else:
                sp.end(status="cancelled", error=why)


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

        from .lazyllm_models import check_cassettes, replay_failure

        t0 = time.monotonic()
        tapes = check_cassettes(module, notify)  # a replay that would reach the network fails here
        status = prepare_tracing()
        tree: _QueueTree | None = None
        target: LazyLLMRunSpans | None = None
        token = None
        if status.problem is None:
            target = LazyLLMRunSpans(current_session().id, root_is_agent=_is_agent(module))
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
            call = _SessionCall(lazyllm, module, query, _QueueReader(tree))
            result = call.result()
            if call.reader.streamed == 0 and result not in (None, ""):
                notify(_no_stream_notice(module))
            return result
        except BaseException as exc:
            error = exc
            cause = None if isinstance(exc, RunCancelled) else replay_failure(tapes, t0)
            if cause is not None:  # LazyLLM only says "HTTP status 404": the cassette says why
                raise copy.copy(cause) from exc
            raise
        finally:
            why = _cancelled_info(error) if isinstance(error, RunCancelled) else None
            if target is not None:
                otel.release(target, token, why)
            if tree is not None:
                tree.close(why)
                if error is None:
                    tree.root.end(None)
                else:
                    end_with_exception(tree.root, error)

    run_lazyllm.__name__ = _name_of(module)
    return run_lazyllm


def _cancelled_info(error: RunCancelled) -> ErrorInfo:
    """What LazyLLM's spans still open at a cancel say (the run's own error says the rest)."""
    return {"type": "RunCancelled", "message": "cancelled with the run"}


#: Why a cancelled LazyLLM run ends at once although its call does not.
_CANNOT_INTERRUPT = "LazyLLM cannot be interrupted: its call goes on in the background, its output is discarded"


class _SessionCall:
    """One call of a LazyLLM module, in a LazyLLM session of its own, through LazyLLM's pool.

    The session lives in a context of its own (LazyLLM keeps the session id in a context
    variable): the call is submitted from it, so LazyLLM's pool carries the id into its worker,
    and the queue is read in it. The session is torn down once the call has finished: at once
    normally, in the background when the run was cancelled first.
    """

    def __init__(self, lazyllm: Any, module: Any, query: Any, reader: _QueueReader) -> None:
        from lazyllm.common import init_session

        self.context = contextvars.copy_context()  # carries the run's context (its span routing) too
        self.context.run(init_session, f"lazystream-{uuid.uuid4().hex}")
        self.reader = reader
        self.pool = lazyllm.ThreadPoolExecutor(1)
        try:
            self.future = self.context.run(self.pool.submit, module, query)
        except BaseException:
            self._teardown()
            raise

    def result(self) -> Any:
        """Move queue items while the call runs, drain after it is done, return its result."""
        cancel = current_token()
        try:
            while True:
                done = self.future.done()  # read before draining: what was enqueued before done() is drained below
                moved = self.context.run(self.reader.drain)
                if done and not moved:
                    break
                if cancel is not None and cancel.cancelled:
                    self.context.run(self.reader.clear)
                    self.future.add_done_callback(lambda _f: self._teardown())  # once LazyLLM's call is over
                    raise RunCancelled(f"{cancel.reason} ({_CANNOT_INTERRUPT})")
                if not moved:
                    concurrent.futures.wait([self.future], timeout=LAZYLLM_QUEUE_POLL_S)
            outcome = self.future.result()
        except RunCancelled:
            raise
        except BaseException:
            self._teardown()
            raise
        self._teardown()
        return outcome

    def _teardown(self) -> None:
        """End the LazyLLM session: its queue and globals go (quietly: it may run in LazyLLM's worker)."""
        from lazyllm.common import teardown_session

        def end() -> None:
            self.reader.clear()
            teardown_session()

        try:
            self.context.copy().run(end)  # a copy: the original may still be entered by the run's thread
        except Exception:
            pass
        self.pool.shutdown(wait=False)
