"""Real LazyLLM 1.4.0 in a real JupyterLab page: the seed's agent streams live with its span tree
(LazyLLM's plumbing folded away, "Show internal" one click away).

The notebook's own code points LazyLLM's home at a temporary directory and sets its key (LazyLLM
reads both when imported), registers the seed's two tools with LazyLLM's ``fc_register``, and runs
the agent on the scripted model server inside the kernel (the seed's tools come from
``tests/integrations/weather_tools.py``): once with ``stream=True`` on the agent,
once as the seed writes it (``stream=True`` on the model only), which streams nothing in LazyLLM
1.4.0 and must say why in the widget.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .jupyter import SEED_ANSWER, NotebookPage, normalize_ws, open_trace, tree, wait_for, write_notebook

pytestmark = pytest.mark.browser

TOOLS_DIR = Path(__file__).resolve().parents[1] / "integrations"
SETUP = f'''
import os, sys, tempfile
os.environ["LAZYLLM_HOME"] = tempfile.mkdtemp(prefix="lazyllm-home-")   # before importing lazyllm
os.environ["LAZYLLM_OPENAI_API_KEY"] = "sk-scripted"
sys.path.insert(0, {str(TOOLS_DIR)!r})
import cpython_ast_guard; cpython_ast_guard.install()  # LazyLLM's sandbox meets a CPython < 3.11.8 bug: see there
import lazyllm
from lazyllm.tools import FunctionCallAgent
import weather_tools  # the seed's two tools, registered with LazyLLM's fc_register
from lazystream_widget import StreamView
from lazystream_widget.testing import ScriptedServer, weather_responder

server = ScriptedServer(responder=weather_responder, token_delay=0.1).start()
llm = lazyllm.OnlineChatModule(source="openai", model="scripted", base_url=server.base_url + "/", stream=True)
query = "What's the weather like today in celsius in Tokyo and Paris?"
'''


def test_lazyllm_agent_streams_live_with_its_tree(lab, open_page) -> None:
    name = "lazyllm-agent.ipynb"
    write_notebook(lab.root / name, [
        SETUP,
        "view = StreamView(FunctionCallAgent(llm, ['get_current_weather'], stream=True))\nrun = view.ask(query)",
        "seed_view = StreamView(FunctionCallAgent(llm, ['get_current_weather']))\nseed_run = seed_view.ask(query)",
    ])  # fmt: skip
    bp = open_page()
    nbp = NotebookPage(bp.page, lab, name).open()
    nbp.run_all()
    # sample the page from the start: the answer must grow while the run goes on (live, not pasted at the end)
    seen = set()

    def ended() -> bool:
        runs = nbp.runs()
        if runs:
            seen.add(normalize_ws(runs[0]["answer"]))
        return len(runs) == 2 and all(r["status"] != "running" for r in runs)

    wait_for(ended, 180, "both LazyLLM runs to end in the page", interval=0.05)
    nbp.wait_cells_done(timeout=60)
    assert not nbp.error_outputs(), nbp.error_outputs()
    runs = {r["cell"]: r for r in nbp.runs()}
    assert normalize_ws(runs[1]["answer"]) == SEED_ANSWER
    partial = {s for s in seen if s and s != SEED_ANSWER}
    assert partial and all(SEED_ANSWER.startswith(p) for p in partial), f"no partial answer was shown: {seen}"

    streamed = bp.page.locator(f'.lsw-run[data-run-id="{runs[1]["id"]}"]')
    open_trace(streamed)
    nodes = tree(bp.page, runs[1]["id"])
    top = [n for n in nodes if n["depth"] == 0]
    assert [(n["kind"], n["name"]) for n in top] == [("agent", "FunctionCallAgent")], nodes
    assert sum(n["kind"] == "llm" for n in nodes) == 2, nodes
    assert [n["name"] for n in nodes if n["kind"] == "tool"] == ["get_current_weather"] * 2, nodes
    assert all(n["status"] == "ok" for n in nodes), nodes
    assert streamed.locator(".lsw-notices").is_hidden()
    # LazyLLM's plumbing (Loop, Pipeline, ToolManager...: internal spans) is folded: the agent reads
    # agent > llm, tool, tool, llm, one level down; "Expand all" opened rows, no span's details
    assert [(n["kind"], n["depth"]) for n in nodes[1:]] == [("llm", 1), ("tool", 1), ("tool", 1), ("llm", 1)], nodes
    assert streamed.locator(".lsw-span-detail").is_hidden()
    tool_meta = streamed.locator('.lsw-node[data-kind="tool"] .lsw-node-meta').first.inner_text()
    assert "location" in tool_meta and "tool call" not in tool_meta, tool_meta  # its arguments, no "1 tool call"
    assert streamed.locator(".lsw-tree details[open]").count() == 0
    show = streamed.locator(".lsw-show-internal")
    assert show.is_visible() and show.get_attribute("aria-pressed") == "false", streamed.inner_text()
    show.click()
    wait_for(lambda: len(tree(bp.page, runs[1]["id"])) > len(nodes), 10, "the internal spans to show")
    every = tree(bp.page, runs[1]["id"])
    names = [n["name"] for n in every]
    assert {"Loop", "Pipeline", "ToolManager"} <= set(names), every
    assert all(n["depth"] > 1 for n in every if n["kind"] == "tool"), every
    assert show.get_attribute("aria-pressed") == "true"

    seed = bp.page.locator(f'.lsw-run[data-run-id="{runs[2]["id"]}"]')
    notice = seed.locator(".lsw-notices")
    assert notice.is_visible() and "stream=True" in notice.inner_text(), seed.inner_text()
    # finished answer blocks are laid out only near the viewport (content-visibility: auto): scrolled to, the
    # answer is there within a frame or two
    seed.locator(".lsw-answer").scroll_into_view_if_needed()
    wait_for(lambda: SEED_ANSWER in normalize_ws(seed.inner_text()), 10, "the seed's answer to show")
    open_trace(seed)
    seed_nodes = tree(bp.page, runs[2]["id"])
    assert [n["name"] for n in seed_nodes if n["kind"] == "tool"] == ["get_current_weather"] * 2, seed_nodes
    bp.assert_no_bundle_errors()
