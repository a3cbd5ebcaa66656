"""``js/protocol.js`` mirrors ``lazystream_widget/protocol.py`` and the widget bounds of ``limits.py``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from lazystream_widget import limits, protocol

JS = (Path(__file__).parents[1] / "js" / "protocol.js").read_text(encoding="utf-8")


def js_const(name: str):
    m = re.search(rf"export const {name} = (.+?);\n", JS, re.S)
    assert m, f"js/protocol.js has no constant {name}"
    text = m.group(1)
    return json.loads(re.sub(r"(?<=\d)_(?=\d)", "", text))  # JS numeric separators (1_000_000)


def test_names_and_values_agree() -> None:
    for name in ("TRACE_VERSION", "ANSWER_QUEUE", "THINK_QUEUE", "TRACE_QUEUE", "TOOL_CALL_EVENT",
                 "ATTR_TEXT_RANGES", "ATTR_THINKING_RANGES"):
        assert js_const(name) == getattr(protocol, name), name
    assert js_const("SPAN_KINDS") == list(protocol.SPAN_KINDS)
    assert js_const("RUN_EVENTS") == list(protocol.RUN_EVENTS)  # run markers (issue 13)
    for name in ("WIDGET_MAX_ANSWER_CHARS", "WIDGET_MAX_MESSAGES_PER_S", "WIDGET_VALUE_FOLD_CHARS",
                 "TRACE_FIELD_MAX_BYTES"):
        assert js_const(name) == getattr(limits, name), name


def test_the_truncation_marker_the_widget_recognises() -> None:
    """js/value-view.js finds the kernel's cut marker at the end of a value."""
    view = (Path(__file__).parents[1] / "js" / "value-view.js").read_text(encoding="utf-8")
    pattern = re.search(r"const CUT_MARKER = /(.+)/;", view).group(1).replace("\\[", "[").replace("\\]", "]")
    assert pattern == limits.TRUNCATION_MARKER.format(size="(\\d+)") + "$"
