// QA finding 11 (front end): a LazyLLM agent's plumbing spans (attrs.internal) are folded away,
// their children shown in their place; "Show internal" brings them back; nothing opens an
// attribute dump by itself; "Expand all" opens rows, never detail panels.
import { beforeEach, describe, expect, test } from "vitest";
import { TraceModel } from "../trace-model.js";
import { TraceView } from "../trace-view.js";
import { end, resetSeq, start } from "./trace-fixtures.js";

const INTERNAL = { internal: true };
const OTEL = { "lazyllm.entity.id": "e-1", "lazyllm.request.trace_id": "t-1", "lazyllm.span.kind": "agent" };

/**
 * LazyLLM 1.4.0's shape of a FunctionCallAgent run (as lazyllm_spans.py marks it): agent > Loop >
 * FunctionCall > Pipeline > llm, _post_action > ToolManager > Diverter > tool > DummySandbox; then a
 * second FunctionCall > Pipeline > llm. 13 spans, 9 of them internal.
 */
function lazyllmRun({ failSandbox = false } = {}) {
  return [
    start("a", null, "FunctionCallAgent", "agent", 0, { input: "weather in Tokyo?", attrs: OTEL }),
    start("loop", "a", "Loop", "flow", 0.01, { attrs: INTERNAL }),
    start("fc1", "loop", "FunctionCall", "module", 0.02, { attrs: INTERNAL }),
    start("p1", "fc1", "Pipeline", "flow", 0.03, { attrs: INTERNAL }),
    start("l1", "p1", "scripted", "llm", 0.04, { attrs: { model: "scripted" } }),
    end("l1", "p1", "scripted", "llm", 1.0, { usage: { prompt_tokens: 100, completion_tokens: 20 }, attrs: { model: "scripted" } }),
    start("post", "p1", "_post_action", "module", 1.01, { attrs: INTERNAL }),
    start("tm", "post", "ToolManager", "module", 1.02, { attrs: INTERNAL }),
    start("div", "tm", "Diverter", "flow", 1.03, { attrs: INTERNAL }),
    start("t1", "div", "get_current_weather", "tool", 1.04, { input: { city: "Tokyo" } }),
    start("box", "t1", "DummySandbox", "module", 1.05, { attrs: INTERNAL }),
    end("box", "t1", "DummySandbox", "module", 1.2, failSandbox
      ? { status: "error", error: { type: "RuntimeError", message: "sandbox broke" } } : {}),
    end("t1", "div", "get_current_weather", "tool", 1.3, { output: "22 °C" }),
    end("div", "tm", "Diverter", "flow", 1.31),
    end("tm", "post", "ToolManager", "module", 1.32),
    end("post", "p1", "_post_action", "module", 1.33),
    end("p1", "fc1", "Pipeline", "flow", 1.34),
    end("fc1", "loop", "FunctionCall", "module", 1.35),
    start("fc2", "loop", "FunctionCall", "module", 1.4, { attrs: INTERNAL }),
    start("p2", "fc2", "Pipeline", "flow", 1.41, { attrs: INTERNAL }),
    start("l2", "p2", "scripted", "llm", 1.42, { attrs: { model: "scripted" } }),
    end("l2", "p2", "scripted", "llm", 2.0, { usage: { prompt_tokens: 150, completion_tokens: 30 }, output: { content: "Sunny." } }),
    end("p2", "fc2", "Pipeline", "flow", 2.01),
    end("fc2", "loop", "FunctionCall", "module", 2.02),
    end("loop", "a", "Loop", "flow", 2.03),
    end("a", null, "FunctionCallAgent", "agent", 2.1, { output: "Sunny.", attrs: OTEL }),
  ];
}

function makeTree() {
  const tree = new TraceView({ now: () => 0, clock: () => 0, viewportHeight: 600 });
  document.body.append(tree.el);
  tree.addEntries(lazyllmRun());
  flush(tree);
  return tree;
}

const flush = (tree) => {
  for (let i = 0; i < 1000 && tree.flush(); i++);
};
const rows = (tree) => Array.from(tree.el.querySelectorAll(".lsw-node"))
  .map((li) => `${li.dataset.span}@${li.getAttribute("aria-level")}`);
const row = (tree, span) => tree.el.querySelector(`.lsw-node[data-span="${span}"]`);
const click = (el) => el.dispatchEvent(new MouseEvent("click", { bubbles: true }));

beforeEach(() => {
  resetSeq();
  document.body.replaceChildren();
});

describe("internal spans are folded", () => {
  test("the agent reads agent > llm, tool, llm; roll-ups and counts as before", () => {
    const tree = makeTree();
    tree.expandAll();
    flush(tree);
    expect(rows(tree)).toEqual(["a@1", "l1@2", "t1@2", "l2@2"]);
    // the tool's only child (its sandbox) is folded: the tool is a leaf
    expect(row(tree, "t1").hasAttribute("aria-expanded")).toBe(false);
    expect([...tree.el.querySelectorAll(".lsw-node")].map((r) => `${r.getAttribute("aria-posinset")}/${r.getAttribute("aria-setsize")}`))
      .toEqual(["1/1", "1/3", "2/3", "3/3"]);
    expect(row(tree, "t1").dataset.depth).toBe("1"); // drawn one indent in, not seven
    expect(row(tree, "a").querySelector(".lsw-node-meta").textContent).toBe("2 LLM calls · 1 tool call · 250 → 50 tok");
    expect(tree.summaryEl.textContent).toBe("13 spans");
    expect(tree.internalBtn.hidden).toBe(false);
    expect(tree.internalBtn.textContent).toBe("Show internal (9)");
    expect(tree.internalBtn.getAttribute("aria-pressed")).toBe("false");
  });

  test("the default view opens the agent on its calls", () => {
    const tree = makeTree();
    expect(rows(tree)).toEqual(["a@1", "l1@2", "t1@2", "l2@2"]);
  });

  test("'Show internal' shows them in place, and folds them again", () => {
    const tree = makeTree();
    tree.expandAll();
    flush(tree);
    click(tree.internalBtn);
    flush(tree);
    expect(tree.internalBtn.getAttribute("aria-pressed")).toBe("true");
    expect(rows(tree)).toEqual([
      "a@1", "loop@2", "fc1@3", "p1@4", "l1@5", "post@5", "tm@6", "div@7", "t1@8", "box@9", "fc2@3", "p2@4", "l2@5",
    ]);
    expect(row(tree, "t1").dataset.depth).toBe("7");
    expect(row(tree, "t1").querySelector(".lsw-node-meta").textContent).toBe('{"city":"Tokyo"}'); // not "· 1 tool call"
    expect(row(tree, "a").querySelector(".lsw-node-meta").textContent).toBe("2 LLM calls · 1 tool call · 250 → 50 tok");
    click(tree.internalBtn);
    flush(tree);
    expect(rows(tree)).toEqual(["a@1", "l1@2", "t1@2", "l2@2"]);
  });

  test("a selected internal span hands the selection to its shown parent when folded", () => {
    const tree = makeTree();
    tree.setShowInternal(true);
    tree.select("tm");
    tree.setShowInternal(false);
    flush(tree);
    expect(tree.selected.id).toBe("a");
  });

  test("a failed internal span always shows, with what ran inside it", () => {
    const tree = new TraceView({ now: () => 0, clock: () => 0, viewportHeight: 600 });
    tree.addEntries(lazyllmRun({ failSandbox: true }));
    tree.expandAll();
    flush(tree);
    expect(rows(tree)).toEqual(["a@1", "l1@2", "t1@2", "box@3", "l2@2"]);
    expect(row(tree, "box").dataset.status).toBe("error");
  });

  test("the filter finds spans in their shown place, never a folded span", () => {
    const tree = makeTree();
    const filter = (text) => {
      tree.filterInput.value = text;
      tree.filterInput.dispatchEvent(new Event("input"));
      flush(tree);
    };
    filter("weather");
    expect(rows(tree)).toEqual(["a@1", "t1@2"]);
    filter("Pipeline");
    expect(rows(tree)).toEqual([]);
    tree.setShowInternal(true);
    flush(tree);
    expect(rows(tree)).toEqual(["a@1", "loop@2", "fc1@3", "p1@4", "fc2@3", "p2@4"]);
  });

  test("Left from a call goes to the agent (the nearest row above it)", () => {
    const tree = makeTree();
    tree.select("t1", { focus: true });
    row(tree, "t1").dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
    expect(tree.selected.id).toBe("a");
  });

  test("a trace without internal spans has no such button", () => {
    const tree = new TraceView({ now: () => 0, clock: () => 0, viewportHeight: 600 });
    tree.addEntries([start("x", null, "agent", "agent", 0), end("x", null, "agent", "agent", 1)]);
    flush(tree);
    expect(tree.internalBtn.hidden).toBe(true);
  });

  test("the model counts internal spans; one that fails becomes a row", () => {
    const m = new TraceModel();
    const entries = lazyllmRun({ failSandbox: true });
    const cut = entries.findIndex((e) => e.span === "box" && e.event === "end");
    m.add(entries.slice(0, cut));
    expect(m.internalCount).toBe(7);
    m.takeChanges();
    m.add([entries[cut]]);
    expect(m.takeChanges().structure).toBe(true); // the sandbox's row appears
    m.add(entries.slice(cut + 1));
    expect(m.internalCount).toBe(9);
  });
});

describe("nothing opens by itself", () => {
  test("after a run, no span's details show; selecting the agent folds its attribute dump", () => {
    const tree = makeTree();
    expect(tree.detail.hidden).toBe(true);
    tree.select("a");
    flush(tree);
    const attrs = tree.detail.querySelector("details.lsw-attrs");
    expect(attrs).not.toBeNull();
    expect(attrs.open).toBe(false);
    expect(attrs.querySelector("summary").textContent).toBe(
      "3 attributes: lazyllm.entity.id, lazyllm.request.trace_id, lazyllm.span.kind",
    );
    expect(tree.detail.textContent).not.toContain("e-1"); // the values are not drawn until asked for
    expect(tree.detail.textContent).toContain("weather in Tokyo?"); // the input is in sight
    attrs.open = true;
    attrs.dispatchEvent(new Event("toggle"));
    expect(tree.detail.textContent).toContain("e-1");
    tree.select("l1");
    tree.select("a");
    flush(tree);
    expect(tree.detail.querySelector("details.lsw-attrs").open).toBe(true); // kept per span
    tree.select("t1");
    flush(tree);
    expect(tree.detail.querySelector(".lsw-detail-facts").textContent).not.toContain("tool call"); // no roll-up of itself
  });

  test("'Expand all' opens every row and no detail panel", () => {
    const tree = makeTree();
    click(tree.expandBtn);
    flush(tree);
    tree.setShowInternal(true);
    flush(tree);
    expect(rows(tree).length).toBe(13);
    expect(tree.el.querySelectorAll(".lsw-node[aria-expanded='false']").length).toBe(0);
    expect(tree.detail.hidden).toBe(true);
    expect(tree.el.querySelectorAll("details[open]").length).toBe(0);
  });
});
