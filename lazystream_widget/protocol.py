"""The wire formats shared by the runtime, the widget runner and the JavaScript.

One place, typed. ``js/protocol.js`` mirrors the names defined here; a test
(``tests/control/test_mirrors.py``) checks that both agree.

Three things cross a boundary:

1. **Queue items** (``FileSystemQueue``): the default queue carries answer text
   deltas as plain strings; ``lazy_think`` carries reasoning deltas as plain
   strings; ``lazy_trace`` carries :class:`TraceEntry` objects, each one JSON
   object on one line ending with ``"\\n"`` (so the seed's ``''.join(value)``
   prints readable lines and each line parses with ``json.loads``).
2. **Widget messages** (kernel -> browser, ``widget.send``): :class:`RunStartMessage`
   and :class:`DeltaMessage`, coalesced, each carrying only what is new.
3. **Widget state** (synced trait ``runs``): a list of :class:`RunState`, the
   authoritative final state that saved notebooks and HTML exports show.

Browser -> kernel: :class:`CancelMessage` and :class:`ResyncMessage`, answered with a
:class:`ControlReplyMessage` and a :class:`SnapshotMessage` (see ``control.py`` and ``resync.py``).
Run markers (:class:`RunMarker`) are ``lazy_trace`` lines of their own that the runner writes
around every run, for watchers in other processes (``StreamView.attach``): ``run_start`` with the
query, ``run_end`` with the status and the (truncated) result. They are not spans: they carry no
``seq`` (spans are numbered 1..n whether or not a marker was read), and runners and watchers take
them out of the entries they hand a display, so the front end never receives one.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

#: Version of the trace entry format; bumped on incompatible change.
TRACE_VERSION = 1

#: Queue instance names (``FileSystemQueue().get_instance(name)``).
ANSWER_QUEUE = "lazy_answer"  # what FileSystemQueue() with no name means
THINK_QUEUE = "lazy_think"
TRACE_QUEUE = "lazy_trace"

#: Widget message types. Kernel -> browser: run_start, delta, snapshot (numbered), control_reply;
#: browser -> kernel: cancel, resync.
MSG_RUN_START = "run_start"
MSG_DELTA = "delta"
MSG_SNAPSHOT = "snapshot"
MSG_CONTROL_REPLY = "control_reply"
MSG_CANCEL = "cancel"
MSG_RESYNC = "resync"

SpanKind = Literal[
    "agent", "llm", "tool", "flow", "module", "chain", "retriever", "embedding", "reranker", "guardrail", "evaluator"
]
#: The first five are our runtime's; the others come from OpenTelemetry / OpenInference producers
#: (see lazystream_widget/integrations/semconv.py).
SPAN_KINDS: tuple[str, ...] = (
    "agent", "llm", "tool", "flow", "module", "chain", "retriever", "embedding", "reranker", "guardrail", "evaluator"
)

#: The ``name`` of the ``event`` entries an llm span writes while the model streams a tool call.
#: Their ``attrs``: ``call_id``, ``index`` (the call's position in the turn), ``tool`` (its name),
#: ``offset`` (characters of argument text sent before this event), ``delta`` (the new argument
#: text), and on the last one ``done: true`` (``cut: true`` when the text stopped at
#: ``TOOL_CALL_STREAM_MAX_CHARS``). The tool span that runs the call carries the same ``call_id``.
TOOL_CALL_EVENT = "tool_call"
#: llm span ``attrs``: where the span's streamed text sits in ``run.text`` / ``run.thinking``, as
#: ``[[start, end], ...]`` in characters (Python ``str`` indices). Absent where no offsets are known.
ATTR_TEXT_RANGES = "text_ranges"
ATTR_THINKING_RANGES = "thinking_ranges"

EntryEvent = Literal["start", "end", "event"]
SpanStatus = Literal["ok", "error", "cancelled"]
RunStatus = Literal["running", "done", "error", "cancelled"]


class ErrorInfo(TypedDict, total=False):
    type: str  # exception class name, e.g. "ValueError"
    message: str  # one line that says what went wrong (the headline), no ANSI codes
    full: str  # the whole message, when it spans lines (runtime/trace.py message_parts); absent otherwise
    detail: str  # traceback or longer text (truncated like any field)


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TraceEntry(TypedDict, total=False):
    """One line of the ``lazy_trace`` queue.

    ``start`` opens a span, ``end`` closes it, ``event`` is a point in time
    inside a span (e.g. ``name="retry"``). ``seq`` is session-wide and strictly
    increasing in queue order, so a consumer can order entries and see gaps.
    """

    v: int
    seq: int
    ts: float  # unix time, seconds
    event: EntryEvent
    span: str  # 16 hex chars
    parent: str | None  # span id of the enclosing span, None at the top
    name: str  # module / tool / model name; for event entries, the event name
    kind: SpanKind
    input: Any  # start; also end for foreign spans whose input is known only then (LazyLLM)
    output: Any  # end only
    status: SpanStatus  # end only
    error: ErrorInfo | None  # end only
    duration_ms: float  # end only
    usage: Usage | None  # end of an llm span
    attrs: dict[str, Any]  # free-form: model, ttft_ms, attempt, arguments...


#: The ``event`` of the run markers.
RUN_START_EVENT = "run_start"
RUN_END_EVENT = "run_end"
RUN_EVENTS: tuple[str, ...] = (RUN_START_EVENT, RUN_END_EVENT)


class RunMarker(TypedDict, total=False):
    """A ``lazy_trace`` line that opens or closes a run (see the module docstring)."""

    v: int
    ts: float  # unix time, seconds
    event: Literal["run_start", "run_end"]
    span: str  # the run's id (Run.id), not a span id
    name: Literal["run"]
    input: str  # run_start: the query (repr() if not a string), truncated like any trace field
    status: RunStatus  # run_end: done, error or cancelled
    output: str | None  # run_end: str() of the result, truncated like any trace field
    error: ErrorInfo | None  # run_end of a failed run
    duration_ms: float  # run_end
    attrs: dict[str, Any]  # run_end: tokens, ttft_ms, text_chars (the answer's full length)


def is_run_marker(entry: Any) -> bool:
    """True for a parsed ``lazy_trace`` entry that is a run marker."""
    return isinstance(entry, dict) and entry.get("event") in RUN_EVENTS


class RunStats(TypedDict, total=False):
    tokens: int  # answer deltas received so far
    ttft_ms: float | None  # time to first answer (or thinking) delta
    elapsed_ms: float


class RunState(TypedDict, total=False):
    """One run of a view, as stored in the widget's ``runs`` trait."""

    id: str  # random, not the session id
    query: str
    status: RunStatus
    text: str  # the streamed answer (never truncated here)
    thinking: str
    entries: list[TraceEntry | str]  # str: a non-JSON trace line from a foreign module
    error: ErrorInfo | None
    result: str | None  # str() of the module's return value when done, if it differs from ``text``
    started_at: float  # unix seconds
    ended_at: float | None
    stats: RunStats
    notices: list[str]  # one-line remarks about the run shown above the answer (e.g. "nothing was streamed: ...")
    prices: dict[str, list[float]]  # the run's configure(prices=...): model -> [input, output] per 1M tokens
    currency: str  # the symbol shown before costs (configure(currency=...))


class RunStartMessage(TypedDict):
    type: Literal["run_start"]
    mseq: int  # per-view message number, from 1, to detect lost messages
    run: RunState


class DeltaMessage(TypedDict, total=False):
    type: Literal["delta"]
    mseq: int
    run: str  # run id
    text: str  # new answer text since the last message
    thinking: str  # new thinking text since the last message
    entries: list[TraceEntry | str]  # new trace entries since the last message
    stats: RunStats  # about once a second, and with the first token; merge into what you have
    n: int  # answer tokens in this message (the browser's count stays in step with the text)
    notices: list[str]  # notices added since the last message


class CancelMessage(TypedDict):
    type: Literal["cancel"]
    run: str


class ResyncMessage(TypedDict, total=False):
    """The browser saw a gap in ``mseq``: it lists what it holds, the kernel sends what it lacks."""

    type: Literal["resync"]
    runs: dict[str, RunStatus]  # every run the browser holds -> the status it shows
    stale: list[str]  # runs the browser knows to be incomplete


class SnapshotMessage(TypedDict):
    """Reply to a resync: each run's state as far as live messages carried it (numbered like the deltas)."""

    type: Literal["snapshot"]
    mseq: int
    runs: list[RunState]


class ControlReplyMessage(TypedDict):
    """Reply to a cancel: the kernel got it (``ok``: this request stopped the run) and on which thread."""

    type: Literal["control_reply"]
    request: Literal["cancel"]
    run: str
    ok: bool
    status: str  # the run's status when the request arrived ("unknown": no such run)
    thread: str  # the kernel thread that handled the request (a subshell's while a cell is busy)


#: Characters that ``str.splitlines`` (and some editors) treat as line breaks but JSON leaves unescaped.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def entry_line(entry: TraceEntry) -> str:
    """Serialize a trace entry to its queue form: one JSON line ending in newline."""
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str).translate(_LINE_BREAKS) + "\n"


def parse_entry(line: str) -> TraceEntry | str:
    """Parse one ``lazy_trace`` item; a line that is not our JSON comes back as text."""
    text = line.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: a foreign line nested thousands deep
            return line
        if isinstance(obj, dict) and "span" in obj and "event" in obj:
            return obj  # type: ignore[return-value]
    return line
