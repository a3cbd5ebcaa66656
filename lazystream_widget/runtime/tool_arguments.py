"""Parsing a model's tool-call arguments: bounded, and every fault a one-line message for the model.

The arguments are text the model wrote. Before this module, a model that sent valid JSON
nested 100,000 deep killed the run with ``RecursionError`` from the JSON decoder (only
``JSONDecodeError`` was caught), and an integer of 5,000 digits with ``ValueError``. Now:

* text longer than ``TOOL_ARGUMENTS_MAX_CHARS`` or nested deeper than
  ``TOOL_ARGUMENTS_MAX_DEPTH`` is refused before it is parsed at all;
* whatever else goes wrong while parsing becomes a :class:`ToolArgumentError` whose
  message is one short line the model can read and act on.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

from .. import limits
from .tools import ToolArgumentError

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)  # linear: quotes pair up left to right
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 opens, -1 (0xff as a signed byte) closes


def nesting_depth(text: str) -> int:
    """The deepest nesting of JSON arrays and objects in ``text`` (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") == 0:
        return 0
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    steps = array("b", brackets.encode("ascii").translate(_STEP))
    return max(0, max(accumulate(steps)))


def parse_arguments(raw: Any, tool: str) -> dict[str, Any]:
    """The arguments object of a tool call, or :class:`ToolArgumentError` (one line, for the model)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str):
        raise ToolArgumentError(f"the arguments of {tool} must be JSON text, got {type(raw).__name__}")
    max_chars, max_depth = limits.TOOL_ARGUMENTS_MAX_CHARS, limits.TOOL_ARGUMENTS_MAX_DEPTH
    if len(raw) > max_chars:
        raise ToolArgumentError(
            f"the arguments of {tool} are {len(raw)} characters long, over the limit of {max_chars}; "
            "send shorter arguments"
        )
    if raw.count("[") + raw.count("{") > max_depth and nesting_depth(raw) > max_depth:
        raise ToolArgumentError(
            f"the arguments of {tool} are nested more than {max_depth} levels deep; send a flatter JSON object"
        )
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ToolArgumentError(f"the arguments of {tool} are not valid JSON ({exc.msg} at char {exc.pos})") from None
    except Exception as exc:  # e.g. ValueError for an integer of thousands of digits, RecursionError
        raise ToolArgumentError(
            f"the arguments of {tool} could not be read as JSON ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    if not isinstance(parsed, dict):
        raise ToolArgumentError(f"{tool}: arguments must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _first_line(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return "(no message)"
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else "(no message)"


def shown_arguments(raw: Any) -> Any:
    """What a tool span shows as its input: the parsed arguments, or the raw text when they do not parse."""
    try:
        return parse_arguments(raw, "the tool")
    except ToolArgumentError:
        return raw
