"""Chat models over the ``openai`` client: ``OnlineChatModule`` and ``TrainableModule``.

With ``stream=True`` the model's answer deltas go to the session's answer queue as
they arrive and reasoning deltas to ``lazy_think``. Once a tool-call delta appears in
a turn, nothing more of that turn goes to the answer queue (the seed's special-token
rule): users see text the model wrote before the call and the final answer, never
raw tool-call text. The whole message is still collected and returned.

Retries are ours (the client's own are off): only before the first streamed byte,
at most ``MODEL_MAX_RETRIES``, each attempt visible as a ``retry`` event in the trace.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from .. import limits
from ..limits import (
    MODEL_CONNECT_TIMEOUT_S,
    MODEL_MAX_RETRIES,
    MODEL_READ_TIMEOUT_S,
    MODEL_RETRY_AFTER_MAX_S,
    MODEL_RETRY_BACKOFF_S,
    REDACT_MIN_KEY_CHARS,
)
from ..protocol import ATTR_TEXT_RANGES, ATTR_THINKING_RANGES
from . import cancel
from .chat_stream import ChunkStream
from .module import ModuleBase
from .queue import answer_queue, think_queue
from .text_offsets import TextRanges
from .textbuffer import TextBuffer
from .tool_stream import ToolCallStream
from .trace import current_span

#: Known OpenAI-compatible providers: source -> (base URL, default model). ``None`` base: the client's default.
SOURCES: dict[str, tuple[str | None, str]] = {
    "openai": (None, "gpt-4o-mini"),
    "deepseek": ("https://api.deepseek.com/v1", "deepseek-chat"),
    "qwen": ("https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen-plus"),
    "glm": ("https://open.bigmodel.cn/api/paas/v4", "glm-4-flash"),
    "kimi": ("https://api.moonshot.cn/v1", "moonshot-v1-8k"),
    "siliconflow": ("https://api.siliconflow.cn/v1", "Qwen/Qwen2.5-7B-Instruct"),
    "local": ("http://127.0.0.1:8000/v1", "default"),
}


class ModelConfigError(ValueError):
    """The model cannot be reached as configured (missing key, base URL...)."""


class ModelError(RuntimeError):
    """The model request failed (after retries, or mid-stream, which is never retried)."""


class StreamLimitError(ModelError):
    """A streamed model call went past its total time or size bound; the text streamed so far is kept."""


@dataclass
class AssistantMessage:
    """One model turn: text, reasoning, tool calls (arguments as the raw JSON text)."""

    content: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """What a trace shows as the llm span's output."""
        out: dict[str, Any] = {"content": self.content}
        if self.reasoning:
            out["reasoning"] = self.reasoning
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        return out

    def to_message(self) -> dict[str, Any]:
        """The message to append to the conversation history."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = self.tool_calls
        return msg


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value else None


class ChatModuleBase(ModuleBase):
    """Shared by the online and the locally served model: one OpenAI-compatible endpoint."""

    kind = "llm"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None,
        stream: bool = False,
        return_trace: bool = False,
        system_prompt: str | None = None,
        timeout: float | None = None,
        max_retries: int = MODEL_MAX_RETRIES,
        max_stream_seconds: float | None = None,
        max_stream_chars: int | None = None,
        name: str | None = None,
        **request_options: Any,
    ) -> None:
        super().__init__(return_trace=return_trace, name=name)
        self.model = model
        self.base_url = base_url
        self._api_key = api_key  # never traced, never in repr
        self._missing_key_error: str | None = None  # set when built keyless for a cassette replay
        self.stream = bool(stream)
        self.system_prompt = system_prompt
        self.timeout = timeout if timeout is not None else MODEL_READ_TIMEOUT_S
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {max_retries!r}")
        self.max_retries = max_retries
        self.max_stream_seconds = _positive("max_stream_seconds", max_stream_seconds, limits.MODEL_STREAM_MAX_S)
        self.max_stream_chars = _positive("max_stream_chars", max_stream_chars, limits.MODEL_STREAM_MAX_CHARS)
        self.request_options = request_options
        self._client_obj = None
        self._client_lock = threading.Lock()
        # The openai import (about 1 s on a busy machine) is paid here, on the line that makes the model, not
        # by its first run, whose "first token" it inflated. `import lazystream_widget` stays light.
        _import_openai()

    @property
    def name(self) -> str:
        return self._name or self.model

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r} base_url={self.base_url!r} stream={self.stream}>"

    # ---- the client -------------------------------------------------------------

    def _client(self):
        if self._client_obj is None:
            if self._api_key is None and self._missing_key_error:
                raise ModelConfigError(f"{self._missing_key_error} (it was built while a cassette replayed; "
                                       "outside a replaying cassette it needs a key)")
            with self._client_lock:
                if self._client_obj is None:
                    self._client_obj = self._make_client(self._api_key)
        return self._client_obj

    def _make_client(self, api_key: str | None):
        openai = _import_openai()  # imported on first use: importing our package stays fast
        return openai.OpenAI(
            api_key=api_key,
            base_url=self.base_url,
            max_retries=0,  # our policy, visible in the trace
            timeout=openai.Timeout(self.timeout, connect=MODEL_CONNECT_TIMEOUT_S),
        )

    def _warm_client(self) -> None:
        """Import openai and build the client before the llm span starts, not inside it.

        Both are a one-off cost of the first call in a process (about 1.5 s on a busy 2-core machine: the
        import, an SSL context, the lazily imported ``chat.completions``); counted inside the span, they made
        the first call's ``ttft_ms`` and duration look like model latency. A failure here is not raised: the
        same call fails again inside the span, where the trace records it.
        """
        if self._client_obj is not None or self._api_key is None:  # (openai itself: imported by the constructor)
            return
        try:
            self._client().chat.completions  # noqa: B018  (openai imports its resources on first access)
        except Exception:  # see above: raised again, and traced, by the call itself
            pass

    def traced(self, fn: Any, input: Any, *args: Any, _attrs: dict | None = None, **kwargs: Any) -> Any:
        self._warm_client()
        return super().traced(fn, input, *args, _attrs=_attrs, **kwargs)

    def _call_client(self):
        """The client for one call: through the cassette in force (record / replay), else our own."""
        from ..cassettes.activation import client_for

        return client_for(self) or self._client()

    # ---- calling ----------------------------------------------------------------

    def forward(self, input: Any, tools: list[dict[str, Any]] | None = None, **kwargs: Any) -> str:
        """Ask the model; ``input`` is a user message (str) or a list of chat messages."""
        return self._chat(_as_messages(input, self.system_prompt), tools, **kwargs).content

    def chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> AssistantMessage:
        """One model turn over a message list (what agents call); traced as an llm span."""
        return self.traced(self._chat, messages, messages, tools, _attrs=self.span_attrs())

    def span_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"model": self.model, "stream": self.stream}
        if self.base_url:
            attrs["base_url"] = self.base_url
        return attrs

    def _chat(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, **kw: Any):
        request: dict[str, Any] = {"model": self.model, "messages": messages, **self.request_options, **kw}
        if tools:
            request["tools"] = tools
        sp = current_span()
        sp = sp if sp is not None and sp.kind == "llm" and not sp.ended else None
        t0 = time.perf_counter()
        if not self.stream:
            resp = self._with_retries(lambda: self._call_client().chat.completions.create(**request), sp)
            msg = _message_from_completion(resp)
        else:
            request["stream"] = True
            request.setdefault("stream_options", {"include_usage": True})
            stream = self._with_retries(lambda: ChunkStream(self._call_client(), request), sp)
            msg = self._consume_stream(stream, sp, t0)
        if sp is not None:
            sp.usage = msg.usage
            if msg.finish_reason:
                sp.attrs["finish_reason"] = msg.finish_reason
        if sp is not None and tools:
            sp.attrs["tools"] = [t.get("function", {}).get("name") for t in tools if isinstance(t, dict)]
        if sp is not None and msg.tool_calls:
            sp.attrs["tool_calls"] = [c["function"]["name"] for c in msg.tool_calls]
        return msg

    def _with_retries(self, call, sp):
        import openai

        attempt = 0
        while True:
            cancel.check_cancelled()
            attempt += 1
            try:
                return call()
            except (openai.APIConnectionError, openai.APIStatusError) as exc:
                from ..cassettes.activation import error_of

                if (cassette_error := error_of(exc)) is not None:
                    raise cassette_error from None  # a replay with no recorded answer: say so, never retry
                status = getattr(exc, "status_code", None)
                retryable = status is None or status == 429 or status >= 500
                if sp is not None:
                    sp.event("retry" if retryable and attempt <= self.max_retries else "attempt_failed",
                             attempt=attempt, status=status, error=self._redact(_short_error(exc)))
                if not retryable or attempt > self.max_retries:
                    raise ModelError(self._redact(_describe_failure(exc, self, attempt))) from self._safe_cause(exc)
                cancel.sleep(_retry_delay(exc, attempt))

    def _redact(self, text: str) -> str:
        """``text`` with this module's API key masked (some servers echo the key in their error messages)."""
        key = self._api_key
        if key and len(key) >= REDACT_MIN_KEY_CHARS and key in text:
            return text.replace(key, f"{key[:3]}…{key[-4:]}")
        return text

    def _safe_cause(self, cause: BaseException) -> BaseException | None:
        """``cause``, or None (no chain) if its printed traceback would quote the API key."""
        key = self._api_key
        if key and len(key) >= REDACT_MIN_KEY_CHARS and key in "".join(traceback.format_exception(cause)):
            return None
        return cause

    def _consume_stream(self, stream, sp, t0: float) -> AssistantMessage:
        token = cancel.current_token()
        unregister = token.on_cancel(lambda: _abort_stream(stream)) if token is not None else (lambda: None)
        answer, thinking = answer_queue(), think_queue()
        msg = AssistantMessage()
        content, reasoning = TextBuffer(), TextBuffer()  # one growing buffer each, not an object per delta
        calls = ToolCallStream(sp)  # merges tool-call deltas; shows their arguments live in the trace
        answer_at, thinking_at = TextRanges(), TextRanges()  # where this call's text lands in run.text
        first = None
        chars, cut = 0, None  # the call's total bounds (finding: an endless trickle was never cut off)
        try:
            for chunk in stream:
                if token is not None:
                    if token.cancelled:
                        break
                    if token.hold_reads_until and token.hold_reads():  # the view looks later: cancelled meanwhile
                        break
                cut = self._over_bounds(t0, chars)
                if cut is not None:
                    break
                usage = chunk.get("usage")
                if usage:
                    msg.usage = _usage_dict(usage)
                choices = chunk.get("choices")
                if not choices:
                    continue
                choice = choices[0]
                if choice.get("finish_reason"):
                    msg.finish_reason = choice["finish_reason"]
                delta = choice.get("delta")
                if not delta:
                    continue
                think = delta.get("reasoning_content") or delta.get("reasoning")
                if think and isinstance(think, str):
                    first = first or time.perf_counter()
                    chars += len(think)
                    reasoning.add(think)
                    thinking_at.add(thinking.enqueue_at(think), len(think))
                tool_deltas = delta.get("tool_calls")
                if tool_deltas:
                    chars += _tool_delta_chars(tool_deltas)
                    calls.feed(tool_deltas)
                text = delta.get("content")
                if text:
                    first = first or time.perf_counter()
                    chars += len(text)
                    content.add(text)
                    if not calls:  # the seed's rule: stop pushing once a tool call began
                        answer_at.add(answer.enqueue_at(text), len(text))
        except Exception as exc:
            if token is not None and token.cancelled:
                stream.close()
                raise cancel.RunCancelled(token.reason) from None
            raise ModelError(self._redact(
                f"the stream from {self.model!r} broke after {content.count} chunks: {_short_error(exc)}"
            )) from self._safe_cause(exc)
        finally:
            unregister()
            if sp is not None:
                if first is not None:
                    sp.attrs["ttft_ms"] = round((first - t0) * 1000, 1)
                for key, at in ((ATTR_TEXT_RANGES, answer_at), (ATTR_THINKING_RANGES, thinking_at)):
                    ranges = at.ranges()
                    if ranges:
                        sp.attrs[key] = ranges
        if token is not None and token.cancelled:
            stream.close()
            raise cancel.RunCancelled(token.reason)
        if cut is not None:
            _abort_stream(stream)  # the server sees the hang-up; what was streamed stays in the answer
            raise StreamLimitError(f"the stream from {self.model!r} was cut: {cut}; the {chars} characters streamed "
                                   "so far are kept")
        calls.close()
        msg.content = content.take()  # the string is then the only copy of a long answer
        msg.reasoning = reasoning.take()
        msg.tool_calls = calls.ordered()
        return msg


    def _over_bounds(self, t0: float, chars: int) -> str | None:
        """Why the call must end now (past its total time or size bound), or None."""
        elapsed = time.perf_counter() - t0
        if elapsed > self.max_stream_seconds:
            return (f"it streamed for more than {self.max_stream_seconds:g} s (max_stream_seconds; raise it with "
                    f"{type(self).__name__}(..., max_stream_seconds=...))")
        if chars > self.max_stream_chars:
            return (f"it streamed more than {self.max_stream_chars} characters (max_stream_chars; raise it with "
                    f"{type(self).__name__}(..., max_stream_chars=...))")
        return None


_IMPORT_LOCK = threading.Lock()


def _import_openai() -> Any:
    """The ``openai`` module, with ``httpx`` (if installed) fully imported before it.

    Why httpx: openai clients built on ``httpx2`` look ``httpx`` up in ``sys.modules`` on every
    request, outside the import lock, to accept the older library's objects. A request built while
    another thread imports ``httpx`` for the first time (our cassette proxy does, when it starts
    recording; so may user code) finds the half-initialised module and fails with
    "partially initialized module 'httpx' has no attribute 'Timeout'". Every client we make comes
    from here, so by the time any of our requests is in flight, ``httpx`` is complete.
    """
    with _IMPORT_LOCK:
        try:
            import httpx  # noqa: F401
        except ImportError:  # pragma: no cover - httpx is a dependency; nothing to race with without it
            pass
        import openai
    return openai


def _positive(name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number (math.inf for no bound), got {value!r}")
    return value


def _abort_stream(stream: Any) -> None:
    """Close a stream from another thread (a cancel), waking the thread blocked reading it.

    Closing the socket alone does not wake a ``recv`` blocked in another thread (a
    silent, stalled model would hold the run until the read timeout); shutting it
    down does, and the server sees the connection end at once.
    """
    try:
        net = stream.response.extensions.get("network_stream")
        sock = net.get_extra_info("socket") if net is not None else None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        pass  # no socket to reach (another transport): closing below still ends the stream
    stream.close()


def _as_messages(input: Any, system_prompt: str | None) -> list[dict[str, Any]]:
    if isinstance(input, list) and all(isinstance(m, dict) and "role" in m for m in input):
        messages = list(input)
    elif isinstance(input, str):
        messages = [{"role": "user", "content": input}]
    else:
        raise TypeError(
            f"a chat model takes a str (the user's message) or a list of messages with a 'role', "
            f"got {type(input).__name__}"
        )
    if system_prompt and not (messages and messages[0].get("role") == "system"):
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


_REASONING_NAMES = ("reasoning_content", "reasoning")
#: per class: which of _REASONING_NAMES are real attributes of its instances (cached: looked up per delta)
_REASONING_ATTRS: dict[type, tuple[str, ...]] = {}


def _reasoning_attrs(cls: type) -> tuple[str, ...]:
    fields = getattr(cls, "model_fields", None)
    if isinstance(fields, dict):  # a pydantic model (the openai client's delta): only declared fields
        return tuple(n for n in _REASONING_NAMES if n in fields)
    return _REASONING_NAMES  # any other object: plain getattr is cheap


def _reasoning_of(delta: Any) -> str | None:
    """The reasoning text of a delta or message (``reasoning_content`` / ``reasoning``), or None.

    Called once per streamed delta, so it stays cheap: the openai client's delta declares
    neither field, and ``getattr`` of an undeclared name on a pydantic model costs an
    exception inside pydantic; such fields arrive in ``model_extra`` (a dict, usually empty).
    """
    cls = type(delta)
    names = _REASONING_ATTRS.get(cls)
    if names is None:
        names = _REASONING_ATTRS[cls] = _reasoning_attrs(cls)
    for name in names:
        value = getattr(delta, name, None)
        if isinstance(value, str) and value:
            return value
    extra = getattr(delta, "__pydantic_extra__", None)
    if extra:
        for name in _REASONING_NAMES:
            value = extra.get(name)
            if isinstance(value, str) and value:
                return value
    return None


def _tool_delta_chars(deltas: list[dict[str, Any]]) -> int:
    """Characters of tool-call names and arguments in one chunk (they count against ``max_stream_chars``)."""
    added = 0
    for d in deltas:
        fn = d.get("function")
        if fn:
            added += len(fn.get("name") or "") + len(fn.get("arguments") or "")
    return added


def _message_from_completion(resp: Any) -> AssistantMessage:
    choice = resp.choices[0]
    m = choice.message
    calls = [
        {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments or ""}}
        for c in (m.tool_calls or [])
    ]
    return AssistantMessage(
        content=m.content or "",
        reasoning=_reasoning_of(m) or "",
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        usage=_usage_dict(resp.usage) if resp.usage is not None else None,
    )


def _usage_dict(usage: Any) -> dict[str, int]:
    """Token counts of a usage object (a completion's) or dict (a streamed chunk's)."""
    get = usage.get if isinstance(usage, dict) else lambda k: getattr(usage, k, None)
    return {k: int(get(k)) for k in ("prompt_tokens", "completion_tokens", "total_tokens") if get(k) is not None}


def _short_error(exc: BaseException) -> str:
    """``Type: first line of the message``, without a final period (callers go on with their own)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300].rstrip(" .")


def _retry_delay(exc: Any, attempt: int) -> float:
    response = getattr(exc, "response", None)
    if response is not None:
        after = response.headers.get("retry-after")
        if after:
            try:
                return min(max(float(after), 0.0), MODEL_RETRY_AFTER_MAX_S)
            except ValueError:
                pass
    return MODEL_RETRY_BACKOFF_S * 2 ** (attempt - 1)


def _describe_failure(exc: Any, module: ChatModuleBase, attempts: int) -> str:
    where = module.base_url or "the OpenAI API"
    status = getattr(exc, "status_code", None)
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if status is None:
        return (f"cannot reach the model at {where}{tries}: {_short_error(exc)}. "
                "Is the server running, and is the base URL right (it usually ends in /v1)?")
    if status in (401, 403):
        return f"the model at {where} refused the API key (HTTP {status}); check the key for this source"
    if status == 404:
        return f"the model at {where} answered 404: is the model name {module.model!r} and the base URL right?"
    return f"the model at {where} failed with HTTP {status}{tries}: {_short_error(exc)}"


class OnlineChatModule(ChatModuleBase):
    """A model behind any OpenAI-compatible endpoint.

    Args:
        source: provider name (``openai``, ``deepseek``, ``qwen``, ``glm``, ``kimi``, ``siliconflow``,
            ``local``, or any name of yours); it picks the environment variables
            ``LAZYSTREAM_<SOURCE>_API_KEY``, ``LAZYSTREAM_<SOURCE>_BASE_URL`` and ``LAZYSTREAM_<SOURCE>_MODEL``,
            then the client's own ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``.
        model: model name (default: ``LAZYSTREAM_<SOURCE>_MODEL`` or the source's usual model).
        base_url, api_key: override the environment.
        stream: push answer deltas to the answer queue as they arrive.
        return_trace: write an ``llm`` span per call.
        timeout: seconds without a byte before a stream counts as stalled (default 60).
        max_stream_seconds, max_stream_chars: total bounds of one streamed call (defaults 1800 s and
            32 Mi characters, ``limits.MODEL_STREAM_MAX_S`` / ``MODEL_STREAM_MAX_CHARS``; ``math.inf`` for
            none). Past either, the call ends with :class:`StreamLimitError` and the text streamed so far is kept.
    """

    def __init__(
        self,
        source: str = "openai",
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        stream: bool = False,
        return_trace: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(source, str) or not source.replace("_", "").replace("-", "").isalnum():
            raise ModelConfigError(f"source must be a provider name such as 'openai', got {source!r}")
        prefix = f"LAZYSTREAM_{source.upper().replace('-', '_')}_"
        known_base, known_model = SOURCES.get(source.lower(), (None, None))
        base_url = base_url or _env(prefix + "BASE_URL") or _env("OPENAI_BASE_URL") or known_base
        api_key = api_key or _env(prefix + "API_KEY") or _env("OPENAI_API_KEY")
        model = model or _env(prefix + "MODEL") or known_model
        if not model:
            raise ModelConfigError(
                f"OnlineChatModule(source={source!r}) needs a model: pass model=... or set {prefix}MODEL"
            )
        missing_key = None
        if not api_key:
            if base_url and _is_loopback(base_url):
                api_key = "not-needed"  # local servers usually take any key
            else:
                missing_key = (
                    f"OnlineChatModule(source={source!r}) has no API key: set {prefix}API_KEY (or OPENAI_API_KEY), "
                    "or pass api_key=...; for a local server pass base_url='http://127.0.0.1:PORT/v1'"
                )
                from ..cassettes.activation import missing_key_hint, replaying

                if not replaying():  # a replaying cassette answers without a key: build the module as written
                    raise ModelConfigError(missing_key + missing_key_hint())
        self.source = source
        super().__init__(model, base_url=base_url, api_key=api_key, stream=stream, return_trace=return_trace, **kwargs)
        self._missing_key_error = missing_key


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    host = (urlparse(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")
