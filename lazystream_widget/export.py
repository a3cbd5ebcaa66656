"""A run as Markdown or as one self-contained HTML file.

``run.to_markdown()``: the question, the answer (and the final answer where the run's result
differs from the streamed text), and a readable trace: one line per span with its status,
duration, tokens and cost, tool arguments and results. The widget's "Copy as Markdown" writes the
same (``js/span-markdown.js``).

``run.to_html(path)``: one HTML file with the answer and the interactive trace tree, that opens
anywhere with no server and no network: the widget's own bundle, its CSS (KaTeX fonts included)
and the run's final state are inside it. The widget's "Save as HTML" button writes the same file.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path
from typing import Any

from .limits import TRUNCATION_MARKER
from .protocol import RunState
from .rollups import Totals, format_cost, format_duration, format_rollup, format_tokens, own_totals, subtree_totals
from .spans import SpanRecord, build_spans, roots

_TEMPLATE = Path(__file__).parent / "export_template.html"
_STATIC = Path(__file__).parent / "static"
_CUT = re.compile(re.escape(TRUNCATION_MARKER).replace(r"\{size\}", r"\d+") + "$")

INPUT_CHARS = 200
VALUE_CHARS = 300


# ---------------------------------------------------------------------------------------------- markdown


def summarize(value: Any, max_chars: int = 80) -> str:
    """One line: strings as they are (without a truncation marker), structures as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = _CUT.sub("", value)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = re.sub(r"\s+", " ", text).strip()
    return text[: max_chars - 1] + "…" if len(text) > max_chars else text


def code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _error_line(error: Any) -> str:
    if not error:
        return ""
    if isinstance(error, str):
        return error
    msg = error.get("message") or ""
    kind = error.get("type")
    return f"{kind}: {msg}" if kind and kind != msg else msg or str(kind or "error")


def _rollup_text(span: SpanRecord, prices: dict[str, Any] | None, currency: str) -> str:
    if span.kind == "llm":
        own = own_totals(span, prices)
        parts = [p for p in (format_tokens(own),) if p]
        if own.priced:
            parts.append(format_cost(own.cost, currency))
        return " · ".join(parts)
    if span.children:
        return format_rollup(subtree_totals(span, prices), currency)
    return ""


def span_lines(span: SpanRecord, prices: dict[str, Any] | None, currency: str = "$", indent: int = 0) -> list[str]:
    """A span and everything below it, as Markdown list lines."""
    pad = "  " * indent
    sub = f"{pad}  - "
    ended = span.status != "running"
    line = f"{pad}- **{span.kind or 'span'}** {code(span.name or span.id)} — {span.status}"
    if ended and isinstance(span.duration_ms, (int, float)):
        line += f", {format_duration(span.duration_ms)}"
    roll = _rollup_text(span, prices, currency)
    if roll:
        line += f" · {roll}"
    lines = [line]
    out = span.output
    if span.kind == "tool":
        if span.started_at is not None:
            lines.append(f"{sub}arguments: {code(summarize(span.input, VALUE_CHARS) or '{}')}")
        if ended and span.status == "ok":
            lines.append(f"{sub}result: {code(summarize(out, VALUE_CHARS))}")
    elif span.kind == "llm":
        calls = out.get("tool_calls") if isinstance(out, dict) and isinstance(out.get("tool_calls"), list) else []
        if calls:
            fns = [c.get("function") or {} for c in calls if isinstance(c, dict)]
            text = ", ".join(f"{fn.get('name', '?')}({summarize(fn.get('arguments'), 80)})" for fn in fns)
            lines.append(f"{sub}tool calls: {code(text)}")
        content = out.get("content") if isinstance(out, dict) else out
        if isinstance(content, str) and content.strip():
            lines.append(f"{sub}output: {code(summarize(content, VALUE_CHARS))}")
    else:
        if span.started_at is not None and span.input is not None and indent == 0:
            lines.append(f"{sub}input: {code(summarize(span.input, INPUT_CHARS))}")
        if ended and span.status == "ok" and out is not None and summarize(out):
            lines.append(f"{sub}output: {code(summarize(out, VALUE_CHARS))}")
    if span.error:
        lines.append(f"{sub}{'cancelled' if span.status == 'cancelled' else 'error'}: {_error_line(span.error)}")
    for child in shown_children(span):
        lines.extend(span_lines(child, prices, currency, indent + 1))
    return lines


def _folded(span: SpanRecord) -> bool:
    """A producer's plumbing span that the Markdown (like the widget's tree) leaves out; one that failed shows."""
    return span.internal and span.status != "error"


def shown_children(span: SpanRecord | None, top: list[SpanRecord] | None = None) -> list[SpanRecord]:
    """The spans listed under ``span`` (or the top-level ones, ``top``): folded plumbing replaced by what it holds."""
    out: list[SpanRecord] = []
    stack = [iter(top if span is None else span.children)]
    while stack:  # explicit stack: a long chain of plumbing never overflows the call stack
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif _folded(child):
            stack.append(iter(child.children))
        else:
            out.append(child)
    return out


def _count_folded(spans: list[SpanRecord]) -> int:
    return sum(1 for s in spans if _folded(s))


def to_markdown(state: RunState) -> str:
    """The run (its widget state) as Markdown: question, answer, final answer, error, trace."""
    prices = state.get("prices") or None
    currency = state.get("currency") or "$"
    entries = state.get("entries") or []
    spans = build_spans(entries)
    top = roots(spans)
    out: list[str] = []
    query = str(state.get("query") or "").split("\n")[0][:200]
    out += [f"## {query or '(no query)'}", ""]
    text = str(state.get("text") or "")
    if text.strip():
        out += [text.rstrip(), ""]
    result = state.get("result")
    if result and str(result).strip() not in text:
        out += ["**Final answer:**", "", str(result), ""]
    if state.get("status") == "error" and state.get("error"):
        out += [f"**Error:** {_error_line(state.get('error'))}", ""]
    if state.get("status") == "cancelled":
        out += ["**Cancelled.**", ""]
    lines_of_text = [e for e in entries if isinstance(e, str)]
    if top or lines_of_text:
        total = Totals()
        for s in top:
            total.add(subtree_totals(s, prices))
        head = [f"{total.spans:,} span{'' if total.spans == 1 else 's'}"]
        roll = format_rollup(total, currency)
        if roll:
            head.append(roll)
        if total.errors:
            head.append(f"{total.errors} error{'' if total.errors == 1 else 's'}")
        folded = _count_folded(spans)
        if folded:
            head.append(f"{folded} internal span{'' if folded == 1 else 's'} not listed")
        out += ["### Trace", "", " · ".join(head), ""]
        for s in shown_children(None, top):
            out += span_lines(s, prices, currency)
        if lines_of_text:
            out += ["", "Other trace lines:", ""]
            out += [f"- {summarize(line, VALUE_CHARS)}" for line in lines_of_text]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------- HTML


def _script_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def export_html(state: RunState, *, note: str = "") -> str:
    """The run as one self-contained HTML page (the widget's bundle and CSS inside)."""
    try:
        esm = (_STATIC / "widget.js").read_text(encoding="utf-8")
        css = (_STATIC / "widget.css").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the widget's bundle is missing from {_STATIC}: reinstall lazystream-widget, or from a source "
            "checkout run `npm ci && npm run build`"
        ) from None
    title = str(state.get("query") or "lazystream-widget run").split("\n")[0][:200]
    fill = {
        "__LSW_TITLE__": html.escape(title),
        "__LSW_NOTE__": html.escape(note),
        "__LSW_CSS__": re.sub(r"</style", r"<\\/style", css, flags=re.I),
        "__LSW_STATE__": _script_json({"runs": [state], "title": ""}),
        "__LSW_ESM__": base64.b64encode(esm.encode("utf-8")).decode("ascii"),
    }
    page = _TEMPLATE.read_text(encoding="utf-8")
    for key, value in fill.items():
        page = page.replace(key, value)
    return page


def to_html(state: RunState, path: str | os.PathLike[str]) -> Path:
    """Write the run as one self-contained HTML file at ``path``; returns the path."""
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"to_html() writes an HTML page: give a path ending in .html, got {os.fspath(path)!r}")
    if target.is_dir():
        raise IsADirectoryError(f"to_html() needs a file path, and {os.fspath(path)!r} is a directory")
    page = export_html(state, note="Saved from lazystream-widget with run.to_html().")
    target.write_text(page, encoding="utf-8")
    return target
