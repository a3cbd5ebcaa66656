"""The live widget in a real JupyterLab 4 page: streaming, trace tree, stop button, sanitizing, errors.

Each test writes a notebook into the server's root whose own code starts the scripted model server in the
kernel and builds the seed's weather agent on it, opens it in chromium, runs it through
``window.jupyterapp.commands`` and reads the widget's DOM (its stable ``.lsw-*`` selectors).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .jupyter import (
    JS_RUNS,
    LONG_ANSWER,
    SEED_ANSWER,
    NotebookPage,
    click_until_none,
    nested_dom,
    normalize_ws,
    open_trace,
    tree,
    wait_for,
    weather_setup,
    write_notebook,
)

pytestmark = pytest.mark.browser

# Records, every 40 ms, the prompt of each cell, the kernel indicator and every run's status and answer.
JS_START_SAMPLER = (
    """() => {
  window.__lswSamples = [];
  const t0 = performance.now();
  const runs = """
    + JS_RUNS
    + """;
  window.__lswSampler = setInterval(() => {
    const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'));
    const k = document.querySelector('.jp-Notebook-ExecutionIndicator');
    window.__lswSamples.push({
      t: performance.now() - t0,
      kernel: k ? k.getAttribute('data-status') : null,
      prompts: cells.map(c => { const p = c.querySelector('.jp-InputPrompt'); return p ? p.textContent.trim() : ''; }),
      runs: runs(),
    });
  }, 40);
}"""
)
JS_STOP_SAMPLER = "() => { clearInterval(window.__lswSampler); return window.__lswSamples; }"


def _states_of(samples: list[dict[str, Any]], cell: int) -> list[dict[str, Any]]:
    """Per sample, the (single) run shown in ``cell``: its status and answer, with the cell prompts."""
    out = []
    for s in samples:
        runs = [r for r in s["runs"] if r["cell"] == cell]
        if runs:
            out.append({"t": s["t"], "kernel": s["kernel"], "prompts": s["prompts"], **runs[0]})
    return out


def _busy(prompt: str) -> bool:
    return prompt.startswith("[*]")


def _done_prompt(prompt: str) -> bool:
    return prompt[:1] == "[" and prompt[1:2].isdigit()


def _assert_grows(states: list[dict[str, Any]], expected: str, label: str) -> set[str]:
    """The answer only ever grows (each state extends the previous one), ends as ``expected``, and several
    distinct partial states were shown while the run was running. Returns the partial states."""
    final = normalize_ws(expected)
    seq = [normalize_ws(s["answer"]) for s in states if s["answer"]]
    assert seq, f"{label}: the answer never appeared"
    for a, b in zip(seq, seq[1:], strict=False):
        assert b.startswith(a), f"{label}: the answer did not grow by appending:\n  {a!r}\n  then {b!r}"
    partial = {normalize_ws(s["answer"]) for s in states
               if s["status"] == "running" and s["answer"] and normalize_ws(s["answer"]) != final}
    assert len(partial) >= 3, (
        f"{label}: only {len(partial)} distinct partial answers were seen while running (expected a live stream): "
        f"{sorted(partial, key=len)}")
    for p in partial:
        assert final.startswith(p), f"{label}: partial answer {p!r} is not a prefix of the final answer"
    return partial


def test_answer_streams_live_in_every_cell_situation(lab, open_page) -> None:
    """The answer grows token by token in the browser (a) while the cell that started it is still running
    (``ask(wait=True)``), (b) after the starting cell returned with the kernel idle, (c) while a later cell
    (``time.sleep``) runs; each ends with exactly the scripted answer, and the tree is agent -> llm, tool,
    tool, llm with the two parallel tool calls as siblings."""
    name = "live_stream.ipynb"
    write_notebook(lab.root / name, [
        weather_setup(token_delay=0.05),                                                   # cell 0
        'view1 = StreamView(agent)\nrun1 = view1.ask(QUERY, wait=True)\nprint("run1", run1.status)',  # 1 (a)
        "view2 = StreamView(agent)\nrun2 = view2.ask(QUERY)",                              # cell 2
        'time.sleep(4)\nprint("slept; run2", run2.status)',                               # cell 3 (c)
        "view3 = StreamView(agent)\nrun3 = view3.ask(QUERY)",                              # cell 4 (b)
    ])  # fmt: skip
    bp = open_page()
    nbp = NotebookPage(bp.page, lab, name).open()
    bp.page.evaluate(JS_START_SAMPLER)
    nbp.run_all()
    nbp.wait_cells_done()
    wait_for(lambda: len(nbp.runs()) == 3 and all(r["status"] != "running" for r in nbp.runs()), 60,
             "the three runs to end")
    time.sleep(0.3)  # one more sample of the final state
    samples = bp.page.evaluate(JS_STOP_SAMPLER)
    assert not nbp.error_outputs(), nbp.error_outputs()
    assert "run1 done" in nbp.cell_text(1)
    assert "run2" in nbp.cell_text(3)

    runs = {r["cell"]: r for r in nbp.runs()}
    assert sorted(runs) == [1, 2, 4], f"one run per asking cell expected, got {nbp.runs()}"
    for cell, r in runs.items():
        assert r["status"] == "done", f"cell {cell}: run ended as {r['status']}"
        assert normalize_ws(r["answer"]) == normalize_ws(LONG_ANSWER), f"cell {cell}: final answer {r['answer']!r}"

    # (a) while the starting cell (ask(wait=True)) is still running
    s1 = _states_of(samples, 1)
    _assert_grows(s1, LONG_ANSWER, "cell 1")
    during = {normalize_ws(s["answer"]) for s in s1
              if _busy(s["prompts"][1]) and s["status"] == "running" and s["answer"]}
    assert len(during) >= 3, f"(a) only {len(during)} partial answers arrived while the starting cell ran"

    # (c) while a later cell runs: cell 2 returned, cell 3 (sleep) is busy
    s2 = _states_of(samples, 2)
    _assert_grows(s2, LONG_ANSWER, "cell 2")
    during = {normalize_ws(s["answer"]) for s in s2
              if _done_prompt(s["prompts"][2]) and _busy(s["prompts"][3]) and s["status"] == "running" and s["answer"]}
    assert len(during) >= 3, f"(c) only {len(during)} partial answers arrived while a later cell ran"

    # (b) after the starting cell returned: no cell running, kernel idle
    s4 = _states_of(samples, 4)
    _assert_grows(s4, LONG_ANSWER, "cell 4")
    during = {normalize_ws(s["answer"]) for s in s4
              if all(not _busy(p) for p in s["prompts"]) and _done_prompt(s["prompts"][4])
              and s["kernel"] == "idle" and s["status"] == "running" and s["answer"]}
    assert len(during) >= 3, f"(b) only {len(during)} partial answers arrived after the cell returned"

    # the trace tree of the first run: agent -> llm, tool, tool, llm
    run_id = runs[1]["id"]
    open_trace(bp.page.locator(f'.lsw-run[data-run-id="{run_id}"]'))
    nodes = tree(bp.page, run_id)
    assert [n["kind"] for n in nodes] == ["agent", "llm", "tool", "tool", "llm"], nodes
    assert [n["depth"] for n in nodes] == [0, 1, 1, 1, 1], nodes
    assert all(n["status"] == "ok" for n in nodes), nodes
    assert len({n["span"] for n in nodes}) == 5, f"span ids must be distinct: {nodes}"
    agent_span = nodes[0]["span"]
    tools = [n for n in nodes if n["kind"] == "tool"]
    assert all("get_current_weather" in (n["name"] or "") for n in tools), tools
    if nested_dom(nodes):
        assert nodes[0]["domParent"] is None
        assert all(n["domParent"] == agent_span for n in nodes[1:]), f"children not nested in the agent: {nodes}"
    # parallel calls are siblings: same depth, same logical parent, same DOM container
    assert tools[0]["depth"] == tools[1]["depth"] and tools[0]["domParent"] == tools[1]["domParent"]
    assert tools[0]["parentEl"] == tools[1]["parentEl"], f"tool nodes are not DOM siblings: {tools}"
    assert all(n["visible"] for n in nodes), f"after expand-all every node should be visible: {nodes}"

    # one polite status region per view announces progress to screen readers; "Copy answer" copies the answer
    assert bp.page.locator(".lsw-root > .lsw-live[role=status][aria-live=polite]").count() == 3
    bp.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    bp.page.locator(f'.lsw-run[data-run-id="{run_id}"] .lsw-copy').first.click()
    wait_for(lambda: bp.page.evaluate("() => navigator.clipboard.readText()") == LONG_ANSWER, 5,
             "the copy button to put the answer on the clipboard")

    collapse = bp.page.locator(f'.lsw-run[data-run-id="{run_id}"] .lsw-collapse-all')
    if collapse.count():
        collapse.first.click()
        wait_for(lambda: not any(n["visible"] for n in tree(bp.page, run_id)[1:]), 5,
                 "collapse-all to hide the agent's children")
    bp.assert_no_bundle_errors()


SLOW_WORDS = " ".join(f"word{i}" for i in range(400))


def test_stop_button_cancels_the_run(lab, open_page) -> None:
    """Clicking stop on a long, slow answer ends the run as ``cancelled`` within seconds, keeps the partial
    answer (exactly the kernel's ``run.text``), hides the stop button, closes the model's HTTP stream, and the
    kernel-side ``run.status`` is "cancelled"."""
    name = "stop.ipynb"
    write_notebook(lab.root / name, [
        weather_setup(token_delay=0.05, extra=" " + SLOW_WORDS),   # 20+ s of answer
        "view = StreamView(agent)\nrun = view.ask(QUERY)",
        """
        try:
            run.wait(15)
            err = None
        except Exception as exc:
            err = type(exc).__name__
        print("STATE " + json.dumps({"status": run.status, "text": run.text, "error": err,
                                      "disconnects": server.disconnects}))
        """,
    ])  # fmt: skip
    bp = open_page()
    nbp = NotebookPage(bp.page, lab, name).open()
    nbp.run_cell(0)
    nbp.wait_cells_done(upto=1)
    nbp.run_cell(1)
    nbp.wait_cells_done(upto=2)
    run = bp.page.locator(".lsw-run").first
    run.wait_for()
    wait_for(lambda: len(normalize_ws(nbp.runs()[0]["answer"]).split()) >= 25, 30, "some answer text to stream")
    assert nbp.runs()[0]["status"] == "running"
    stop = run.locator(".lsw-stop")
    assert stop.is_visible(), "the stop button must be visible while the run is running"

    clicked_at = time.monotonic()
    clicks = 0
    while True:
        if stop.is_visible():
            stop.click()
            clicks += 1
        try:
            wait_for(lambda: nbp.runs()[0]["status"] == "cancelled", 5, "the run to be cancelled")
            break
        except AssertionError:
            if clicks >= 3:
                raise
    took = time.monotonic() - clicked_at
    assert took < 8, f"cancelling took {took:.1f} s"
    partial = normalize_ws(nbp.runs()[0]["answer"])
    time.sleep(1.5)
    assert normalize_ws(nbp.runs()[0]["answer"]) == partial, "the answer kept growing after the stop"
    full = normalize_ws(SEED_ANSWER + " " + SLOW_WORDS)
    assert partial and full.startswith(partial) and len(partial) < len(full), f"partial answer lost: {partial!r}"
    assert not stop.is_visible(), "the stop button must be hidden once the run ended"

    nbp.run_cell(2)
    nbp.wait_cells_done()
    out = nbp.cell_text(2)
    assert "STATE " in out, out
    state = json.loads(out.split("STATE ", 1)[1].splitlines()[0])
    assert state["status"] == "cancelled", state
    assert state["error"] == "RunCancelled", state
    assert normalize_ws(state["text"]) == partial, "the browser must show exactly the kernel's partial text"
    assert state["disconnects"] >= 1, "the cancelled run must close its HTTP stream to the model"
    print(f"[stop] cancelled {took:.2f} s after the first click ({clicks} click(s)); "
          f"{len(partial.split())} words kept")
    bp.assert_no_bundle_errors()


XSS_CELLS = [
    '''
    import json
    from lazystream_widget import OnlineChatModule, StreamView
    from lazystream_widget.tools import FunctionCallAgent, fc_register
    from lazystream_widget.testing import Reply, ScriptedServer, ToolCall

    IMG = '<img src=x onerror="window.__xss=1">'
    SCRIPT = '<script>window.__xss=1</script>'
    SVG = '<svg onload="window.__xss=1"></svg>'
    ALL = IMG + SCRIPT + SVG + '<iframe src="javascript:window.__xss=1"></iframe>'

    @fc_register("tool")
    def lookup_note(topic: str):
        """
        Look up a note about a topic.

        Args:
            topic (str): The topic to look up.
        """
        return "note: " + ALL + " [x](javascript:window.__xss=1)"

    ANSWER = (
        "Report **in bold**.\\n\\n" + IMG + "\\n\\n" + SCRIPT + "\\n\\n" + SVG + "\\n\\n"
        "Click [the js link](javascript:window.__xss=1) or [the other](JaVaScRiPt:window.__xss=1) "
        "or [the spaced one]( java\\tscript:window.__xss=1).\\n\\n"
        "A safe link: [example](https://example.com/page).\\n\\n"
        "![pic](javascript:window.__xss=1) <a href=\\"javascript:window.__xss=1\\">raw anchor</a>\\n"
    )
    server = ScriptedServer([
        Reply(reasoning="thinking " + ALL, tool_calls=[
            ToolCall("lookup_note", {"topic": IMG}),
            ToolCall(IMG, {"x": SCRIPT}),              # a span named by the model: an unknown tool
        ]),
        Reply(text=ANSWER, reasoning="more thinking " + SVG, delay=0.01),
    ]).start()
    llm = OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
    agent = FunctionCallAgent(llm, ["lookup_note"], name=SVG)   # the agent's span name is a payload too
    ''',
    "view = StreamView(agent)\nrun = view.ask('question ' + IMG + SCRIPT)",
    'run.wait(30)\nprint("STATUS", run.status)',
]

JS_DANGEROUS = """() => {
  const bad = [];
  for (const root of document.querySelectorAll('.lsw-root')) {
    for (const el of root.querySelectorAll('*')) {
      const tag = el.tagName.toLowerCase();
      const katex = (tag === 'svg' || tag === 'math') && el.closest('.katex');  // typeset formulas only
      if (['script', 'img', 'svg', 'iframe', 'object', 'embed', 'form', 'style', 'math'].includes(tag) && !katex)
        bad.push(tag);
      for (const a of el.attributes) {
        if (a.name.startsWith('on')) bad.push(tag + '[' + a.name + ']');
        if (/^\\s*(javascript|vbscript|data):/i.test(a.value.replace(/[\\u0000-\\u0020]/g, '')) &&
            ['href', 'src', 'action', 'formaction', 'xlink:href'].includes(a.name))
          bad.push(tag + '[' + a.name + '=' + a.value + ']');
      }
    }
  }
  return bad;
}"""


def test_model_output_cannot_run_script(lab, open_page) -> None:
    """HTML and javascript: links from the model (answer, thinking), from a tool result and in span names
    (a tool name chosen by the model, the agent's name) are shown as text: nothing executes, during or
    after rendering, after expanding every node, or after clicking the links; safe links get
    rel="noopener noreferrer"."""
    name = "xss.ipynb"
    write_notebook(lab.root / name, XSS_CELLS)
    bp = open_page()
    page = bp.page
    nbp = NotebookPage(page, lab, name).open()
    nbp.run_all()
    nbp.wait_cells_done()
    assert not nbp.error_outputs(), nbp.error_outputs()
    assert "STATUS done" in nbp.cell_text(2), nbp.cell_text(2)
    wait_for(lambda: nbp.runs() and nbp.runs()[0]["status"] == "done", 30, "the run to be done in the page")
    assert page.evaluate("() => window.__xss") is None, "a payload ran while streaming"

    run = page.locator(".lsw-run").first
    # open everything: the trace, expand-all, then every toggle that is still collapsed
    open_trace(run)
    click_until_none(run.locator('.lsw-node[aria-expanded="false"] > .lsw-toggle'))  # normally none
    page.wait_for_timeout(300)
    # every span's details, readable and raw: the payloads stay text
    shown = []
    for i in range(run.locator(".lsw-node").count()):
        run.locator(".lsw-node").nth(i).click()
        page.wait_for_timeout(100)
        detail = run.locator(".lsw-span-detail")
        shown.append(detail.inner_text())
        assert page.evaluate(JS_DANGEROUS) == [], "dangerous elements or attributes in the widget"
        detail.locator(".lsw-raw-toggle").click()
        page.wait_for_timeout(100)
        assert page.evaluate(JS_DANGEROUS) == [], "dangerous elements or attributes in the raw view"
    assert len(shown) >= 3, "the spans should show their details (inputs, outputs)"
    assert any("note: <img src=x onerror=" in t for t in shown), "the tool's result should be shown as text"
    assert page.evaluate(JS_DANGEROUS) == [], "dangerous elements or attributes in the widget"

    # the payloads are visible as text: the tool named by the model, and the agent
    names = [n["name"] or "" for n in tree(page, nbp.runs()[0]["id"])]
    assert any("<img src=x onerror=" in n for n in names), f"the tool's span name should show as text: {names}"
    assert any("<svg onload=" in n for n in names), f"the agent's span name should show as text: {names}"
    answer = run.locator(".lsw-answer")
    assert answer.locator("strong").count() >= 1, "markdown must still render"
    assert "<img src=x onerror=" in answer.inner_text(), "raw HTML in the answer should be shown as text"

    links = answer.locator("a")
    hrefs = [(a.get_attribute("href"), a.get_attribute("rel"), a.inner_text()) for a in links.all()]
    safe = [h for h in hrefs if h[0] and h[0].startswith("https://example.com")]
    assert safe, f"the safe link should stay a link: {hrefs}"
    for href, rel, text in hrefs:
        if href:
            assert "javascript" not in href.lower().replace("\t", ""), f"link {text!r} kept href {href!r}"
            assert {"noopener", "noreferrer"} <= set((rel or "").split()), f"link {text!r} has rel={rel!r}"
    for a in links.all():  # click every link that does not leave the page
        href = a.get_attribute("href") or ""
        if not href.startswith(("http:", "https:", "mailto:")) and a.is_visible():
            a.click()
    page.wait_for_timeout(300)
    thinking = run.locator(".lsw-thinking")
    if thinking.count() and thinking.first.is_visible():
        thinking.first.click()
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__xss") is None, "a payload ran after clicking"
    assert page.evaluate(JS_DANGEROUS) == []
    bp.assert_no_bundle_errors()


def test_model_errors_end_in_a_clear_error_state(lab, open_page) -> None:
    """A model that refuses the request (HTTP 400) and one whose stream breaks after a few tokens both end
    as ``error`` with the message visible in the widget, the partial answer kept, no stop button: never a
    spinner that runs forever."""
    name = "errors.ipynb"
    write_notebook(lab.root / name, [
        '''
        from lazystream_widget import OnlineChatModule, StreamView
        from lazystream_widget.tools import FunctionCallAgent
        from lazystream_widget.testing import HTTPError, Reply, ScriptedServer
        import lazystream_widget.demo

        def responder(request):
            question = request["messages"][-1]["content"]
            if "refuse" in question:
                return HTTPError(400, message="failure-marker-7431: the model is unavailable")
            return Reply(text="one two three four five six seven eight nine ten", drop_after=5, delay=0.05)

        server = ScriptedServer(responder=responder).start()
        llm = OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
        agent = FunctionCallAgent(llm, ["get_current_weather"])
        ''',
        "view_refused = StreamView(agent)\nrun_refused = view_refused.ask('please refuse')",
        "view_broken = StreamView(agent)\nrun_broken = view_broken.ask('please break the stream')",
    ])  # fmt: skip
    bp = open_page()
    nbp = NotebookPage(bp.page, lab, name).open()
    nbp.run_all()
    nbp.wait_cells_done()
    assert not nbp.error_outputs(), nbp.error_outputs()
    wait_for(lambda: len(nbp.runs()) == 2 and all(r["status"] != "running" for r in nbp.runs()), 30,
             "both runs to end (an error must never spin forever)")
    runs = {r["cell"]: r for r in nbp.runs()}
    assert runs[1]["status"] == "error" and runs[2]["status"] == "error", nbp.runs()

    refused = bp.page.locator(f'.lsw-run[data-run-id="{runs[1]["id"]}"]')
    error = refused.locator(".lsw-error").first
    assert error.is_visible(), f"no visible error message: {refused.inner_text()}"
    assert "failure-marker-7431" in error.inner_text(), f"the error message is not shown: {refused.inner_text()}"
    broken = bp.page.locator(f'.lsw-run[data-run-id="{runs[2]["id"]}"]')
    error = broken.locator(".lsw-error").first
    assert error.is_visible() and "broke after 5 chunks" in error.inner_text(), (
        f"the broken stream's error is not shown: {broken.inner_text()}")
    assert normalize_ws(runs[2]["answer"]) == "one two three four five", "the partial answer must be kept"
    for run in (refused, broken):
        assert not run.locator(".lsw-stop").is_visible(), "no stop button once the run ended"
        nodes = tree(bp.page, run.get_attribute("data-run-id"))
        assert nodes and nodes[0]["kind"] == "agent" and nodes[0]["status"] == "error", nodes
    bp.assert_no_bundle_errors()


def test_nothing_is_lost_at_full_speed(lab, open_page) -> None:
    """20,000 tokens sent as fast as the model can: the browser ends with the complete answer, in order.

    The usual notebook recipes lose up to half their messages here (Jupyter drops IOPub messages
    silently past its buffers); coalesced deltas and the final state as a trait lose nothing.
    """
    name = "flood.ipynb"
    write_notebook(lab.root / name, [
        '''
        from lazystream_widget import OnlineChatModule, StreamView
        from lazystream_widget.testing import Reply, ScriptedServer

        words = [f"w{i:05d}" for i in range(20000)]
        # a paragraph every 50 words: markdown blocks as a real long answer has them
        chunks = [(" " if i % 50 else ("\\n\\n" if i else "")) + w for i, w in enumerate(words)]
        server = ScriptedServer([Reply(chunks=chunks, delay=0)]).start()
        llm = OnlineChatModule(base_url=server.base_url, model="scripted", stream=True)
        view = StreamView(llm)
        run = view.ask("flood", wait=True, timeout=300)
        print(run.status, len(run.text.split()))
        ''',
    ])  # fmt: skip
    bp = open_page()
    nbp = NotebookPage(bp.page, lab, name).open()
    nbp.run_all()
    nbp.wait_cells_done(timeout=300)
    assert not nbp.error_outputs(), nbp.error_outputs()
    wait_for(lambda: nbp.runs() and nbp.runs()[0]["status"] == "done", 120, "the flooded run to end in the page")
    shown = (nbp.runs()[0]["answer"] or "").split()
    expected = [f"w{i:05d}" for i in range(20000)]
    missing = len(set(expected) - set(shown))
    assert shown == expected, f"{missing} of 20000 tokens missing or out of order in the browser"
    bp.assert_no_bundle_errors()
