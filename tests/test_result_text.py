"""A run's result in the widget: text as it is, other values as a code block (never a repr read as markdown)."""

from __future__ import annotations

import json

from lazystream_widget.export import to_markdown
from lazystream_widget.result_text import result_markdown
from lazystream_widget.runner import Run


def test_a_dict_result_shows_and_copies_as_a_json_code_block() -> None:
    run = Run(lambda q: {"answer": "**42**", "city": "Zürich"}, "q").start()
    run.wait(30)
    shown = run.state()["result"]
    assert shown.startswith("```json\n") and shown.endswith("\n```")
    assert json.loads(shown[len("```json\n"):-len("\n```")]) == {"answer": "**42**", "city": "Zürich"}
    assert "```json" in to_markdown(run.state())  # Copy as Markdown / to_markdown keep the block


def test_text_stays_markdown_and_other_values_are_fenced_safely() -> None:
    assert result_markdown("**bold** answer") == "**bold** answer"
    assert result_markdown(42) == "```json\n42\n```"
    odd = result_markdown({1, 2})  # not JSON: its repr, in a block
    assert odd.startswith("```python\n{1, 2}") or odd.startswith("```python\n{2, 1}")
    fenced = result_markdown(["a ``` b"])  # a fence inside the value cannot close the block
    assert fenced.startswith("````json\n") and fenced.endswith("\n````")
