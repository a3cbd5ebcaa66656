"""Assertions on a run's trace, for tests and notebook cells.

Each helper takes a finished :class:`~lazystream_widget.Run` (a run still going is
waited for, up to :data:`RUN_WAIT_S`), or the spans themselves (``run.trace``, a list
of :class:`~lazystream_widget.spans.SpanRecord`, or raw ``lazy_trace`` entries)::

    run = view.ask("What's the weather in Tokyo?", wait=True)
    assert_tool_called(run, "get_current_weather", location="Tokyo, Japan")
    assert_no_errors(run)
    assert_order(run, "llm:*", "get_current_weather", "llm:*")
    assert_within(run, 10)          # soft: a warning, not a failure, when over budget

A failure is an ``AssertionError`` whose message ends with the run's trace as an
indented tree (:func:`~lazystream_widget.spans.format_tree`), so a failing notebook
cell or test shows what the run actually did.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from collections.abc import Iterable
from typing import Any

from ..protocol import SPAN_KINDS
from ..spans import SpanRecord, build_spans, format_tree

__all__ = [
    "RUN_WAIT_S",
    "TimingBudgetWarning",
    "assert_no_errors",
    "assert_order",
    "assert_tool_called",
    "assert_within",
    "find_spans",
    "tool_calls",
]

#: A helper given a run that is still going waits this long for it to end, then fails.
RUN_WAIT_S = 120.0

_STATUSES = ("running", "ok", "error", "cancelled")
_MISSING = object()


class TimingBudgetWarning(UserWarning):
    """A run took longer than the budget given to :func:`assert_within` with ``soft=True``."""


# ---- reading a run's spans ---------------------------------------------------------


def _is_run(obj: Any) -> bool:
    return hasattr(obj, "trace") and hasattr(obj, "status")


def _settle(run: Any) -> None:
    """Wait for a run that is still going; its own failure is left for the helper to report."""
    done = getattr(run, "done", None)
    if not callable(done) or done():
        return
    try:
        run.wait(RUN_WAIT_S)
    except TimeoutError:
        raise AssertionError(
            f"the run was still {getattr(run, 'status', 'running')} after {RUN_WAIT_S:g} s\n"
            f"trace so far:\n{format_tree(run.trace)}"
        ) from None
    except Exception:  # the run failed: the helper reports it, with the tree
        pass


def _spans(run_or_spans: Any) -> list[SpanRecord]:
    """Every span (children included) in start order."""
    if _is_run(run_or_spans):
        _settle(run_or_spans)
        return list(run_or_spans.trace)
    if isinstance(run_or_spans, SpanRecord):
        items: list[Any] = [run_or_spans]
    elif isinstance(run_or_spans, Iterable) and not isinstance(run_or_spans, (str, bytes, dict)):
        items = list(run_or_spans)
    else:
        raise TypeError(
            "expected a Run (view.ask(...)), a list of SpanRecord (run.trace) or lazy_trace entries, "
            f"got {type(run_or_spans).__name__}"
        )
    if not all(isinstance(item, SpanRecord) for item in items):
        if any(isinstance(item, SpanRecord) for item in items):
            raise TypeError("a list of spans must hold only SpanRecord objects (or only trace entries)")
        return build_spans(items)
    seen: dict[str, SpanRecord] = {}
    for item in items:
        for rec in item.walk():
            seen.setdefault(rec.id, rec)
    return sorted(seen.values(), key=lambda r: r.started_at or 0.0)


def _tree(run_or_spans: Any, spans: list[SpanRecord]) -> str:
    """The trace tree, preceded by the run's own outcome when it did not end well."""
    head = ""
    if _is_run(run_or_spans):
        status = getattr(run_or_spans, "status", None)
        error = getattr(run_or_spans, "error", None)
        head = f"run status: {status}"
        if error is not None:
            head += f" ({type(error).__name__}: {_one_line(str(error))})"
        head += "\n"
    return f"{head}trace:\n{format_tree(spans)}"


def _one_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _show_args(arguments: Any) -> str:
    if isinstance(arguments, str):
        return repr(arguments)
    try:
        return json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(arguments)


def _check_choice(what: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"unknown span {what} {value!r}; use one of {list(allowed)}")


# ---- queries ----------------------------------------------------------------------


def find_spans(
    run_or_spans: Any, kind: str | None = None, name: str | None = None, status: str | None = None
) -> list[SpanRecord]:
    """The spans that match every filter given, in start order.

    Args:
        run_or_spans: a run, ``run.trace``, or raw ``lazy_trace`` entries.
        kind: ``"agent"``, ``"llm"``, ``"tool"``, ``"flow"`` or ``"module"``.
        name: the span's name (a tool's name, a model's name, a module's name); exact.
        status: ``"ok"``, ``"error"``, ``"cancelled"`` or ``"running"`` (not ended).
    """
    _check_choice("kind", kind, SPAN_KINDS)
    _check_choice("status", status, _STATUSES)
    return [
        s
        for s in _spans(run_or_spans)
        if (kind is None or s.kind == kind)
        and (name is None or s.name == name)
        and (status is None or s.status == status)
    ]


def tool_calls(run: Any) -> list[tuple[str, Any]]:
    """``(name, arguments)`` of every tool call, in start order.

    The arguments are what the model sent (a dict; the raw text if it was not valid JSON),
    before defaults were filled in.
    """
    return [(s.name, s.arguments) for s in find_spans(run, kind="tool")]


# ---- assertions -------------------------------------------------------------------


def _args_match(arguments: Any, expected: dict[str, Any]) -> bool:
    if not expected:
        return True
    if not isinstance(arguments, dict):
        return False
    for key, want in expected.items():
        got = arguments.get(key, _MISSING)
        if got is _MISSING:
            return False
        if callable(want):  # a predicate, e.g. location=lambda v: "Tokyo" in v
            if not want(got):
                return False
        elif got != want:
            return False
    return True


def assert_tool_called(run: Any, name: str, /, **expected_args: Any) -> SpanRecord:
    """Fail unless a tool ``name`` was called with (at least) ``expected_args``.

    Each expected value is compared with ``==`` to the argument the model sent, or, if it
    is callable, called on it as a predicate. Returns the first matching tool span.
    """
    spans = _spans(run)
    calls = [s for s in spans if s.kind == "tool"]
    for span in calls:
        if span.name == name and _args_match(span.arguments, expected_args):
            return span
    wanted = name + ("(" + ", ".join(f"{k}={v!r}" for k, v in expected_args.items()) + ")" if expected_args else "")
    if calls:
        listing = "\n".join(f"  {s.name}({_show_args(s.arguments)}) · {s.status}" for s in calls)
        made = f"tool calls, in start order:\n{listing}"
    else:
        made = "no tool was called"
    raise AssertionError(f"expected a call of tool {wanted}, but there was none\n{made}\n{_tree(run, spans)}")


def assert_no_errors(run: Any) -> None:
    """Fail if the run failed or was cancelled, or if any span ended in error or was cancelled.

    Errors the agent recovered from (a tool that raised, a refused tool call) count:
    they are error spans, even if the run itself ended well.
    """
    spans = _spans(run)
    problems = [f"  {s.kind} {s.name}: {s.describe()}" for s in spans if s.status in ("error", "cancelled")]
    run_failed = _is_run(run) and getattr(run, "status", None) in ("error", "cancelled")
    if not problems and not run_failed:
        return
    lines = []
    if run_failed:
        error = getattr(run, "error", None)
        detail = f": {type(error).__name__}: {_one_line(str(error))}" if error is not None else ""
        lines.append(f"the run ended as {run.status}{detail}")
    if problems:
        lines.append(f"{len(problems)} span(s) ended in error or were cancelled:")
        lines += problems
    raise AssertionError("\n".join(lines) + "\n" + _tree(run, spans))


def _matches(span: SpanRecord, pattern: str) -> bool:
    kind, sep, rest = pattern.partition(":")
    if sep and kind in SPAN_KINDS:
        return span.kind == kind and fnmatch.fnmatchcase(span.name, rest or "*")
    return fnmatch.fnmatchcase(span.name, pattern)


def assert_order(run: Any, *names: str) -> list[SpanRecord]:
    """Fail unless spans with these names started in this order (other spans may come between).

    Each name is a span's name, or ``"kind:name"`` (``"llm:*"``: any model call); ``*``
    and ``?`` match as in file names. Returns the matched spans.
    """
    if not names:
        raise ValueError("assert_order needs at least one span name")
    spans = _spans(run)
    matched: list[SpanRecord] = []
    position = 0
    for wanted in names:
        hit = next((i for i in range(position, len(spans)) if _matches(spans[i], wanted)), None)
        if hit is None:
            if matched:
                where = f"after {matched[-1].kind} {matched[-1].name!r} (span #{position})"
            else:
                where = "anywhere"
            order = "\n".join(f"  #{i + 1} {s.kind} {s.name}" for i, s in enumerate(spans)) or "  (no spans)"
            raise AssertionError(
                f"spans did not start in the order {list(names)}: no span matching {wanted!r} {where}\n"
                f"spans in start order:\n{order}\n{_tree(run, spans)}"
            )
        matched.append(spans[hit])
        position = hit + 1
    return matched


def _elapsed(run: Any, spans: list[SpanRecord]) -> float | None:
    started, ended = getattr(run, "started_at", None), getattr(run, "ended_at", None)
    if isinstance(started, (int, float)) and isinstance(ended, (int, float)):
        return ended - started
    starts = [s.started_at for s in spans if s.started_at is not None]
    ends = [s.ended_at for s in spans if s.ended_at is not None]
    if not starts or not ends:
        return None
    return max(ends) - min(starts)


def assert_within(run: Any, seconds: float, soft: bool = True) -> float:
    """Check a timing budget: the run (or the spans) took at most ``seconds``.

    Timing depends on the machine, so by default this is a *soft* check: over budget, it
    warns (:class:`TimingBudgetWarning`) instead of failing. ``soft=False`` fails with an
    ``AssertionError``. Returns the elapsed time in seconds.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}")
    spans = _spans(run)
    elapsed = _elapsed(run, spans)
    if elapsed is None:
        raise AssertionError(f"cannot time the run: no span has both a start and an end\n{_tree(run, spans)}")
    if elapsed <= seconds:
        return elapsed
    message = f"the run took {elapsed:.3f} s, over its budget of {seconds:g} s\n{_tree(run, spans)}"
    if not soft:
        raise AssertionError(message)
    warnings.warn(message, TimingBudgetWarning, stacklevel=2)
    return elapsed
