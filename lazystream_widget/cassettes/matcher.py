"""Which recorded request answers an incoming one, and, when none does, what differs.

A request matches a recorded one when every rule of ``match_on`` gives the same value for
both. Rules are names or functions:

* ``method``, ``path`` (of the real endpoint's URL), ``host``, ``url`` (all of it), ``query``;
* ``body``: the whole JSON body;
* any other name: that top-level field of the JSON body (``model``, ``messages``, ``tools``,
  ``stream``, ``temperature``...);
* a function ``rule(recorded, incoming) -> bool | str | None`` of two
  :class:`~.model.RecordedRequest`: False or a string (the explanation) is a mismatch.

Bodies are compared in a canonical form: parsed JSON, with keys whose value is ``null``
dropped (clients differ in writing ``"content": null`` or leaving it out).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Sequence
from typing import Any, Union
from urllib.parse import parse_qsl, urlsplit

from ..limits import CASSETTE_DIFF_CHARS, CASSETTE_DIFF_MAX
from .model import RecordedRequest

#: The default rules: the same endpoint, model, conversation, tools and streaming flag.
DEFAULT_MATCH_ON: tuple[str, ...] = ("method", "path", "model", "messages", "tools", "stream")

MatchRule = Union[str, Callable[[RecordedRequest, RecordedRequest], Union[bool, str, None]]]

_REQUEST_PARTS = {
    "method": lambda r: r.method.upper(),
    "path": lambda r: r.path,
    "host": lambda r: r.host,
    "url": lambda r: r.url,
    "query": lambda r: sorted(parse_qsl(urlsplit(r.url).query, keep_blank_values=True)),
    "body": lambda r: canonical(r.body if r.body is not None else r.body_text),
}


#: Body fields of the chat, completion and embedding APIs (OpenAI's and the providers that copy it): a
#: rule naming one is accepted even when no recorded request has it. Other names are checked against
#: the recording, and a name close to one of these ("mesages") is a typo.
KNOWN_BODY_FIELDS = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call", "stream",
    "stream_options", "temperature", "top_p", "top_k", "n", "stop", "max_tokens", "max_completion_tokens",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias", "logprobs", "top_logprobs",
    "user", "seed", "response_format", "reasoning_effort", "thinking", "enable_thinking", "modalities",
    "audio", "metadata", "store", "service_tier", "prediction", "prompt", "suffix", "echo", "best_of",
    "input", "encoding_format", "dimensions",
})  # fmt: skip


def canonical(value: Any) -> Any:
    """``value`` with null-valued object keys dropped, recursively."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


class Matcher:
    def __init__(self, match_on: Sequence[MatchRule] | None = None) -> None:
        rules = tuple(DEFAULT_MATCH_ON if match_on is None else match_on)
        if isinstance(match_on, str):
            raise TypeError(f"match_on must be a list of rules, e.g. [{match_on!r}], not a string")
        for rule in rules:
            if not (isinstance(rule, str) and rule) and not callable(rule):
                raise TypeError(
                    f"match_on rules are names (e.g. 'model') or functions(recorded, incoming), got {rule!r}"
                )
        if not rules:
            raise ValueError("match_on needs at least one rule (e.g. ['method', 'path'])")
        for rule in rules:
            if isinstance(rule, str) and rule not in _REQUEST_PARTS and rule not in KNOWN_BODY_FIELDS:
                close = difflib.get_close_matches(rule, [*_REQUEST_PARTS, *KNOWN_BODY_FIELDS], n=1, cutoff=0.75)
                if close:
                    raise ValueError(f"match_on: unknown rule {rule!r}; did you mean {close[0]!r}? "
                                     f"(rules: {', '.join(_REQUEST_PARTS)}, or a field of the request body)")
        self.rules = rules

    def check_against(self, recorded: Sequence[RecordedRequest], cassette: str) -> None:
        """Each name rule must compare something: a rule naming a body field that no recorded request has
        (a typo) would compare nothing to nothing and match every request."""
        if not recorded:
            return
        fields = {k for r in recorded if isinstance(r.body, dict) for k in r.body}
        for rule in self.rules:
            if isinstance(rule, str) and rule not in _REQUEST_PARTS and rule not in KNOWN_BODY_FIELDS \
                    and rule not in fields:
                raise ValueError(
                    f"match_on: rule {rule!r} is not a part of the request ({', '.join(_REQUEST_PARTS)}) and no "
                    f"request recorded in cassette {cassette!r} has a body field of that name (they have: "
                    f"{', '.join(sorted(fields)) or 'none'}); such a rule would match every request. Check its "
                    "spelling, or write a function rule(recorded, incoming)."
                )

    def __repr__(self) -> str:
        return f"Matcher({', '.join(rule_names(self.rules))})"

    def matches(self, recorded: RecordedRequest, incoming: RecordedRequest) -> bool:
        for rule in self.rules:
            if isinstance(rule, str):
                if _value(rule, recorded) != _value(rule, incoming):
                    return False
            elif _custom(rule, recorded, incoming) is not None:
                return False
        return True

    def differences(self, recorded: RecordedRequest, incoming: RecordedRequest) -> list[str]:
        """What differs, one line each (at most ``CASSETTE_DIFF_MAX``); empty when they match."""
        out: list[str] = []
        for rule in self.rules:
            if isinstance(rule, str):
                a, b = _value(rule, recorded), _value(rule, incoming)
                if a != b:
                    out.extend(describe(rule, a, b))
            else:
                why = _custom(rule, recorded, incoming)
                if why is not None:
                    out.append(why)
            if len(out) >= CASSETTE_DIFF_MAX:
                return out[:CASSETTE_DIFF_MAX]
        return out

    def mismatched_rules(self, recorded: RecordedRequest, incoming: RecordedRequest) -> int:
        """How many rules differ (to find the closest recorded request)."""
        count = 0
        for rule in self.rules:
            if isinstance(rule, str):
                count += _value(rule, recorded) != _value(rule, incoming)
            else:
                count += _custom(rule, recorded, incoming) is not None
        return count


def rule_names(rules: tuple) -> list[str]:
    return [r if isinstance(r, str) else getattr(r, "__name__", "custom rule") for r in rules]


def _value(rule: str, request: RecordedRequest) -> Any:
    part = _REQUEST_PARTS.get(rule)
    return part(request) if part is not None else canonical(request.field(rule))


def _custom(rule: Callable[..., Any], recorded: RecordedRequest, incoming: RecordedRequest) -> str | None:
    """None when the rule accepts the pair, else the explanation."""
    result = rule(recorded, incoming)
    if result is None or result is True:
        return None
    name = getattr(rule, "__name__", "custom rule")
    return f"{name}: {result}" if isinstance(result, str) else f"{name}: no match"


# ---- explaining a difference --------------------------------------------------------


def describe(path: str, recorded: Any, now: Any) -> list[str]:
    """Lines such as ``messages[1].content: recorded "Tokyo" ≠ now "Paris"`` for the first differences."""
    out: list[str] = []
    _walk(path, recorded, now, out)
    return out[:CASSETTE_DIFF_MAX]


def _walk(path: str, a: Any, b: Any, out: list[str]) -> None:
    if len(out) >= CASSETTE_DIFF_MAX or a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in b:
                out.append(f"{path}.{key}: recorded {_short(a[key])}, now absent")
            elif key not in a:
                out.append(f"{path}.{key}: not recorded, now {_short(b[key])}")
            else:
                _walk(f"{path}.{key}", a[key], b[key], out)
            if len(out) >= CASSETTE_DIFF_MAX:
                return
        return
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _walk(f"{path}[{i}]", x, y, out)
            if len(out) >= CASSETTE_DIFF_MAX:
                return
        if len(a) != len(b):
            longer, which = (a, "recorded") if len(a) > len(b) else (b, "now")
            out.append(f"{path}: recorded {len(a)} items, now {len(b)} "
                       f"(first extra one, {which}: {_short(longer[min(len(a), len(b))])})")
        return
    if isinstance(a, str) and isinstance(b, str):
        a, b = _around_first_difference(a, b)
    out.append(f"{path}: recorded {_short(a)} ≠ now {_short(b)}")


def _around_first_difference(a: str, b: str) -> tuple[str, str]:
    """Long strings that differ late: show them from a little before the first differing character."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    if common <= CASSETTE_DIFF_CHARS // 3:
        return a, b
    start = common - CASSETTE_DIFF_CHARS // 4
    return "…" + a[start:], "…" + b[start:]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= CASSETTE_DIFF_CHARS else text[: CASSETTE_DIFF_CHARS - 1] + "…"
