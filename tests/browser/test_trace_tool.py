"""The widget as a trace tool, in a real JupyterLab 4 page: tool-call arguments filling in live, math, the
final answer, roll-ups, keyboard, filter, answer/trace links, the accessibility audit (axe-core, light and
dark) and the exports (Save as HTML from the widget, run.to_html from the kernel) opened offline.

The notebook's own code starts the scripted model in the kernel. Its agent asks for two tool calls (their
arguments streamed in small fragments, one call refused for an argument the tool does not take) and then
answers with a formula inline and one on its own lines.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .jupyter import REPO, NotebookPage, open_trace, set_theme, wait_for, write_notebook

pytestmark = pytest.mark.browser

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
QUERY = "What's the weather like today in celsius in Tokyo and Paris?"

SETUP = '''
import json, time
import lazystream_widget as lsw
import lazystream_widget.demo  # the seed's tools: get_current_weather
from lazystream_widget import OnlineChatModule, StreamView
from lazystream_widget.tools import FunctionCallAgent
from lazystream_widget.testing import Reply, ScriptedServer, ToolCall

lsw.configure(prices={"scripted": (2.5, 10.0)})
ANSWER = ("Tokyo is 10 °C and Paris 22 °C.\\n\\n"
          "Their mean is $\\\\bar t = \\\\frac{10 + 22}{2} = 16$ °C, with a spread of\\n\\n"
          "$$\\n\\\\sigma = \\\\sqrt{\\\\tfrac{1}{n}\\\\sum_i (t_i - \\\\bar t)^2} = 6\\n$$\\n\\n"
          "A mild day in both.\\n")
server = ScriptedServer([
    Reply(text="Let me check. ", reasoning="Two cities: two calls.", tool_calls=[
        ToolCall("get_current_weather", {"location": "Tokyo, Japan", "unit": "celsius", "note": "n" * 240}),
        ToolCall("get_current_weather", {"location": "Paris, France", "unit": "celsius"}),
    ], delay=0.03),
    Reply(text=ANSWER, delay=0.02),
]).start()
llm = OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
agent = FunctionCallAgent(llm, ["get_current_weather"])
'''

# Records, every 30 ms: streamed tool-call rows (their argument text), aria-busy, emphasis in the answer
# (a half-written formula rendered as markdown would show <em>), typeset formulas; and every text the
# status region ever held.
JS_SAMPLER = """() => {
  window.__lsw = {samples: [], said: []};
  const region = () => document.querySelector('.lsw-root > .lsw-live');
  const seen = new Set();
  new MutationObserver(() => {
    const r = region();
    const text = r ? r.textContent : '';
    if (text && !seen.has(text)) { seen.add(text); window.__lsw.said.push(text); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
  window.__lsw.timer = setInterval(() => {
    const run = document.querySelector('.lsw-run');
    if (!run) return;
    window.__lsw.samples.push({
      status: run.dataset.status,
      calls: Array.from(run.querySelectorAll('.lsw-node[data-call="true"]'))
        .map(r => r.querySelector('.lsw-node-meta').textContent),
      busy: run.querySelector('.lsw-scroll')?.getAttribute('aria-busy'),
      em: run.querySelectorAll('.lsw-answer em').length,
      katex: run.querySelectorAll('.lsw-answer .katex').length,
      pending: run.querySelectorAll('.lsw-answer .lsw-math-pending').length,
    });
  }, 30);
}"""


def _run_notebook(lab: Any, open_page: Any, name: str, sampler: bool = False) -> tuple[Any, NotebookPage]:
    write_notebook(lab.root / name, [
        SETUP,
        f"view = StreamView(agent)\nrun = view.ask({QUERY!r})",
        'run.wait(60)\nrun.to_html("exported-run.html")\n'
        'print("STATE", json.dumps({"status": run.status, "cost": run.cost}))',
    ])  # fmt: skip
    bp = open_page(viewport={"width": 1280, "height": 1100})
    nbp = NotebookPage(bp.page, lab, name).open()
    if sampler:
        bp.page.evaluate(JS_SAMPLER)
    nbp.run_all()
    nbp.wait_cells_done()
    assert not nbp.error_outputs(), nbp.error_outputs()
    wait_for(lambda: nbp.runs() and nbp.runs()[0]["status"] == "done", 30, "the run to end in the page")
    return bp, nbp


def test_tool_calls_fill_in_live_math_never_flickers_and_milestones_are_announced(lab, open_page) -> None:
    bp, nbp = _run_notebook(lab, open_page, "trace_live.ipynb", sampler=True)
    page = bp.page
    time.sleep(0.3)
    samples = page.evaluate("() => { clearInterval(window.__lsw.timer); return window.__lsw.samples; }")
    said = page.evaluate("() => window.__lsw.said")
    state = json.loads(nbp.cell_text(2).split("STATE ", 1)[1].splitlines()[0])
    assert state["status"] == "done" and state["cost"] > 0

    # a tool node appeared while the model was still writing the call, and its arguments grew
    streamed = [s["calls"] for s in samples if s["calls"]]
    assert streamed, "no streamed tool-call row was ever seen"
    texts = [t for calls in streamed for t in calls]
    assert len(set(texts)) >= 2, f"the arguments did not fill in live: {texts[:5]}"
    assert any('"location"' in t and "Tokyo" in t for t in texts), texts[:5]
    run = page.locator(".lsw-run").first
    assert run.locator('.lsw-node[data-call="true"]').count() == 0, "the tool spans took the streamed rows' places"

    # busy while streaming, not after; formulas typeset, never shown half-rendered as markdown
    assert any(s["busy"] == "true" for s in samples) and samples[-1]["busy"] == "false"
    assert all(s["em"] == 0 for s in samples), "a half-written formula was rendered as markdown"
    katex = [s["katex"] for s in samples]
    assert all(b >= a for a, b in zip(katex, katex[1:], strict=False)), f"a typeset formula disappeared: {katex}"
    assert katex[-1] == 2 and samples[-1]["pending"] == 0
    assert any(s["pending"] for s in samples), "a formula was never seen pending while it streamed"

    # the status region: milestones only, never tokens
    joined = " | ".join(said)
    assert "Run started" in joined and "Tool get_current_weather failed" in joined and "Answer complete" in joined
    assert len(said) <= 6, said
    assert not any("Tokyo is 10" in s for s in said)

    # roll-ups: the run's summary, the agent row, and a collapsed agent still shows where it failed
    summary = run.locator(".lsw-trace-summary").inner_text()
    assert "5 spans · 2 LLM calls · 2 tool calls ·" in summary and "$" in summary and "1 error" in summary, summary
    agent = run.locator('.lsw-node[data-kind="agent"]')
    assert "2 LLM calls · 2 tool calls" in agent.locator(".lsw-node-meta").inner_text()
    agent.locator(".lsw-toggle").click()
    assert agent.get_attribute("aria-expanded") == "false"
    assert agent.locator(".lsw-errors-below").inner_text() == "1 error below"
    assert agent.locator(".lsw-errors-below").is_visible()
    bp.assert_no_bundle_errors()


def _axe(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
      const r = await axe.run(document.querySelector('.lsw-root'), {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def _open_offline(browser: Any, path: Path) -> tuple[Any, Any]:
    """Open an exported page from disk with every network request refused; return (context, page)."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    refused: list[str] = []
    ctx.route(lambda url: not url.startswith(("file:", "blob:", "data:", "about:")),
              lambda route: (refused.append(route.request.url), route.abort()))
    page = ctx.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("#lsw-export[data-ready=true]", timeout=30_000)
    assert not refused, f"the exported page asked the network for {refused}"
    return ctx, page


def test_keyboard_filter_links_accessibility_and_exports(lab, open_page, browser, tmp_path) -> None:
    bp, nbp = _run_notebook(lab, open_page, "trace_tool.ipynb")
    page = bp.page
    run = page.locator(".lsw-run").first
    open_trace(run, expand_all=False)

    # keyboard: roving focus through a real role=tree; selection follows focus and shows the details
    tree = run.locator(".lsw-tree-list[role=tree]")
    assert tree.count() == 1
    run.locator('.lsw-node[data-kind="agent"]').focus()
    focused = lambda: page.evaluate("() => document.activeElement?.dataset?.span")  # noqa: E731
    agent_id = focused()
    page.keyboard.press("ArrowDown")
    first_llm = focused()
    assert first_llm != agent_id
    assert run.locator(f'.lsw-node[data-span="{first_llm}"]').get_attribute("data-kind") == "llm"
    detail = run.locator(".lsw-span-detail")
    assert detail.is_visible()
    assert [r.get_attribute("data-role") for r in detail.locator(".lsw-msg").all()][:2] == ["user", "assistant"]
    assert detail.locator(".lsw-tool-call table.lsw-kv th").first.inner_text() == "location"
    page.keyboard.press("End")
    assert run.locator(f'.lsw-node[data-span="{focused()}"]').get_attribute("data-kind") == "llm"
    page.keyboard.press("Home")
    assert focused() == agent_id
    page.keyboard.press("ArrowLeft")
    assert run.locator(f'.lsw-node[data-span="{agent_id}"]').get_attribute("aria-expanded") == "false"
    page.keyboard.press("ArrowRight")
    assert run.locator(f'.lsw-node[data-span="{agent_id}"]').get_attribute("aria-expanded") == "true"

    # filter: the failed tool call and its agent
    box = run.locator(".lsw-filter")
    box.fill("status:error")
    wait_for(lambda: run.locator(".lsw-node").count() == 2, 5, "the filter to keep the failed call and its agent")
    assert run.locator(".lsw-node.lsw-match").get_attribute("data-kind") == "tool"
    assert "1 of" in run.locator(".lsw-filter-status").inner_text()
    box.fill("")
    wait_for(lambda: run.locator(".lsw-node").count() == 5, 5, "the filter to clear")

    # answer and trace linked: the final llm span wrote the formulas; the first one the opening words
    llms = run.locator('.lsw-node[data-kind="llm"]')
    llms.nth(1).click()
    marked = run.locator(".lsw-answer .lsw-linked")
    wait_for(lambda: marked.count() >= 3, 5, "the answer blocks of the last llm span to be marked")
    assert any("Tokyo is 10" in marked.nth(i).inner_text() for i in range(marked.count()))
    # (links are per block: the first paragraph holds text of both llm spans, the formula only the last's)
    run.locator(".lsw-answer .lsw-math-display").hover()
    wait_for(lambda: run.locator(".lsw-node.lsw-linked").count() == 1, 5, "the span under the pointer to be marked")
    assert run.locator(".lsw-node.lsw-linked").get_attribute("data-span") == llms.nth(1).get_attribute("data-span")
    run.locator(".lsw-answer p").first.hover()
    wait_for(lambda: run.locator(".lsw-node.lsw-linked").count() == 2, 5, "both spans of the first paragraph")
    page.mouse.move(0, 0)

    # the first llm span's thinking is marked in the thinking block (CSS Custom Highlight API)
    llms.nth(0).click()
    wait_for(lambda: page.evaluate("() => CSS.highlights.has('lsw-thinking')"), 5, "the thinking to be marked")
    marked_thinking = page.evaluate("() => [...CSS.highlights.get('lsw-thinking')].map(r => r.toString())")
    assert marked_thinking == ["Two cities: two calls."], marked_thinking

    # accessibility audit of the widget, light and dark (details panel open, a row selected)
    problems = _axe(page)
    assert not problems, json.dumps(problems, indent=1)
    try:
        set_theme(nbp, "JupyterLab Dark")
        problems = _axe(page)
        assert not problems, json.dumps(problems, indent=1)
    finally:
        set_theme(nbp, "JupyterLab Light")

    # Copy answer copies the run's result; Copy as Markdown gives the readable trace
    bp.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    run.locator(".lsw-copy-md").click()
    wait_for(lambda: "### Trace" in page.evaluate("() => navigator.clipboard.readText()"), 5, "the Markdown copy")
    md = page.evaluate("() => navigator.clipboard.readText()")
    assert md.startswith(f"## {QUERY}") and "- **tool** `get_current_weather` — error" in md

    # Save as HTML: a download that opens offline with the answer and the interactive tree
    with page.expect_download() as info:
        run.locator(".lsw-save-html").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name.startswith("lazystream-what-s-the-weather")
    for path in (saved, lab.root / "exported-run.html"):  # the widget's file, and run.to_html()'s
        ctx, offline = _open_offline(browser, path)
        try:
            assert offline.locator(".lsw-answer .katex").count() == 2
            assert offline.locator(".lsw-node").count() == 5
            offline.locator('.lsw-node[data-kind="tool"][data-status="error"]').click()
            assert "ToolArgumentError" in offline.locator(".lsw-span-detail").inner_text()
        finally:
            ctx.close()
    bp.assert_no_bundle_errors()
