"""js/protocol.js and js/control.js agree with protocol.py and limits.py: message names, span kinds, bounds
(a plain text parse of the JS)."""

from __future__ import annotations

import re
from pathlib import Path

from lazystream_widget import limits, protocol

JS = Path(__file__).resolve().parents[2] / "js"


def _js_constants(name: str) -> dict[str, str | int | tuple[str, ...]]:
    text = (JS / name).read_text()
    out: dict[str, str | int | tuple[str, ...]] = {}
    for key, value in re.findall(r"export const ([A-Z_]+) = ([^;]+);", text):
        value = value.strip()
        if value.startswith('"'):
            out[key] = value.strip('"')
        elif value.startswith("["):
            out[key] = tuple(re.findall(r'"([^"]*)"', value))
        elif re.fullmatch(r"[\d_]+", value):
            out[key] = int(value.replace("_", ""))
    return out


def test_message_types_match() -> None:
    js = _js_constants("protocol.js")
    py = {k: v for k, v in vars(protocol).items() if k.startswith("MSG_")}
    assert py and {k: js.get(k) for k in py} == py


def test_span_kinds_match() -> None:
    assert _js_constants("protocol.js")["SPAN_KINDS"] == protocol.SPAN_KINDS


def test_browser_side_bounds_match_limits() -> None:
    js = _js_constants("control.js")
    names = ("STOP_NO_REPLY_MS", "RESYNC_MIN_INTERVAL_MS", "RESYNC_MAX_INTERVAL_MS", "RESYNC_RETRY_MS",
             "RESYNC_MAX_ATTEMPTS")
    for name in names:
        assert js[name] == getattr(limits, name), name
