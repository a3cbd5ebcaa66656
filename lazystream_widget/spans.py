"""Trace entries folded into spans: what ``run.trace`` returns and what notebook tests query.

A :class:`SpanRecord` is one span with its start and end merged, its point events,
and its children, built from the ``lazy_trace`` entries of a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .protocol import TraceEntry


@dataclass
class SpanRecord:
    id: str
    name: str
    kind: str
    parent_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    status: str = "running"  # "running" until its end entry arrives, then ok / error / cancelled
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    usage: dict[str, int] | None = None
    duration_ms: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    children: list[SpanRecord] = field(default_factory=list)

    @property
    def arguments(self) -> Any:
        """A tool span's arguments (its input)."""
        return self.input

    @property
    def internal(self) -> bool:
        """A producer's plumbing (``attrs.internal``, e.g. LazyLLM's Loop, Pipeline, ToolManager inside an
        agent): the widget and :func:`format_tree` fold it away, its children showing in its place."""
        return bool(self.attrs.get("internal"))

    def walk(self) -> Iterable[SpanRecord]:
        """This span and all below it, depth first, children in start order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def describe(self) -> str:
        bits = [f"{self.kind} {self.name}", self.status]
        if self.duration_ms is not None:
            bits.append(f"{self.duration_ms:.0f} ms")
        if self.error:
            bits.append(f"{self.error.get('type')}: {self.error.get('message')}")
        return " · ".join(bits)


def build_spans(entries: Iterable[TraceEntry | str]) -> list[SpanRecord]:
    """All spans in start order (entries may arrive in any order); foreign text lines are skipped."""
    spans: dict[str, SpanRecord] = {}
    order: list[str] = []

    def get(entry: TraceEntry) -> SpanRecord:
        sid = entry["span"]
        rec = spans.get(sid)
        if rec is None:
            rec = spans[sid] = SpanRecord(
                id=sid, name=str(entry.get("name", "")), kind=str(entry.get("kind", "module")),
                parent_id=entry.get("parent"),
            )
            order.append(sid)
        return rec

    for entry in sorted((e for e in entries if isinstance(e, dict)), key=lambda e: e.get("seq", 0)):
        event = entry.get("event")
        rec = get(entry)
        if event == "start":
            rec.name = str(entry.get("name", rec.name))
            rec.started_at = entry.get("ts")
            rec.input = entry.get("input")
            rec.attrs.update(entry.get("attrs") or {})
        elif event == "end":
            # producers that learn a span's facts only at its end (LazyLLM) restate them here
            if entry.get("name"):
                rec.name = str(entry["name"])
            if entry.get("kind"):
                rec.kind = str(entry["kind"])
            if rec.input is None and entry.get("input") is not None:
                rec.input = entry["input"]
            rec.ended_at = entry.get("ts")
            rec.status = str(entry.get("status", "ok"))
            rec.output = entry.get("output")
            rec.error = entry.get("error")
            rec.usage = entry.get("usage")
            rec.duration_ms = entry.get("duration_ms")
            rec.attrs.update(entry.get("attrs") or {})
        elif event == "event":
            rec.events.append({"name": entry.get("name"), "ts": entry.get("ts"), **(entry.get("attrs") or {})})
    result = sorted((spans[s] for s in order), key=lambda r: (r.started_at or 0.0))
    for rec in result:
        rec.children = []
    for rec in result:
        parent = spans.get(rec.parent_id) if rec.parent_id else None
        if parent is not None:
            parent.children.append(rec)
    return result


def roots(spans: list[SpanRecord]) -> list[SpanRecord]:
    ids = {s.id for s in spans}
    return [s for s in spans if s.parent_id is None or s.parent_id not in ids]


def format_tree(spans: list[SpanRecord], *, internal: bool = False) -> str:
    """The spans as an indented tree, one line per span (for notebooks and failure messages).

    Internal spans (:attr:`SpanRecord.internal`) are folded away unless ``internal``: their
    children show in their place, and a last line says how many were left out. One that failed
    is always shown.
    """
    lines: list[str] = []
    folded = 0

    def emit(rec: SpanRecord, depth: int) -> None:
        nonlocal folded
        if internal or not rec.internal or rec.status == "error":
            lines.append("  " * depth + "- " + rec.describe())
            depth += 1
        else:
            folded += 1
        for child in rec.children:
            emit(child, depth)

    for root in roots(spans):
        emit(root, 0)
    if folded:
        lines.append(f"({folded} internal span{'s' if folded != 1 else ''} not shown: trace_tree(internal=True) "
                     "shows them)")
    return "\n".join(lines) if lines else "(no spans)"
