import { beforeEach, describe, expect, test } from "vitest";
import { TraceView } from "../trace-view.js";
import { cpuMs } from "./helpers.js";
import { agentRun, end, event, resetSeq, start, T0 } from "./trace-fixtures.js";

function makeTree(opts = {}) {
  let now = 0;
  let clock = 0;
  const tree = new TraceView({ now: () => now, clock: () => clock, viewportHeight: 600, ...opts });
  document.body.append(tree.el);
  const flushAll = () => {
    for (let i = 0; i < 1000 && tree.flush(); i++);
  };
  return { tree, flushAll, advance: (ms) => ((now += ms), (clock += ms)) };
}

const row = (tree, span) => tree.el.querySelector(`.lsw-node[data-span="${span}"]`);
const rows = (tree) => Array.from(tree.el.querySelectorAll(".lsw-node")).map((li) => `${li.dataset.span}@${li.getAttribute("aria-level")}`);
const key = (tree, k, extra = {}) => {
  const target = tree.el.ownerDocument.activeElement?.closest?.(".lsw-node") ?? tree.listEl;
  target.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...extra }));
};
const focused = (tree) => tree.el.ownerDocument.activeElement?.dataset?.span;

beforeEach(() => {
  resetSeq();
  document.body.replaceChildren();
});

describe("trace view: rows", () => {
  test("a real ARIA tree: treeitems with level, set size, position, expanded and selected", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    expect(tree.listEl.getAttribute("role")).toBe("tree");
    expect(rows(tree)).toEqual(["a@1", "l1@2", "t1@2", "t2@2", "l2@2"]);
    const a = row(tree, "a");
    expect(a.getAttribute("role")).toBe("treeitem");
    expect(a.getAttribute("aria-expanded")).toBe("true");
    expect(row(tree, "t1").hasAttribute("aria-expanded")).toBe(false); // a leaf
    expect([...tree.el.querySelectorAll(".lsw-node")].map((r) => `${r.getAttribute("aria-posinset")}/${r.getAttribute("aria-setsize")}`))
      .toEqual(["1/1", "1/4", "2/4", "3/4", "4/4"]);
    expect(tree.el.querySelectorAll('.lsw-node[tabindex="0"]').length).toBe(1); // roving focus
    expect(a.getAttribute("aria-label")).toContain("agent, agent, OK, 2.10 s");
  });

  test("statuses, facts and badges: no 'scripted scripted', tokens, ttft, arguments, events, errors below a folded node", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    const meta = (s) => row(tree, s).querySelector(".lsw-node-meta").textContent;
    expect(meta("l1")).toBe("120 → 30 tok · ttft 230 ms"); // the model equals the name: not repeated
    expect(meta("t2")).toBe('{"tz":"CET"}');
    expect(meta("a")).toBe("2 LLM calls · 2 tool calls · 320 → 80 tok");
    expect(row(tree, "l1").querySelector(".lsw-events-badge").textContent).toBe("retry ×2");
    expect(row(tree, "t1").dataset.status).toBe("error");
    expect(row(tree, "t1").querySelector(".lsw-node-status").title).toBe("TimeoutError: took too long");
    expect(row(tree, "a").querySelector(".lsw-errors-below").hidden).toBe(true); // open: the error row shows
    tree.collapseAll();
    flushAll();
    expect(rows(tree)).toEqual(["a@1"]);
    const below = row(tree, "a").querySelector(".lsw-errors-below");
    expect(below.hidden).toBe(false);
    expect(below.textContent).toBe("1 error below");
    expect(row(tree, "a").getAttribute("aria-label")).toContain("1 error below");
  });

  test("the waterfall starts at the run's start; open spans run to the latest time", () => {
    const { tree, flushAll } = makeTree();
    tree.setOrigin(T0 - 1);
    tree.addEntries([start("a", null, "agent", "agent", 0), start("t", "a", "tool", "tool", 1), end("t", "a", "tool", "tool", 2, { duration_ms: 1000 })]);
    flushAll();
    expect(tree.el.style.getPropertyValue("--lsw-now")).toBe("3");
    const fill = (s) => row(tree, s).querySelector(".lsw-bar-fill").style;
    expect(fill("t").getPropertyValue("--s")).toBe("2");
    expect(fill("t").getPropertyValue("--e")).toBe("3");
    expect(fill("a").getPropertyValue("--e")).toBe("var(--lsw-now)");
  });

  test("virtualised: 50,000 spans put only the visible rows (and the focusable one) in the DOM", () => {
    const entries = [start("root", null, "agent", "agent", 0)];
    for (let i = 0; i < 49_999; i++) {
      entries.push(start(`s${i}`, "root", `tool_${i}`, "tool", i * 0.001, { input: { i } }));
      entries.push(end(`s${i}`, "root", `tool_${i}`, "tool", i * 0.001 + 0.0005));
    }
    const { tree, flushAll } = makeTree({ rowHeight: 20, overscan: 5, viewportHeight: 400 });
    let worst = 0;
    for (let i = 0; i < entries.length; i += 5000) {
      const t = cpuMs(); // CPU time: the wall clock on a busy machine measures the other processes
      tree.addEntries(entries.slice(i, i + 5000));
      flushAll();
      worst = Math.max(worst, cpuMs() - t);
    }
    expect(tree.spanCount).toBe(50_000);
    expect(tree.rows.length).toBe(50_000);
    expect(tree.el.querySelectorAll(".lsw-node").length).toBeLessThanOrEqual(26);
    expect(tree.listEl.style.height).toBe(`${50_000 * 20}px`);
    tree.viewport.scrollTop = 20 * 30_000;
    tree.viewport.dispatchEvent(new Event("scroll"));
    flushAll();
    const shown = [...tree.el.querySelectorAll(".lsw-node")].map((r) => r.dataset.span);
    expect(shown).toContain("s29999");
    expect(shown).toContain("root"); // the focusable row stays
    expect(shown.length).toBeLessThanOrEqual(32);
    expect(worst).toBeLessThan(2000); // ms of CPU per 5,000 entries: generous for jsdom
  });
});

describe("trace view: a backlog of entries", () => {
  test("loads over frames, redrawn now and then (not every frame); a click draws at once; all rows at the end", () => {
    const entries = [start("root", null, "agent", "agent", 0)];
    for (let i = 0; i < 6_000; i++) {
      entries.push(start(`s${i}`, "root", `tool_${i}`, "tool", i * 0.001));
      entries.push(end(`s${i}`, "root", `tool_${i}`, "tool", i * 0.001 + 0.0005));
    }
    // a clock that moves 2 ms per reading: ingestion runs out of budget every frame
    let clock = 0;
    const tree = new TraceView({ clock: () => (clock += 2), viewportHeight: 400, rowHeight: 20 });
    document.body.append(tree.el);
    tree.addEntries(entries);
    let frames = 0;
    let draws = 0;
    let height = tree.listEl.style.height;
    let clicked = false;
    while (tree.flush() && frames < 5000) {
      frames++;
      clock += 16.7; // the next animation frame
      if (tree.listEl.style.height !== height) {
        draws++;
        height = tree.listEl.style.height;
      }
      if (!clicked && tree.spanCount > 100) {
        clicked = true;
        row(tree, "s1").click(); // the user's action during the backlog: drawn now
        expect(row(tree, "s1").getAttribute("aria-selected")).toBe("true");
        expect(tree.panel.el.textContent).toContain("tool_1");
      }
    }
    expect(clicked).toBe(true);
    expect(frames).toBeGreaterThan(15); // it did take several frames
    expect(draws).toBeLessThan(frames / 5); // ...without a redraw in each
    expect(tree.spanCount).toBe(6_001);
    expect(tree.listEl.style.height).toBe(`${6_001 * 20}px`);
    expect(tree.el.querySelector(".lsw-tree-summary").textContent).toBe("6,001 spans");
  });
});

describe("trace view: a live trace", () => {
  test("redraws are spaced by their cost, and a scroll draws at once", () => {
    // a clock the test moves: each redraw "costs" what the tree's rows cost (1 ms per 200 rows)
    let clock = 0;
    const tree = new TraceView({ clock: () => clock, viewportHeight: 400, rowHeight: 20 });
    document.body.append(tree.el);
    const flattenCost = () => tree.rows.length / 200;
    const realDraw = tree._draw.bind(tree);
    tree._draw = () => {
      const out = realDraw();
      clock += flattenCost();
      return out;
    };
    tree.addEntries([start("root", null, "agent", "agent", 0)]);
    let n = 0;
    let draws = 0;
    let frames = 0;
    for (let f = 0; f < 300; f++) {
      // 40 spans per frame, a frame every 16.7 ms
      const batch = [];
      for (let i = 0; i < 40; i++, n++) batch.push(start(`s${n}`, "root", `tool_${n}`, "tool", n * 0.001));
      tree.addEntries(batch);
      const before = tree.rows.length;
      tree.flush();
      frames++;
      if (tree.rows.length !== before) draws++;
      clock += 16.7;
    }
    // early on (cheap) every frame draws; with 10,000 rows a draw costs 50 ms: one in ~12 frames
    expect(draws).toBeLessThan(frames * 0.6);
    expect(draws).toBeGreaterThan(frames * 0.1);
    // a scroll is the user's: drawn in the next frame whatever the spacing
    tree.addEntries([start("late", "root", "late_tool", "tool", 99)]);
    tree.viewport.scrollTop = 20 * 5000;
    tree.viewport.dispatchEvent(new Event("scroll"));
    tree.flush();
    const shown = [...tree.el.querySelectorAll(".lsw-node")].map((r) => r.dataset.span);
    expect(shown).toContain("s4999");
    // and nothing is lost: once the entries stop, the last ones are drawn
    for (let i = 0; i < 100 && tree.flush(); i++) clock += 16.7;
    expect(tree.rows.length).toBe(n + 2);
  });
});

describe("trace view: keyboard", () => {
  test("arrows, Home/End, Right/Left open, close and move; Enter/Space toggle; focus follows; selection shows details", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    row(tree, "a").focus();
    key(tree, "ArrowDown");
    expect(focused(tree)).toBe("l1");
    expect(row(tree, "l1").getAttribute("aria-selected")).toBe("true");
    expect(tree.detail.querySelector(".lsw-detail-content").dataset.span).toBe("l1");
    key(tree, "End");
    expect(focused(tree)).toBe("l2");
    key(tree, "Home");
    expect(focused(tree)).toBe("a");
    key(tree, "ArrowLeft"); // open parent: closes
    expect(row(tree, "a").getAttribute("aria-expanded")).toBe("false");
    expect(rows(tree)).toEqual(["a@1"]);
    key(tree, "ArrowRight"); // closed parent: opens
    expect(row(tree, "a").getAttribute("aria-expanded")).toBe("true");
    key(tree, "ArrowRight"); // open parent: first child
    expect(focused(tree)).toBe("l1");
    key(tree, "ArrowLeft"); // a leaf: to its parent
    expect(focused(tree)).toBe("a");
    key(tree, "Enter");
    expect(row(tree, "a").getAttribute("aria-expanded")).toBe("false");
    key(tree, " ");
    expect(row(tree, "a").getAttribute("aria-expanded")).toBe("true");
    expect(tree.el.querySelectorAll('.lsw-node[tabindex="0"]').length).toBe(1);
    expect(row(tree, "a").tabIndex).toBe(0);
  });

  test("a click on the triangle toggles; a click on the row selects", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    row(tree, "a").querySelector(".lsw-toggle").click();
    expect(rows(tree)).toEqual(["a@1"]);
    row(tree, "a").click();
    expect(row(tree, "a").getAttribute("aria-selected")).toBe("true");
    expect(tree.selected.id).toBe("a");
  });
});

describe("trace view: filter", () => {
  const type = (tree, text) => {
    tree.filterInput.value = text;
    tree.filterInput.dispatchEvent(new Event("input"));
  };

  test("by name, kind, status and text; ancestors of matches stay (open); Escape clears", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    tree.collapseAll();
    flushAll();
    type(tree, "kind:tool status:error");
    flushAll();
    expect(rows(tree)).toEqual(["a@1", "t1@2"]);
    expect(row(tree, "t1").classList.contains("lsw-match")).toBe(true);
    expect(row(tree, "a").classList.contains("lsw-context")).toBe(true);
    expect(tree.filterStatus.textContent).toBe("1 of 5 match");
    type(tree, "cet"); // text in a tool's input, and in the llm output that asked for the call
    flushAll();
    expect(rows(tree)).toEqual(["a@1", "l1@2", "t2@2"]);
    type(tree, "name:gpt");
    flushAll();
    expect(rows(tree)).toEqual(["a@1", "l1@2", "l2@2"]);
    type(tree, '"took too long"'); // a phrase in an error message
    flushAll();
    expect(rows(tree)).toEqual(["a@1", "t1@2"]);
    type(tree, "nothing-like-this");
    flushAll();
    expect(rows(tree)).toEqual([]);
    expect(tree.emptyEl.hidden).toBe(false);
    tree.filterInput.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    flushAll();
    expect(rows(tree)).toEqual(["a@1"]); // the tree as it was (collapsed)
  });

  test("a filter that hides the selected span hides its details; they come back with its row", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    tree.select("l2");
    flushAll();
    expect(tree.detail.hidden).toBe(false);
    type(tree, "kind:tool");
    flushAll();
    expect(rows(tree)).toEqual(["a@1", "t1@2", "t2@2"]);
    expect(tree.detail.hidden).toBe(true);
    type(tree, "name:gpt");
    flushAll();
    expect(tree.detail.hidden).toBe(false);
    expect(tree.detail.textContent).toContain("gpt-x");
  });

  test("new entries are searched as they arrive", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    type(tree, "kind:tool");
    flushAll();
    expect(rows(tree)).toEqual(["a@1", "t1@2", "t2@2"]);
    tree.addEntries([start("t3", "a", "search", "tool", 1.9)]);
    flushAll();
    expect(rows(tree)).toEqual(["a@1", "t1@2", "t2@2", "t3@2"]);
  });
});

describe("trace view: details", () => {
  function select(tree, flushAll, id) {
    tree.select(id);
    flushAll();
    return tree.detail.querySelector(".lsw-detail-content");
  }

  test("an llm span: role-labelled messages, its tool calls with argument tables (parsed, never double-escaped)", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    const d = select(tree, flushAll, "l1");
    expect([...d.querySelectorAll(".lsw-msg")].map((m) => m.dataset.role)).toEqual(["user", "assistant"]);
    expect(d.querySelector('.lsw-msg[data-role="user"]').textContent).toContain("weather in Paris?");
    const calls = [...d.querySelectorAll(".lsw-tool-call")];
    expect(calls.map((c) => c.querySelector(".lsw-tool-call-name").textContent)).toEqual(["get_weather(…)", "get_time(…)"]);
    const cell = calls[0].querySelector("table.lsw-kv td");
    expect(calls[0].querySelector("table.lsw-kv th").textContent).toBe("city");
    expect(cell.textContent).toBe("Paris");
    expect(d.textContent).not.toContain('\\"'); // no escaped quotes anywhere
    expect(d.querySelector(".lsw-detail-facts").textContent).toContain("120 → 30 tokens");
  });

  test("a tool span: arguments and result as tables; an error with its traceback; Raw JSON one click away", () => {
    const { tree, flushAll } = makeTree();
    tree.addEntries(agentRun());
    flushAll();
    let d = select(tree, flushAll, "t1");
    expect(d.querySelector(".lsw-section-error .lsw-error-text").textContent).toBe("TimeoutError: took too long");
    expect(d.querySelector(".lsw-traceback").textContent).toContain("Traceback...");
    expect(d.querySelector("table.lsw-kv th").textContent).toBe("city");
    d.querySelector(".lsw-raw-toggle").click();
    d = tree.detail.querySelector(".lsw-detail-content");
    expect(d.querySelector(".lsw-raw-toggle").getAttribute("aria-pressed")).toBe("true");
    const raw = JSON.parse(d.querySelector("pre.lsw-value").textContent);
    expect(raw.map((e) => e.event)).toEqual(["start", "end"]);
  });

  test("a value the kernel cut says so: never 'Show all' of what is only its first 8 KiB", () => {
    const big = `${"x".repeat(8192)}…[truncated, 1048576 bytes in all]`;
    const { tree, flushAll } = makeTree();
    tree.addEntries([start("m", null, "module", "module", 0, { input: big })]);
    flushAll();
    const d = select(tree, flushAll, "m");
    const btn = d.querySelector(".lsw-show-all");
    expect(btn.textContent).toBe("Show all 8,192 characters");
    expect(d.querySelector(".lsw-cut-note").textContent).toBe("The trace keeps the first 8,192 characters of this value (1.0 MB in all).");
    btn.click();
    expect(d.querySelector("pre.lsw-value").textContent).toBe("x".repeat(8192));
  });

  test("a streamed tool call shows its arguments as they arrive, then as a table", () => {
    const { tree, flushAll, advance } = makeTree();
    tree.addEntries([start("a", null, "agent", "agent", 0), start("l1", "a", "gpt", "llm", 0.1)]);
    tree.addEntries([event("l1", "a", "tool_call", 0.2, { call_id: "c9", index: 0, tool: "get_weather", offset: 0, delta: '{"city": "Tok' })]);
    flushAll();
    const r = row(tree, "call:c9");
    expect(r.dataset.call).toBe("true");
    expect(r.dataset.kind).toBe("tool");
    expect(r.querySelector(".lsw-node-meta").textContent).toBe('{"city": "Tok');
    expect(r.querySelector(".lsw-node-status").textContent).toBe("writing…");
    let d = select(tree, flushAll, "call:c9");
    expect(d.querySelector(".lsw-section-label").textContent).toBe("Arguments (streaming…)");
    tree.addEntries([event("l1", "a", "tool_call", 0.4, { call_id: "c9", index: 0, tool: "get_weather", offset: 13, delta: 'yo"}', done: true })]);
    flushAll();
    expect(tree.flush()).toBe(true); // the details of a changing span are redrawn a few times a second
    advance(300);
    flushAll();
    d = tree.detail.querySelector(".lsw-detail-content");
    expect(d.querySelector("table.lsw-kv td").textContent).toBe("Tokyo");
    // the tool span takes over: the selection follows it
    tree.addEntries([end("l1", "a", "gpt", "llm", 0.5), start("t", "a", "get_weather", "tool", 0.6, { attrs: { call_id: "c9" }, input: { city: "Tokyo" } })]);
    flushAll();
    expect(row(tree, "call:c9")).toBeNull();
    expect(tree.selected.id).toBe("t");
    expect(tree.detail.querySelector(".lsw-detail-content").dataset.span).toBe("t");
  });
});
