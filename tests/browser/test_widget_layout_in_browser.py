"""The widget's layout in a real JupyterLab 4 page, where JupyterLab's own CSS applies: values never break
mid-word (the output area's ``pre { word-break: break-all }``), a tool's name keeps its case, a narrow cell
never clips tree rows, the answer's buttons wrap as one group, and the names a screen reader hears start
with the labels one sees.

One notebook, one agent run (a tool call, then the answer) against the scripted model; ~20 s.
"""

from __future__ import annotations

from typing import Any

import pytest

from .jupyter import NotebookPage, open_trace, wait_for, write_notebook

pytestmark = pytest.mark.browser

QUERY = "What's the weather like today in celsius in Paris?"

SETUP = '''
import lazystream_widget.demo  # the seed's tools: get_current_weather
from lazystream_widget import OnlineChatModule, StreamView
from lazystream_widget.tools import FunctionCallAgent
from lazystream_widget.testing import Reply, ScriptedServer, ToolCall

server = ScriptedServer([
    Reply(text="Let me check. ", tool_calls=[
        ToolCall("get_current_weather", {"location": "Paris, France", "unit": "celsius",
                                         "note": "an unusually long explanation " * 12}),
    ], delay=0.01),
    Reply(text="Paris is 22 °C today.", delay=0.01),
]).start()
agent = FunctionCallAgent(OnlineChatModule(base_url=server.base_url, model="scripted", stream=True),
                          ["get_current_weather"])
'''

# Rows whose content is wider than the row (clipped), by span id; the visible rows only.
JS_CLIPPED_ROWS = """(run) => Array.from(run.querySelectorAll('.lsw-node'))
  .filter(li => li.scrollWidth > li.clientWidth + 1)
  .map(li => `${li.dataset.span}: ${li.scrollWidth} > ${li.clientWidth}`)"""

# Every word of a <pre>'s text that the browser split across two lines.
JS_BROKEN_WORDS = """(pre) => {
  const words = [];
  const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    for (const m of n.data.matchAll(/[A-Za-z_]{4,}/g)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const tops = new Set(Array.from(r.getClientRects()).map(c => Math.round(c.top)));
      if (tops.size > 1) words.push(m[0]);
    }
  }
  return words;
}"""


def _set_width(page: Any, px: int) -> None:
    page.evaluate("(px) => { const r = document.querySelector('.lsw-root'); r.style.width = px + 'px'; }", px)
    page.wait_for_timeout(200)  # container queries and layout


def test_words_names_narrow_rows_toolbar_and_labels(lab, open_page) -> None:
    name = "layout.ipynb"
    write_notebook(lab.root / name, [SETUP, f"view = StreamView(agent)\nrun = view.ask({QUERY!r})\nrun.wait(60)"])
    bp = open_page(viewport={"width": 1280, "height": 1000})
    page = bp.page
    nbp = NotebookPage(page, lab, name).open()
    nbp.run_all()
    nbp.wait_cells_done()
    assert not nbp.error_outputs(), nbp.error_outputs()
    wait_for(lambda: nbp.runs() and nbp.runs()[0]["status"] == "done", 30, "the run to end in the page")
    run = page.locator(".lsw-run").first
    open_trace(run)

    # the tree is named by its run's question
    assert run.locator("[role=tree]").get_attribute("aria-label") == f"Trace of: {QUERY}"
    # every button: its accessible name starts with its visible label (WCAG 2.5.3)
    mismatched = page.evaluate("""() => Array.from(document.querySelectorAll('.lsw-root button'))
      .filter(b => b.offsetParent && b.innerText.trim())
      .map(b => [b.innerText.trim(), (b.getAttribute('aria-label') || b.innerText).trim()])
      .filter(([seen, heard]) => !heard.toLowerCase().startsWith(seen.toLowerCase()))""")
    assert not mismatched, mismatched

    # the tool span's arguments: in JupyterLab's output area, no word is broken across lines
    _set_width(page, 520)
    run.locator('.lsw-node[data-kind="tool"]').click()
    detail = run.locator(".lsw-span-detail")
    wait_for(lambda: detail.is_visible(), 5, "the tool span's details")
    pres = detail.locator("pre.lsw-value")
    assert pres.count() >= 1
    assert page.evaluate("() => getComputedStyle(document.querySelector('.lsw-span-detail pre.lsw-value')).wordBreak") \
        == "normal"
    broken = [w for i in range(pres.count()) for w in pres.nth(i).evaluate(JS_BROKEN_WORDS)]
    assert not broken, f"words broken across lines: {broken[:10]}"

    # the second llm span's input holds the tool's reply: its label shows the name as written
    run.locator('.lsw-node[data-kind="llm"]').nth(1).click()
    label = detail.locator('.lsw-msg[data-role="tool"] .lsw-msg-role')
    wait_for(lambda: label.count() == 1, 5, "the tool message in the second model call's input")
    assert "· get_current_weather" in label.inner_text(), label.inner_text()  # innerText applies text-transform

    # a narrow cell (a side panel): no row of the tree is clipped, at any depth
    for width in (370, 300):
        _set_width(page, width)
        clipped = page.evaluate(JS_CLIPPED_ROWS, run.element_handle())
        assert not clipped, f"at {width} px: {clipped}"

    # a cell as wide as marimo's: the answer's buttons stay together (never one alone on a line)
    for width in (700, 430):
        _set_width(page, width)
        tops = run.locator(".lsw-toolbar .lsw-btn:visible").evaluate_all(
            "bs => bs.map(b => Math.round(b.getBoundingClientRect().top))")
        assert len(tops) == 3 and len(set(tops)) == 1, f"at {width} px the buttons are on rows {tops}"
    bp.assert_no_bundle_errors()
