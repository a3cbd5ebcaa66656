"""How a run's result reads in the widget and its exports: text as it is (markdown), any other value as a
code block: JSON where it is JSON (a dict, a list, a number), else its ``repr``.

A dict result used to be shown as ``str(result)`` rendered as markdown: ``{'a': '**42**'}`` turned bold and
"Copy answer" copied a Python repr. A fenced block shows the value as written and copies as a block.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .limits import WIDGET_MAX_ANSWER_CHARS


def _fenced(body: str, lang: str) -> str:
    # a fence longer than any run of backticks inside, so the value cannot close it
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"


def result_markdown(result: Any) -> str:
    """``result`` as the widget shows it (bounded by ``WIDGET_MAX_ANSWER_CHARS``, as the answer is)."""
    if isinstance(result, str):
        return result
    try:
        body, lang = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False), "json"
    except (TypeError, ValueError, RecursionError):
        body, lang = repr(result), "python"
    if len(body) > WIDGET_MAX_ANSWER_CHARS:
        body = body[:WIDGET_MAX_ANSWER_CHARS] + f"\n… ({len(body) - WIDGET_MAX_ANSWER_CHARS:,} more characters)"
    return _fenced(body, lang)
