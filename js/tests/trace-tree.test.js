import { beforeEach, describe, expect, test } from "vitest";
import { TraceTree } from "../trace-tree.js";
import { rng } from "./helpers.js";

let seq = 0;
const T0 = 1_700_000_000;

function start(span, parent, name, kind, t, extra = {}) {
  return { v: 1, seq: ++seq, ts: T0 + t, event: "start", span, parent, name, kind, input: extra.input ?? null, attrs: extra.attrs ?? {} };
}
function end(span, parent, name, kind, t, extra = {}) {
  return {
    v: 1, seq: ++seq, ts: T0 + t, event: "end", span, parent, name, kind,
    output: extra.output ?? null, status: extra.status ?? "ok", error: extra.error ?? null,
    duration_ms: extra.duration_ms ?? 100, usage: extra.usage ?? null, attrs: extra.attrs ?? {},
  };
}
function event(span, parent, name, t, attrs = {}) {
  return { v: 1, seq: ++seq, ts: T0 + t, event: "event", span, parent, name, kind: "llm", attrs };
}

/** A small agent run: agent > llm, two parallel tools, llm. */
function agentRun() {
  return [
    start("a", null, "agent", "agent", 0, { input: "weather in Paris?" }),
    start("l1", "a", "gpt-x", "llm", 0.01, { attrs: { model: "gpt-x" } }),
    event("l1", "a", "retry", 0.2, { attempt: 1 }),
    event("l1", "a", "retry", 0.4, { attempt: 2 }),
    end("l1", "a", "gpt-x", "llm", 1.0, { usage: { prompt_tokens: 120, completion_tokens: 30 }, attrs: { model: "gpt-x", ttft_ms: 230 } }),
    start("t1", "a", "get_weather", "tool", 1.1, { input: { city: "Paris" }, attrs: { arguments: { city: "Paris" } } }),
    start("t2", "a", "get_time", "tool", 1.1001, { input: { tz: "CET" } }),
    end("t2", "a", "get_time", "tool", 1.3, { output: "12:00" }),
    end("t1", "a", "get_weather", "tool", 1.5, { status: "error", error: { type: "TimeoutError", message: "took too long", detail: "Traceback...\nTimeoutError" } }),
    start("l2", "a", "gpt-x", "llm", 1.6),
    end("l2", "a", "gpt-x", "llm", 2.0),
    end("a", null, "agent", "agent", 2.1, { output: "It is sunny." }),
  ];
}

function makeTree(opts = {}) {
  let now = 0;
  const tree = new TraceTree({ now: () => now, ...opts });
  document.body.append(tree.el);
  const flushAll = () => {
    for (let i = 0; i < 1000 && tree.flush(); i++);
  };
  return { tree, flushAll, advance: (ms) => (now += ms) };
}

/** Serialize the rendered tree: "span@depth" in DOM order. */
function shape(el) {
  return Array.from(el.querySelectorAll(".lsw-node")).map((li) => `${li.dataset.span ?? "text"}@${li.dataset.depth}`);
}

const node = (el, span) => el.querySelector(`.lsw-node[data-span="${span}"]`);
const childSpans = (el, span) =>
  Array.from(node(el, span).querySelector(":scope > .lsw-children").children).map((li) => li.dataset.span);

beforeEach(() => {
  seq = 0;
  document.body.replaceChildren();
});

describe("trace tree", () => {
  test("nests spans by parent, parallel tools are siblings in start order", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    expect(childSpans(tree.el, "a")).toEqual(["l1", "t1", "t2", "l2"]);
    expect(node(tree.el, "a").dataset.depth).toBe("0");
    expect(node(tree.el, "t1").dataset.depth).toBe("1");
    expect(node(tree.el, "t1").dataset.kind).toBe("tool");
    expect(tree.spanCount).toBe(5);
    expect(tree.el.querySelector(".lsw-tree-summary").textContent).toBe("5 spans");
  });

  test("entries arriving in any order build the same tree", () => {
    const { tree: ref, flushAll: f0 } = makeTree();
    ref.addEntries(agentRun());
    ref.expandAll();
    f0();
    const expected = shape(ref.el);
    for (let s = 1; s <= 8; s++) {
      document.body.replaceChildren();
      const entries = agentRun();
      const rand = rng(s);
      for (let i = entries.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [entries[i], entries[j]] = [entries[j], entries[i]];
      }
      const { tree, flushAll } = makeTree();
      // Arrive across several messages with a flush in between.
      for (let i = 0; i < entries.length; i += 3) {
        tree.addEntries(entries.slice(i, i + 3));
        flushAll();
      }
      tree.expandAll();
      flushAll();
      expect(shape(tree.el), `seed ${s}`).toEqual(expected);
      expect(tree.el.querySelectorAll("[data-orphan]").length).toBe(0);
    }
  });

  test("a child whose parent start has not arrived is attached when it does", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("c", "p", "child", "tool", 1)]);
    flushAll();
    expect(node(tree.el, "c")).toBeNull(); // buffered
    tree.addEntries([start("p", null, "parent", "agent", 0)]);
    flushAll();
    expect(childSpans(tree.el, "p")).toEqual(["c"]);
  });

  test("orphans show at the top level after a grace period, and move when the parent comes", () => {
    const { tree, flushAll, advance } = makeTree();
    tree.addEntries([start("c", "never", "orphan", "tool", 1)]);
    expect(tree.flush()).toBe(true); // waiting for the grace period
    expect(node(tree.el, "c")).toBeNull();
    advance(1500);
    flushAll();
    expect(node(tree.el, "c").dataset.orphan).toBe("true");
    expect(node(tree.el, "c").dataset.depth).toBe("0");
    tree.addEntries([start("never", null, "late parent", "agent", 0)]);
    flushAll();
    expect(childSpans(tree.el, "never")).toEqual(["c"]);
    expect(node(tree.el, "c").dataset.orphan).toBeUndefined();
  });

  test("orphans show at once when the run is final", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("c", "gone", "orphan", "tool", 1)]);
    tree.setFinal(true);
    flushAll();
    expect(node(tree.el, "c")).not.toBeNull();
  });

  test("a parent cycle in the data does not hide or hang", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("x", "y", "x", "tool", 0), start("y", "x", "y", "tool", 1)]);
    tree.expandAll();
    flushAll();
    expect(node(tree.el, "x")).not.toBeNull();
    expect(node(tree.el, "y")).not.toBeNull();
  });

  test("statuses: running spinner, OK, error in red with its message, cancelled", () => {
    const { tree, flushAll } = makeTree();
    const entries = agentRun();
    tree.addEntries(entries.slice(0, 6)); // t1 started, not ended
    tree.addEntries([start("k", "a", "slow", "tool", 1.2)]);
    flushAll();
    const t1 = node(tree.el, "t1");
    expect(t1.dataset.status).toBe("running");
    expect(t1.querySelector(".lsw-spinner").hidden).toBe(false);
    expect(t1.querySelector(".lsw-duration").textContent).toBe("");
    tree.addEntries(entries.slice(6));
    tree.addEntries([end("k", "a", "slow", "tool", 1.3, { status: "cancelled", error: { type: "RunCancelled", message: "cancelled" } })]);
    flushAll();
    expect(t1.dataset.status).toBe("error");
    expect(t1.querySelector(".lsw-spinner").hidden).toBe(true);
    // A short badge in the header; the message as its tooltip and in the body.
    expect(t1.querySelector(".lsw-node-status").textContent).toBe("error");
    expect(t1.querySelector(".lsw-node-status").title).toBe("TimeoutError: took too long");
    expect(node(tree.el, "t2").querySelector(".lsw-node-status").textContent).toBe("OK");
    expect(node(tree.el, "t2").querySelector(".lsw-duration").textContent).toBe("100 ms");
    expect(node(tree.el, "k").dataset.status).toBe("cancelled");
    // Error detail in the body, as text.
    t1.querySelector(".lsw-toggle").click();
    const body = t1.querySelector(".lsw-node-body");
    expect(body.querySelector(".lsw-section-error").textContent).toContain("took too long");
    expect(body.textContent).toContain("Traceback...");
  });

  test("a long error never fills the header: 'error' badge, message in the body only", () => {
    const { tree, flushAll } = makeTree();
    const message = `the model at http://localhost:11434/v1 did not answer: ${"x".repeat(300)}`;
    tree.addEntries([
      start("f", null, "FunctionCallAgent", "agent", 0, { input: "q" }),
      start("l", "f", "scripted", "llm", 0.1),
      end("l", "f", "scripted", "llm", 0.5, { status: "error", error: { type: "ModelError", message, detail: "Traceback...\nModelError" } }),
      end("f", null, "FunctionCallAgent", "agent", 0.6, { status: "error", error: { type: "ModelError", message } }),
    ]);
    flushAll();
    const f = node(tree.el, "f");
    const status = f.querySelector(":scope > .lsw-node-header > .lsw-node-status");
    expect(status.textContent).toBe("error");
    expect(status.title).toBe(`ModelError: ${message}`);
    const header = f.querySelector(":scope > .lsw-node-header");
    expect(header.textContent).not.toContain("ModelError");
    expect(header.querySelector(".lsw-node-name").textContent).toBe("FunctionCallAgent");
    expect(header.querySelector(".lsw-node-name").title).toBe("FunctionCallAgent");
    // The top-level node is open: its body carries the full message.
    const body = f.querySelector(":scope > .lsw-node-body");
    expect(body.querySelector(".lsw-section-error").textContent).toContain(message);
    // An OK node has no tooltip on its status.
    tree.addEntries([start("ok", "f", "fine", "tool", 0.2), end("ok", "f", "fine", "tool", 0.3)]);
    flushAll();
    expect(node(tree.el, "ok").querySelector(".lsw-node-status").hasAttribute("title")).toBe(false);
  });

  test("a cancelled span: neutral 'cancelled' status with its reason, no error section", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([
      start("a", null, "agent", "agent", 0),
      start("k", "a", "slow", "tool", 0.1),
      end("k", "a", "slow", "tool", 0.3, { status: "cancelled", error: { type: "RunCancelled", message: "stopped from the widget" } }),
    ]);
    flushAll();
    const k = node(tree.el, "k");
    const status = k.querySelector(".lsw-node-status");
    expect(status.textContent).toBe("cancelled");
    expect(status.title).toBe("RunCancelled: stopped from the widget");
    k.querySelector(".lsw-toggle").click();
    const body = k.querySelector(".lsw-node-body");
    expect(body.querySelector(".lsw-section-error")).toBeNull();
    expect(body.querySelector(".lsw-section-cancelled").textContent).toContain("stopped from the widget");
  });

  test("tool arguments: the header's meta carries the summary as a tooltip", () => {
    const { tree, flushAll } = makeTree();
    const args = { location: "Tokyo, Japan", num_days: 3, unit: "celsius" };
    tree.addEntries([start("a", null, "agent", "agent", 0), start("t", "a", "get_n_day_weather_forecast", "tool", 0.1, { attrs: { arguments: args } })]);
    flushAll();
    const meta = node(tree.el, "t").querySelector(".lsw-node-meta");
    expect(meta.textContent).toBe(JSON.stringify(args));
    expect(meta.title).toBe(JSON.stringify(args));
  });

  test("llm and tool headers: model, usage, ttft, arguments; events as badge and lines", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    const l1 = node(tree.el, "l1");
    const meta = l1.querySelector(".lsw-node-meta").textContent;
    expect(meta).toContain("gpt-x");
    expect(meta).toContain("120 → 30 tok");
    expect(meta).toContain("ttft 230 ms");
    expect(l1.querySelector(".lsw-events-badge").textContent).toBe("retry ×2");
    expect(node(tree.el, "t1").querySelector(".lsw-node-meta").textContent).toBe('{"city":"Paris"}');
    l1.querySelector(".lsw-toggle").click();
    const lines = Array.from(l1.querySelectorAll(".lsw-event")).map((e) => e.textContent);
    expect(lines).toEqual(['+190 ms retry {"attempt":1}', '+390 ms retry {"attempt":2}']);
  });

  test("a top-level leaf starts closed and opens when it gets a child", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("a", null, "agent", "agent", 0, { input: "hi" })]);
    flushAll();
    const a = node(tree.el, "a");
    expect(a.querySelector(".lsw-toggle").getAttribute("aria-expanded")).toBe("false");
    expect(a.querySelector(".lsw-node-body")).toBeNull();
    tree.addEntries([start("c", "a", "child", "tool", 1)]);
    flushAll();
    expect(a.querySelector(".lsw-toggle").getAttribute("aria-expanded")).toBe("true");
    expect(childSpans(tree.el, "a")).toEqual(["c"]);
  });

  test("collapsed by default past the first level; body built only when expanded", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    const a = node(tree.el, "a");
    const t1 = node(tree.el, "t1");
    expect(a.querySelector(".lsw-toggle").getAttribute("aria-expanded")).toBe("true");
    expect(t1.querySelector(".lsw-toggle").getAttribute("aria-expanded")).toBe("false");
    expect(t1.querySelector(".lsw-node-body")).toBeNull();
    t1.querySelector(".lsw-toggle").click();
    expect(t1.querySelector(".lsw-toggle").getAttribute("aria-expanded")).toBe("true");
    expect(t1.querySelector(".lsw-node-body").textContent).toContain('"city": "Paris"');
    t1.querySelector(".lsw-toggle").click();
    expect(t1.querySelector(".lsw-node-body")).toBeNull();
  });

  test("expand all / collapse all", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("r", null, "root", "agent", 0), start("m", "r", "mid", "flow", 1), start("leaf", "m", "leaf", "tool", 2)]);
    flushAll();
    expect(node(tree.el, "leaf")).toBeNull(); // under a collapsed depth-1 node
    tree.el.querySelector(".lsw-expand-all").click();
    flushAll();
    expect(node(tree.el, "leaf")).not.toBeNull();
    const toggles = Array.from(tree.el.querySelectorAll(".lsw-toggle"));
    expect(toggles.every((t) => t.getAttribute("aria-expanded") === "true")).toBe(true);
    tree.el.querySelector(".lsw-collapse-all").click();
    flushAll();
    expect(node(tree.el, "m")).toBeNull();
    expect(node(tree.el, "r").querySelector(".lsw-toggle").getAttribute("aria-expanded")).toBe("false");
  });

  test("paging: at most pageSize children, then 'show more'", () => {
    const { tree, flushAll } = makeTree({ pageSize: 50 });
    const entries = [start("a", null, "agent", "agent", 0)];
    for (let i = 0; i < 120; i++) entries.push(start(`t${i}`, "a", `tool ${i}`, "tool", 1 + i));
    tree.addEntries(entries);
    flushAll();
    expect(childSpans(tree.el, "a").length).toBe(50);
    const more = node(tree.el, "a").querySelector(":scope > .lsw-more-children");
    expect(more.hidden).toBe(false);
    expect(more.textContent).toBe("Show 50 more (70 hidden)");
    more.click();
    flushAll();
    expect(childSpans(tree.el, "a").length).toBe(100);
    expect(childSpans(tree.el, "a")[99]).toBe("t99");
    more.click();
    flushAll();
    expect(childSpans(tree.el, "a").length).toBe(120);
    expect(more.hidden).toBe(true);
  });

  test("an update touches only its node: siblings keep their DOM", () => {
    const { tree, flushAll } = makeTree();
    const entries = agentRun();
    tree.addEntries(entries.slice(0, 7));
    flushAll();
    const before = Array.from(tree.el.querySelectorAll(".lsw-node"));
    tree.addEntries([entries[7]]); // end of t2
    flushAll();
    const after = Array.from(tree.el.querySelectorAll(".lsw-node"));
    expect(after).toEqual(before);
    after.forEach((li, i) => expect(li).toBe(before[i]));
    expect(node(tree.el, "t2").dataset.status).toBe("ok");
  });

  test("waterfall: bars relative to the first start, open spans extend to the latest ts", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("a", null, "agent", "agent", 0), start("t", "a", "tool", "tool", 1), end("t", "a", "tool", "tool", 2, { duration_ms: 1000 })]);
    flushAll();
    expect(tree.el.style.getPropertyValue("--lsw-now")).toBe("2");
    const fillT = node(tree.el, "t").querySelector(".lsw-bar-fill");
    expect(fillT.style.getPropertyValue("--s")).toBe("1");
    expect(fillT.style.getPropertyValue("--e")).toBe("2");
    const fillA = node(tree.el, "a").querySelector(".lsw-bar-fill");
    expect(fillA.style.getPropertyValue("--e")).toBe("var(--lsw-now)");
    tree.addEntries([start("u", "a", "tool2", "tool", 5)]);
    flushAll();
    expect(tree.el.style.getPropertyValue("--lsw-now")).toBe("5");
    expect(tree.el.style.getPropertyValue("--lsw-range")).toBe("5");
  });

  test("foreign text lines are leaf text nodes", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(["plain log line from a foreign module\n", start("a", null, "agent", "agent", 0), "another line"]);
    flushAll();
    const leaves = Array.from(tree.el.querySelectorAll(".lsw-text-node"));
    expect(leaves.map((l) => l.textContent)).toEqual(["plain log line from a foreign module", "another line"]);
    expect(leaves[0].dataset.kind).toBe("text");
  });

  test("run markers (issue 13) are ignored: neither a node nor a text line", () => {
    const { tree, flushAll } = makeTree();
    const runStart = { v: 1, ts: T0, event: "run_start", span: "r1", name: "run", input: "q" };
    const runEnd = { v: 1, ts: T0 + 2, event: "run_end", span: "r1", name: "run", status: "done", output: "ok" };
    tree.addEntries([runStart, start("a", null, "agent", "agent", 0), end("a", null, "agent", "agent", 1), runEnd]);
    flushAll();
    expect(tree.el.querySelectorAll(".lsw-text-node").length).toBe(0);
    expect(node(tree.el, "r1")).toBeNull();
    expect(node(tree.el, "a")).not.toBeNull();
  });

  test("attrs cut by the kernel (a string) are shown as text", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("a", null, "agent", "agent", 0, { attrs: "{\"big\": \"xx…[truncated, 9000 bytes in all]" })]);
    tree.addEntries([end("a", null, "agent", "agent", 1)]);
    flushAll();
    node(tree.el, "a").querySelector(".lsw-toggle").click();
    expect(node(tree.el, "a").querySelector(".lsw-node-body").textContent).toContain("truncated, 9000 bytes");
  });

  test("long values are cut with 'show all'", () => {
    const { tree, flushAll } = makeTree({ maxChars: 2000 });
    tree.addEntries([start("a", null, "agent", "agent", 0, { input: "x".repeat(5000) })]);
    flushAll();
    node(tree.el, "a").querySelector(".lsw-toggle").click();
    const pre = node(tree.el, "a").querySelector(".lsw-value");
    expect(pre.textContent.length).toBe(2001);
    node(tree.el, "a").querySelector(".lsw-show-all").click();
    expect(pre.textContent.length).toBe(5000);
  });

  test("100,000 entries: streamed in chunks and all at once, without rendering them all", () => {
    const entries = [start("root", null, "agent", "agent", 0)];
    for (let i = 0; i < 49_999; i++) {
      const id = `s${i}`;
      entries.push(start(id, "root", `tool_${i}`, "tool", i * 0.001, { input: { i } }));
      entries.push(end(id, "root", `tool_${i}`, "tool", i * 0.001 + 0.0005));
    }
    entries.push(end("root", null, "agent", "agent", 60));
    expect(entries.length).toBe(100_000);

    // Streamed: 1,000 entries per frame.
    const { tree, flushAll } = makeTree();
    let t = performance.now();
    let worst = 0;
    for (let i = 0; i < entries.length; i += 1000) {
      const f = performance.now();
      tree.addEntries(entries.slice(i, i + 1000));
      flushAll();
      worst = Math.max(worst, performance.now() - f);
    }
    const streamed = performance.now() - t;
    expect(tree.spanCount).toBe(50_000);
    expect(tree.el.querySelectorAll(".lsw-node").length).toBe(201); // root + one page
    expect(node(tree.el, "root").dataset.status).toBe("ok");

    // All at once (a saved notebook), then expand all: budgeted frames.
    document.body.replaceChildren();
    const { tree: tree2 } = makeTree();
    t = performance.now();
    tree2.addEntries(entries);
    let frames = 0;
    while (tree2.flush()) frames++;
    const once = performance.now() - t;
    tree2.expandAll();
    while (tree2.flush()) frames++;
    console.log(`trace: streamed ${streamed.toFixed(0)} ms (worst frame ${worst.toFixed(1)} ms), at once ${once.toFixed(0)} ms`);
    expect(streamed).toBeLessThan(15_000);
    expect(worst).toBeLessThan(1000);
    expect(once).toBeLessThan(5000);
    expect(tree2.el.querySelectorAll(".lsw-node").length).toBe(201);
  });
});
