"""run.to_markdown() and run.to_html(path): the formats, shared with the widget's own exports."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget.export import export_html, to_html, to_markdown
from lazystream_widget.limits import WIDGET_BUNDLE_MAX_BYTES
from lazystream_widget.rollups import format_cost, format_duration, format_rollup, run_totals
from lazystream_widget.runner import Run
from lazystream_widget.spans import build_spans, roots
from lazystream_widget.testing import Reply, ScriptedServer

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "markdown_run.json").read_text(encoding="utf-8"))
STATIC = Path(lsw.__file__).parent / "static"


def test_markdown_matches_the_widgets_copy_as_markdown() -> None:
    """The fixture's Markdown is also what js/span-markdown.js writes (js/tests/export.test.js)."""
    assert to_markdown(FIXTURE["state"]) == FIXTURE["markdown"]


def test_markdown_leaves_out_a_producers_plumbing_as_the_tree_does() -> None:
    """LazyLLM's Loop and ToolManager are not listed (their children are, in their place); a failed one is.
    The widget's Copy as Markdown writes the same (js/tests/export.test.js)."""
    fixture = json.loads((Path(__file__).parent / "fixtures" / "markdown_internal.json").read_text(encoding="utf-8"))
    md = to_markdown(fixture["state"])
    assert md == fixture["markdown"]
    assert "`Loop`" not in md and "`ToolManager`" not in md
    assert "  - **tool** `get_weather` — ok" in md  # under the agent, where the folded spans were
    assert "  - **flow** `Sandbox` — error" in md
    assert "2 internal spans not listed" in md


def test_roll_ups_and_formats() -> None:
    spans = build_spans(FIXTURE["state"]["entries"])
    t = run_totals(roots(spans), FIXTURE["state"]["prices"])
    assert (t.in_tokens, t.out_tokens, t.llm, t.tool, t.errors, t.spans) == (2700, 55, 2, 2, 1, 5)
    assert t.cost == pytest.approx(0.0073)
    assert format_rollup(t) == "2 LLM calls · 2 tool calls · 2,700 → 55 tokens · $0.0073"
    assert [format_duration(ms) for ms in (0.4, 999.4, 999.6, 1234, 9994, 12_345, 125_000)] == [
        "0 ms", "999 ms", "1.00 s", "1.23 s", "9.99 s", "12.3 s", "2 min 05 s"]
    assert format_duration(1125) == "1.13 s"  # half up, as the widget rounds (not ties-to-even)
    assert [format_cost(c) for c in (0, 0.00001, 0.01234, 12.345)] == ["$0", "<$0.0001", "$0.0123", "$12.35"]


def _entry(event: str, span: str, parent: str | None, kind: str, **extra) -> dict:
    return {"v": 1, "event": event, "span": span, "parent": parent, "name": span, "kind": kind, "ts": 1.0, **extra}


def test_an_error_counts_where_it_happened_and_a_partial_cost_reads_as_a_bound() -> None:
    """As the widget (js/tests/trace-model.test.js): one exception propagating up is one error; a cost
    with unpriced calls is "≥$…", never "≥<$…"."""
    err = {"type": "ModelError", "message": "connection refused"}
    entries = [
        _entry("start", "a", None, "agent"), _entry("start", "l", "a", "llm"), _entry("start", "u", "a", "llm"),
        _entry("end", "l", "a", "llm", status="error", error=err),
        _entry("end", "u", "a", "llm", status="ok", usage={"prompt_tokens": 1, "completion_tokens": 1},
               attrs={"model": "free"}),
        _entry("end", "a", None, "agent", status="error", error={**err, "message": "agent: connection refused"}),
        _entry("start", "b", None, "agent"), _entry("start", "t", "b", "tool"),
        _entry("end", "t", "b", "tool", status="error", error={"type": "KeyError", "message": "'x'"}),
        _entry("end", "b", None, "agent", status="error", error={"type": "ValueError", "message": "bad"}),
    ]
    t = run_totals(roots(build_spans(entries)), {"gpt": (1.0, 1.0)})
    assert t.errors == 3
    t.priced, t.cost = 1, 0.00001
    assert format_rollup(t).endswith(" · ≥$0")


def test_a_real_run_to_markdown_and_to_html(tmp_path: Path) -> None:
    lsw.configure(prices={"scripted": (2.0, 8.0)})
    with ScriptedServer([Reply(text="**Hello** there.", delay=0.0)]) as server:
        llm = lsw.OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
        run = Run(llm, "Say hello").start()
        run.wait(30)
    md = run.to_markdown()
    assert md.startswith("## Say hello\n\n**Hello** there.\n\n### Trace\n\n1 span · 1 LLM call · ")
    assert "- **llm** `scripted` — ok, " in md
    path = run.to_html(tmp_path / "run.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "<title>Say hello</title>" in page
    state = json.loads(re.search(r'<script type="application/json" id="lsw-state">(.*?)</script>', page, re.S)[1])
    assert state["runs"][0]["text"] == "**Hello** there." and state["runs"][0]["prices"] == {"scripted": [2.0, 8.0]}
    esm = re.search(r'<script type="text/plain" id="lsw-esm">(.*?)</script>', page, re.S)[1]
    assert base64.b64decode(esm).decode() == (STATIC / "widget.js").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page), "the page loads nothing from anywhere"


def test_html_export_escapes_what_could_end_a_script() -> None:
    state = dict(FIXTURE["state"], text="</script><script>alert(1)</script><!--", query="<b>q</b>")
    page = export_html(state)
    assert page.count("</script>") == 3
    assert "<title>&lt;b&gt;q&lt;/b&gt;</title>" in page


def test_to_html_refuses_a_path_that_is_not_an_html_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"path ending in \.html"):
        to_html(FIXTURE["state"], tmp_path / "run.txt")
    (tmp_path / "d.html").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        to_html(FIXTURE["state"], tmp_path / "d.html")


def test_the_bundle_stays_small_enough_for_saved_notebooks() -> None:
    """anywidget loads the bundle from a Blob URL and every saved notebook keeps a copy: KaTeX and its
    fonts included, it stays under limits.WIDGET_BUNDLE_MAX_BYTES."""
    js, css = (STATIC / "widget.js").stat().st_size, (STATIC / "widget.css").stat().st_size
    assert js + css <= WIDGET_BUNDLE_MAX_BYTES, (js, css)
    text = (STATIC / "widget.css").read_text(encoding="utf-8")
    assert "font/woff2;base64," in text and ".woff)" not in text and ".ttf)" not in text
