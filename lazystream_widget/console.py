"""``StreamConsole``: a live view of a module's runs in a terminal.

    console = StreamConsole(agent)
    run = console.ask("What's the weather in Tokyo?")   # the answer streams as flowing text

The answer prints as it streams (reasoning first, dimmed, when the model sends any);
when the run ends, the trace prints as an indented tree and one status line says how
it ended. With ``rich`` installed (``pip install "lazystream-widget[console]"``) the
tree and status are coloured in a terminal; without it the same layout is plain text.
It is a :class:`~lazystream_widget.runner.RunSink` like :class:`~lazystream_widget.StreamView`,
so everything a run offers (``run.text``, ``run.trace``, ``run.wait()``...) works the same.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import IO, Any, Callable

from .protocol import TOOL_CALL_EVENT
from .runner import Run
from .spans import SpanRecord, build_spans, roots
from .tracebacks import user_facing
from .views import RunHistory, check_module, module_name

#: A tool's arguments or output longer than this is cut in the tree (the full value is in ``run.trace``).
TREE_VALUE_MAX_CHARS = 80


def _short(value: Any, limit: int = TREE_VALUE_MAX_CHARS) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _arguments(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v!r}" for k, v in value.items())
    return _short(value)


def _counted(names: list[str]) -> str:
    """``a ×2, b``: names in first-seen order with their counts."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in counts.items())


def _seconds(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _raised_below(span: SpanRecord) -> bool:
    """Whether the span's error is one a child span already failed with (it passed through this span)."""
    mine = (span.error or {}).get("type"), (span.error or {}).get("message")
    return any(c.status == "error" and ((c.error or {}).get("type"), (c.error or {}).get("message")) == mine
               for c in span.children)


def span_label(span: SpanRecord) -> tuple[str, str]:
    """(what the span is, its details) in one line each: ``tool get_current_weather(location='Tokyo')``."""
    if span.kind == "tool":
        head = f"tool {span.name}({_arguments(span.arguments)})"
        detail = f"→ {_short(span.output)}" if span.status == "ok" else ""
    elif span.kind == "llm":
        model = span.attrs.get("model")
        head = f"llm {model or span.name}"
        usage = span.usage or {}
        calls = span.attrs.get("tool_calls")
        bits = [f"{usage['completion_tokens']} tokens" if usage.get("completion_tokens") else "",
                f"asks for {_counted(calls)}" if calls else ""]
        detail = " · ".join(b for b in bits if b)
    else:
        head = f"{span.kind} {span.name}"
        detail = ""
    timing = _seconds(span.duration_ms)
    if span.status == "error" and span.error:
        kind = span.error.get("type")
        # an error passed up from a child is told once, where it happened; its ancestors name only its type
        detail = kind if _raised_below(span) else f"{kind}: {span.error.get('message')}"
    elif span.status not in ("ok",):
        detail = " · ".join(b for b in (detail, span.status) if b)
    return head, " · ".join(b for b in (detail, timing) if b)


def plain_tree(spans: list[SpanRecord]) -> str:
    """The spans as a tree drawn with box characters, one line per span."""
    lines: list[str] = []

    def emit(span: SpanRecord, prefix: str, last: bool, top: bool) -> None:
        head, detail = span_label(span)
        branch = "" if top else ("└─ " if last else "├─ ")
        mark = {"error": "✗ ", "cancelled": "■ ", "running": "… "}.get(span.status, "")
        lines.append(f"{prefix}{branch}{mark}{head}" + (f"  {detail}" if detail else ""))
        inner = prefix + ("" if top else ("   " if last else "│  "))
        for i, child in enumerate(span.children):
            emit(child, inner, i == len(span.children) - 1, False)

    for root in roots(spans):
        emit(root, "", True, True)
    return "\n".join(lines)


def status_line(run: Run) -> str:
    """How the run ended, in one line: ``done · 1.4 s · 23 tokens · first token after 80 ms``."""
    stats = run.stats()
    bits = [run.status, _seconds(stats.get("elapsed_ms")), f"{run.tokens} tokens" if run.tokens else ""]
    if stats.get("ttft_ms") is not None:
        bits.append(f"first token after {_seconds(stats['ttft_ms'])}")
    line = " · ".join(b for b in bits if b)
    if run.error is not None and run.status == "error":
        line += f"\n{type(run.error).__name__}: {run.error}"
    return line


class _Plain:
    """Writes to a text stream: no colours, the same layout."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file

    def write(self, text: str, style: str = "") -> None:
        self.file.write(text)
        self.file.flush()

    def tree(self, spans: list[SpanRecord]) -> None:
        if spans:
            self.write(plain_tree(spans) + "\n")


class _Rich(_Plain):
    """The same through ``rich``: colours and styles in a terminal, plain text elsewhere."""

    STATUS = {"error": "bold red", "cancelled": "yellow", "running": "dim"}

    def __init__(self, file: IO[str]) -> None:
        super().__init__(file)
        from rich.console import Console

        self.console = Console(file=file, highlight=False, soft_wrap=True)

    def write(self, text: str, style: str = "") -> None:
        self.console.print(text, end="", style=style or None, markup=False)
        self.file.flush()

    def tree(self, spans: list[SpanRecord]) -> None:
        from rich.text import Text
        from rich.tree import Tree

        def label(span: SpanRecord) -> Text:
            head, detail = span_label(span)
            kind, _, rest = head.partition(" ")
            text = Text(overflow="fold")  # wrap long arguments rather than crop them
            text.append(kind + " ", style="cyan")
            text.append(rest, style=self.STATUS.get(span.status, "bold"))
            if detail:
                text.append("  " + detail, style="red" if span.status == "error" else "dim")
            return text

        def add(node: Any, span: SpanRecord) -> None:
            for child in span.children:
                add(node.add(label(child)), child)

        for root in roots(spans):
            tree = Tree(label(root), guide_style="dim")
            add(tree, root)
            self.console.print(tree, soft_wrap=False)  # wrap long rows under their guide lines, never crop


def _printer(file: IO[str], use_rich: bool | None) -> _Plain:
    """rich for a terminal (or when asked for); plain text for files and pipes, which get no colours anyway."""
    is_tty = getattr(file, "isatty", lambda: False)()
    if use_rich is False or (use_rich is None and not is_tty):
        return _Plain(file)
    try:
        return _Rich(file)
    except ImportError:
        if use_rich:
            raise _rich_missing() from None
        return _Plain(file)


def _rich_missing() -> ImportError:
    return ImportError('StreamConsole(rich=True) needs rich: pip install "lazystream-widget[console]" '
                       "(or StreamConsole(..., rich=False) for plain text)")


def _require_rich() -> None:
    """Fail at ``StreamConsole(rich=True)`` itself, not at the first run's first line."""
    try:
        import rich.console  # noqa: F401
    except ImportError:
        raise _rich_missing() from None


class StreamConsole(RunHistory):
    """A live view of a module's runs in a terminal: the answer streams, the trace tree prints at the end.

    Args:
        module: anything callable on a query (an agent, a chat model, a flow, a function).
        file: where to print (default: ``sys.stdout`` at the time of each run).
        trace: print the trace tree when a run ends.
        thinking: print the model's reasoning (dimmed) as it streams.
        rich: use ``rich`` for colours: ``None`` (default) when installed, ``True`` to require it,
            ``False`` for plain text.
    """

    handle_name = "console"  # a failed run's note: "run.traceback, e.g. console.last_run.traceback"

    def __init__(self, module: Callable[[Any], Any], *, file: IO[str] | None = None, trace: bool = True,
                 thinking: bool = True, rich: bool | None = None) -> None:
        check_module("StreamConsole", module)
        if rich:
            _require_rich()
        self.module = module
        self.file = file
        self.show_trace = trace
        self.show_thinking = thinking
        self.rich = rich
        self.history: list[Run] = []
        self._lock = threading.Lock()  # one run prints at a time, whole deltas never interleave
        self._printers: dict[str, _Plain] = {}
        self._in_thinking: set[str] = set()
        self._mid_line: set[str] = set()  # runs whose last printed text did not end its line
        self._calls_told: dict[str, set[str]] = {}  # per run: tool calls already announced

    @user_facing
    def ask(self, query: Any, *, wait: bool = True, timeout: float | None = None) -> Run:
        """Run the module on ``query``, printing as it streams; return the run's handle.

        Unlike ``StreamView.ask``, this waits by default (a terminal has one output): it returns
        when the run ends and raises the run's exception if it failed. ``wait=False`` returns at
        once; the run prints in the background (``run.wait()`` later).
        """
        __tracebackhide__ = True
        return self._start_run(query, wait, timeout)

    def __repr__(self) -> str:
        return f"StreamConsole({module_name(self.module)})"

    # ---- the runner's sink (called from the run's pump thread) --------------------------------

    def run_started(self, run: Run) -> None:
        out = self._printers[run.id] = _printer(self.file or sys.stdout, self.rich)
        with self._lock:
            out.write(f"» {run.query}\n", "bold")

    def run_delta(self, run: Run, text: str, thinking: str, entries: list) -> None:
        out = self._printers[run.id]
        with self._lock:
            for notice in run.take_new_notices():
                out.write(f"note: {notice}\n", "yellow")
            if thinking and self.show_thinking:
                self._in_thinking.add(run.id)
                out.write(thinking, "dim italic")
            for tool in self._new_calls(run.id, entries):
                # the model writes a call's arguments for seconds before the tool runs: say so at once
                out.write(("\n" if run.id in self._mid_line else "") + f"… calling {tool}\n", "dim")
                self._mid_line.discard(run.id)
            if text:
                if run.id in self._in_thinking:
                    self._in_thinking.discard(run.id)
                    out.write("\n\n")
                out.write(text)
                (self._mid_line.add if not text.endswith("\n") else self._mid_line.discard)(run.id)

    def _new_calls(self, run_id: str, entries: list) -> list[str]:
        """Tools the model started to call in these trace entries (the first ``tool_call`` event of each call)."""
        told = self._calls_told.setdefault(run_id, set())
        names = []
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("event") != "event" or entry.get("name") != TOOL_CALL_EVENT:
                continue
            attrs = entry.get("attrs") or {}
            key = f"{entry.get('span')}:{attrs.get('call_id') or attrs.get('index')}"
            if key not in told and attrs.get("tool"):
                told.add(key)
                names.append(str(attrs["tool"]))
        return names

    def run_finished(self, run: Run) -> None:
        # no printer if run_started failed: end on plain text rather than hide that failure behind a KeyError
        out = self._printers.pop(run.id, None) or _Plain(self.file or sys.stdout)
        self._in_thinking.discard(run.id)
        self._mid_line.discard(run.id)
        self._calls_told.pop(run.id, None)
        with self._lock:
            if run.text and not run.text.endswith("\n"):
                out.write("\n")
            elif not run.text and run.status == "done" and run.state().get("result") is not None:
                out.write(f"{run.state()['result']}\n")  # a module that returned without streaming
            if self.show_trace:
                spans = build_spans(run.entries)
                if spans:
                    out.write("\n")
                    out.tree(spans)
            style = {"done": "green", "error": "bold red", "cancelled": "yellow"}.get(run.status, "")
            out.write(status_line(run) + "\n", style)

    def run_resync(self, run: Run) -> None:
        """Nothing to resend: a terminal keeps what was printed."""
