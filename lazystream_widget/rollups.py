"""Roll-ups of a trace: tokens in and out, cost, LLM and tool call counts, errors; per span and
summed over each subtree. The widget computes the same numbers in the browser (``js/rollups.js``);
the formats here match it character for character (see ``tests/fixtures/markdown_run.json``).

Cost comes from ``configure(prices={model: (input, output)})``: prices per 1M tokens, in the
currency of ``configure(currency=...)`` (``"$"`` by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from .spans import SpanRecord


@dataclass
class Totals:
    in_tokens: int = 0
    out_tokens: int = 0
    cost: float = 0.0
    priced: int = 0  # LLM calls whose cost is known (a price for their model); ``cost`` sums only those
    # LLM calls that reported usage but whose model has no price (a call still running has no usage yet:
    # it is neither, so a running run's cost is not shown as a lower bound)
    unpriced: int = 0
    llm: int = 0
    tool: int = 0
    # failures counted where they happened: a span that failed because a child failed with the same
    # error (the exception propagating up) does not count again
    errors: int = 0
    spans: int = 0

    def add(self, other: Totals) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def model_of(span: SpanRecord) -> str:
    """The model name of a span, for pricing: ``attrs.model``, OpenTelemetry GenAI attributes, else an llm
    span's name."""
    a = span.attrs if isinstance(span.attrs, dict) else {}
    for key in ("model", "gen_ai.response.model", "gen_ai.request.model", "llm.model_name"):
        value = a.get(key)
        if isinstance(value, str) and value:
            return value
    return span.name if span.kind == "llm" and span.name else ""


def _num(x: Any) -> float:
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0 else 0


def cost_of(usage: dict[str, Any] | None, model: str, prices: dict[str, Any] | None) -> float | None:
    """Cost of one model call, or None when its model has no price or there is no usage."""
    if not prices or not usage or not model or model not in prices:
        return None
    inp, outp = prices[model]
    in_tok, out_tok = _num(usage.get("prompt_tokens")), _num(usage.get("completion_tokens"))
    if not in_tok and not out_tok:
        return None
    return (in_tok * inp + out_tok * outp) / 1e6


def _error_key(error: Any) -> tuple[Any, str]:
    if isinstance(error, dict):
        return error.get("type"), str(error.get("message") or "")
    return None, "" if error is None else str(error)


def error_from_child(span: SpanRecord) -> bool:
    """Did ``span`` fail with the error of a child that failed (the exception propagating up)? Same type,
    and one message contains the other (a wrapper may add a prefix or a note). As ``errorFromChild`` in js/."""
    kind, msg = _error_key(span.error)
    for child in span.children:
        if child.status != "error":
            continue
        ckind, cmsg = _error_key(child.error)
        if ckind == kind and (cmsg == msg or (cmsg and cmsg in msg) or (msg and msg in cmsg)):
            return True
    return False


def own_totals(span: SpanRecord, prices: dict[str, Any] | None) -> Totals:
    """One span's own numbers (not summed)."""
    t = Totals(spans=1)
    if span.kind == "llm":
        t.llm = 1
        u = span.usage if isinstance(span.usage, dict) else None
        if u:
            t.in_tokens, t.out_tokens = int(_num(u.get("prompt_tokens"))), int(_num(u.get("completion_tokens")))
            if not t.in_tokens and not t.out_tokens:
                t.out_tokens = int(_num(u.get("total_tokens")))
        cost = cost_of(u, model_of(span), prices)
        if cost is not None:
            t.cost, t.priced = cost, 1
        elif t.in_tokens or t.out_tokens:
            t.unpriced = 1
    elif span.kind == "tool":
        t.tool = 1
    if span.status == "error" and not error_from_child(span):
        t.errors = 1
    return t


def subtree_totals(span: SpanRecord, prices: dict[str, Any] | None) -> Totals:
    """A span's numbers summed with everything below it."""
    t = own_totals(span, prices)
    for child in span.children:
        t.add(subtree_totals(child, prices))
    return t


def run_totals(roots: list[SpanRecord], prices: dict[str, Any] | None) -> Totals:
    t = Totals()
    for root in roots:
        t.add(subtree_totals(root, prices))
    return t


# ---------------------------------------------------------------------------------- formats (as in js/)


def fixed(x: float, digits: int) -> str:
    """``x`` rounded half up at ``digits`` decimals (JavaScript's rounding in the widget, not ties-to-even)."""
    f = 10**digits
    return f"{math.floor(x * f + 0.5) / f:.{digits}f}"


def format_count(n: float) -> str:
    return f"{math.floor(n + 0.5):,}"


def format_duration(ms: float | None) -> str:
    """``"640 ms"``, ``"1.52 s"``, ``"12.3 s"``, ``"2 min 05 s"``: the widget's durations."""
    if not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms < 0:
        return ""
    if ms < 999.5:
        return f"{math.floor(ms + 0.5)} ms"
    s = ms / 1000
    if s < 60:
        return f"{fixed(s, 2) if s < 9.995 else fixed(s, 1)} s"
    m = math.floor(s / 60)
    if m < 60:
        return f"{m} min {math.floor(s % 60):02d} s"
    return f"{m // 60} h {m % 60:02d} min"


def format_tokens(t: Totals, unit: str = "tokens") -> str:
    if not t.in_tokens and not t.out_tokens:
        return ""
    return f"{format_count(t.in_tokens)} → {format_count(t.out_tokens)} {unit}"


def format_cost(cost: float, currency: str = "$") -> str:
    if not cost > 0:
        return f"{currency}0"
    if cost < 0.0001:
        return f"<{currency}0.0001"
    return f"{currency}{fixed(cost, 4 if cost < 1 else 2)}"


def format_calls(t: Totals) -> str:
    parts = []
    if t.llm:
        parts.append(f"{format_count(t.llm)} LLM call{'' if t.llm == 1 else 's'}")
    if t.tool:
        parts.append(f"{format_count(t.tool)} tool call{'' if t.tool == 1 else 's'}")
    return " · ".join(parts)


def format_subtree_cost(t: Totals, currency: str = "$") -> str:
    """``"$0.0123"``, or ``"≥$0.0123"`` when some calls have no price (a lower bound; ``"≥$0"`` where that
    bound is below the smallest amount shown)."""
    if not t.unpriced:
        return format_cost(t.cost, currency)
    return f"≥{format_cost(t.cost, currency)}" if t.cost >= 0.0001 else f"≥{currency}0"


def format_rollup(t: Totals, currency: str = "$") -> str:
    """``"2 LLM calls · 1 tool call · 1,234 → 56 tokens · $0.0012"`` (non-zero parts only)."""
    parts = [p for p in (format_calls(t), format_tokens(t)) if p]
    if t.priced:
        parts.append(format_subtree_cost(t, currency))
    return " · ".join(parts)
