"""Parsing a model's tool arguments: bounded before parsing, and every fault a one-line ToolArgumentError."""

from __future__ import annotations

import time

import pytest

from lazystream_widget import limits
from lazystream_widget.runtime.tool_arguments import nesting_depth, parse_arguments, shown_arguments
from lazystream_widget.runtime.tools import ToolArgumentError


@pytest.mark.parametrize(("text", "depth"), [
    ("{}", 1), ('{"a": [1, [2, {"b": 3}]]}', 4), ('{"a": "[[[[", "b": [[1]]}', 3),
    ('{"a": "x\\"[[[[\\" {{"}', 1), ("[" * 500 + "]" * 500, 500), ('"no brackets"', 0), ("", 0),
])
def test_nesting_depth_ignores_brackets_inside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


@pytest.mark.parametrize(("raw", "says"), [
    ('{"a": 1', "not valid JSON"),
    ("[1]", "must be a JSON object, got list"),
    ('{"a": ' + "9" * 5000 + "}", "could not be read as JSON (ValueError"),
    ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than 64 levels"),
    (b"{}", "must be JSON text, got bytes"),
])
def test_every_fault_is_one_short_line(raw, says: str) -> None:
    with pytest.raises(ToolArgumentError) as info:
        parse_arguments(raw, "lookup")
    message = str(info.value)
    assert says in message and "\n" not in message and len(message) < 300


def test_arguments_over_the_size_bound_are_refused_without_being_parsed() -> None:
    huge = '{"a": "' + "x" * limits.TOOL_ARGUMENTS_MAX_CHARS + '"}'
    t0 = time.perf_counter()
    with pytest.raises(ToolArgumentError, match="over the limit of 1000000"):
        parse_arguments(huge, "lookup")
    assert time.perf_counter() - t0 < 1.0


def test_valid_arguments_and_what_a_span_shows() -> None:
    assert parse_arguments('{"city": "Paris", "n": [1, 2]}', "t") == {"city": "Paris", "n": [1, 2]}
    assert parse_arguments("", "t") == {} and parse_arguments(None, "t") == {}
    assert shown_arguments('{"city": "Paris"}') == {"city": "Paris"}
    assert shown_arguments('{"city": ') == '{"city": '  # the raw text, when it does not parse
