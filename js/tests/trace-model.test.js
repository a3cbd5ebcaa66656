import { beforeEach, describe, expect, test } from "vitest";
import { formatCost, formatRollup, modelOf } from "../rollups.js";
import { TraceModel } from "../trace-model.js";
import { flattenRows } from "../trace-rows.js";
import { agentRun, end, event, resetSeq, start } from "./trace-fixtures.js";
import { rng } from "./helpers.js";

beforeEach(resetSeq);

const ids = (nodes) => nodes.map((n) => n.id);

describe("trace model: structure", () => {
  test("nests spans by parent; parallel tools are siblings in start order", () => {
    const m = new TraceModel();
    m.add(agentRun());
    const a = m.nodes.get("a");
    expect(ids(m.root.children)).toEqual(["a"]);
    expect(ids(a.children)).toEqual(["l1", "t1", "t2", "l2"]);
    expect(m.nodes.get("t1").depth).toBe(1);
    expect(m.spanCount).toBe(5);
  });

  test("run markers (issue 13) are ignored: neither a node nor a text line", () => {
    const m = new TraceModel();
    const runStart = { v: 1, ts: 1, event: "run_start", span: "r1", name: "run", input: "q" };
    const runEnd = { v: 1, ts: 2, event: "run_end", span: "r1", name: "run", status: "done", output: "ok" };
    m.add([runStart, ...agentRun(), runEnd]);
    expect(ids(m.root.children)).toEqual(["a"]);
    expect(m.nodes.has("r1")).toBe(false);
    expect(m.spanCount).toBe(5);
  });

  test("entries arriving in any order build the same tree", () => {
    const ref = new TraceModel();
    ref.add(agentRun());
    const want = flattenRows(ref.root, "all").map((n) => `${n.id}@${n.depth}`);
    for (let s = 1; s <= 8; s++) {
      resetSeq();
      const entries = agentRun();
      const rand = rng(s);
      for (let i = entries.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [entries[i], entries[j]] = [entries[j], entries[i]];
      }
      const m = new TraceModel();
      for (let i = 0; i < entries.length; i += 3) m.add(entries.slice(i, i + 3));
      expect(flattenRows(m.root, "all").map((n) => `${n.id}@${n.depth}`), `seed ${s}`).toEqual(want);
      expect([...m.nodes.values()].some((n) => n.orphan)).toBe(false);
    }
  });

  test("orphans wait for their parent, show at the top after the grace period, and move when it comes", () => {
    let now = 0;
    const m = new TraceModel({ now: () => now });
    m.add([start("c", "later", "orphan", "tool", 1)]);
    expect(m.root.children).toEqual([]);
    expect(m.promoteOrphans()).toBe(true); // still within the grace period
    now = 1500;
    expect(m.promoteOrphans()).toBe(false);
    expect(ids(m.root.children)).toEqual(["c"]);
    expect(m.nodes.get("c").orphan).toBe(true);
    m.add([start("later", null, "late parent", "agent", 0)]);
    expect(ids(m.root.children)).toEqual(["later"]);
    expect(ids(m.nodes.get("later").children)).toEqual(["c"]);
    expect(m.nodes.get("c").orphan).toBe(false);
  });

  test("a parent cycle in the data neither hides nor hangs", () => {
    const m = new TraceModel();
    m.add([start("x", "y", "x", "tool", 0), start("y", "x", "y", "tool", 1)]);
    m.setFinal(true);
    const rows = flattenRows(m.root, "all");
    expect(ids(rows).sort()).toEqual(["x", "y"]);
  });

  test("an end without its start is placed where it must have started", () => {
    const m = new TraceModel();
    m.add([start("a", null, "agent", "agent", 0), start("b", "a", "second", "tool", 5), end("c", "a", "first", "tool", 3, { duration_ms: 2000 })]);
    expect(ids(m.nodes.get("a").children)).toEqual(["c", "b"]);
    expect(m.nodes.get("c").startTs).toBeCloseTo(m.nodes.get("c").endTs - 2);
  });
});

describe("trace model: roll-ups", () => {
  test("tokens, LLM and tool calls and errors sum up each subtree and the run", () => {
    const m = new TraceModel();
    m.add(agentRun());
    const a = m.nodes.get("a");
    expect(a.sub).toMatchObject({ inTok: 320, outTok: 80, llm: 2, tool: 2, errors: 1, spans: 5 });
    expect(m.totals).toEqual(a.sub);
    expect(m.nodes.get("l1").own).toMatchObject({ inTok: 120, outTok: 30, llm: 1 });
    expect(formatRollup(a.sub)).toBe("2 LLM calls · 2 tool calls · 320 → 80 tokens");
  });

  test("cost from prices per 1M tokens; '≥' when some calls have no price; prices set later apply", () => {
    const m = new TraceModel();
    m.add(agentRun());
    expect(m.totals.priced).toBe(0);
    m.setPrices({ "gpt-x": [2.5, 10] });
    // (320 * 2.5 + 80 * 10) / 1e6 = 0.0016
    expect(m.totals.cost).toBeCloseTo(0.0016, 10);
    expect(formatRollup(m.totals, "€")).toBe("2 LLM calls · 2 tool calls · 320 → 80 tokens · €0.0016");
    m.add([start("l3", "a", "other", "llm", 2.05, { attrs: { model: "unpriced" } }), end("l3", "a", "other", "llm", 2.06, { usage: { prompt_tokens: 1, completion_tokens: 1 } })]);
    expect(formatRollup(m.totals)).toContain("≥$0.0016");
    expect(formatCost(0)).toBe("$0");
    expect(formatCost(0.00001)).toBe("<$0.0001");
    expect(formatCost(12.345)).toBe("$12.35");
  });

  test("an error counts once, where it happened, not again at every span it propagated through", () => {
    const err = { type: "KeyError", message: "'city'" };
    const m = new TraceModel();
    // ends arrive child first (the usual order) for the pipeline, parent first for the agent
    m.add([start("p", null, "pipeline", "flow", 0), start("s", "p", "stage", "flow", 0.1), start("t", "s", "lookup", "tool", 0.2)]);
    m.add([end("t", "s", "lookup", "tool", 0.3, { status: "error", error: err })]);
    m.add([end("s", "p", "stage", "flow", 0.4, { status: "error", error: { ...err, message: "in stage: 'city'" } })]);
    m.add([end("p", null, "pipeline", "flow", 0.5, { status: "error", error: err })]);
    expect(m.totals.errors).toBe(1);
    expect(m.nodes.get("t").own.errors).toBe(1);
    expect(m.nodes.get("s").own.errors).toBe(0);
    // parent's end before its child's: the count is corrected when the child's end comes
    m.add([start("a", null, "agent", "agent", 1), start("l", "a", "gpt", "llm", 1.1)]);
    const me = { type: "ModelError", message: "connection refused" };
    m.add([end("a", null, "agent", "agent", 1.3, { status: "error", error: me })]);
    expect(m.totals.errors).toBe(2); // for now the agent's own
    m.add([end("l", "a", "gpt", "llm", 1.2, { status: "error", error: me })]);
    expect(m.totals.errors).toBe(2);
    expect(m.nodes.get("a").own.errors).toBe(0);
    // a parent failing with a different error than its child's counts both
    m.add([start("b", null, "agent", "agent", 2), start("u", "b", "tool", "tool", 2.1),
      end("u", "b", "tool", "tool", 2.2, { status: "error", error: { type: "TimeoutError", message: "slow" } }),
      end("b", null, "agent", "agent", 2.3, { status: "error", error: { type: "ValueError", message: "bad" } })]);
    expect(m.totals.errors).toBe(4);
  });

  test("a running run's cost with calls still streaming or unpriced never reads '≥<$'", () => {
    const m = new TraceModel();
    m.setPrices({ "gpt-x": [0.01, 0.01] });
    m.add([start("a", null, "agent", "agent", 0), start("l1", "a", "gpt-x", "llm", 0.1, { attrs: { model: "gpt-x" } }),
      end("l1", "a", "gpt-x", "llm", 0.2, { usage: { prompt_tokens: 10, completion_tokens: 10 }, attrs: { model: "gpt-x" } }),
      start("l2", "a", "gpt-x", "llm", 0.3, { attrs: { model: "gpt-x" } })]);
    // l2 still running: no usage yet, so the known cost is not a lower bound of anything unpriced
    expect(formatRollup(m.totals)).toBe("2 LLM calls · 10 → 10 tokens · <$0.0001");
    m.add([start("l3", "a", "other", "llm", 0.4, { attrs: { model: "other" } }),
      end("l3", "a", "other", "llm", 0.5, { usage: { prompt_tokens: 1, completion_tokens: 1 }, attrs: { model: "other" } })]);
    const line = formatRollup(m.totals);
    expect(line).not.toContain("≥<");
    expect(line.endsWith("≥$0")).toBe(true);
  });

  test("roll-ups follow a subtree that moves (a late parent adopts it)", () => {
    const m = new TraceModel();
    m.add([start("l", "p", "gpt", "llm", 1), end("l", "p", "gpt", "llm", 2, { usage: { prompt_tokens: 7, completion_tokens: 3 } })]);
    m.setFinal(true); // shown at the top as an orphan
    expect(m.totals).toMatchObject({ inTok: 7, outTok: 3, spans: 1 });
    m.add([start("p", null, "agent", "agent", 0)]);
    expect(m.nodes.get("p").sub).toMatchObject({ inTok: 7, outTok: 3, llm: 1, spans: 2 });
    expect(m.totals).toMatchObject({ inTok: 7, outTok: 3, spans: 2 });
  });

  test("the model of a span: attrs.model, OpenTelemetry GenAI attributes, else an llm span's name", () => {
    expect(modelOf({ kind: "llm", name: "n", attrs: { model: "m" } })).toBe("m");
    expect(modelOf({ kind: "llm", name: "n", attrs: { "gen_ai.request.model": "g" } })).toBe("g");
    expect(modelOf({ kind: "llm", name: "n", attrs: {} })).toBe("n");
    expect(modelOf({ kind: "tool", name: "n", attrs: {} })).toBe("");
  });
});

describe("trace model: streamed tool calls", () => {
  const call = (t, offset, delta, extra = {}) =>
    event("l1", "a", "tool_call", t, { call_id: "c1", index: 0, tool: "get_weather", offset, delta, ...extra });

  test("a provisional tool node appears, fills in, and gives its place to the tool span", () => {
    const m = new TraceModel();
    m.add([start("a", null, "agent", "agent", 0), start("l1", "a", "gpt", "llm", 0.1)]);
    m.add([call(0.5, 0, '{"city": "Pa')]);
    const node = m.nodes.get("call:c1");
    expect(node.isCall).toBe(true);
    expect(node.status).toBe("running");
    expect(node.container).toBe(m.nodes.get("a")); // where its tool span will be, beside the llm
    expect(node.argsText).toBe('{"city": "Pa');
    m.add([call(0.8, 12, 'ris"}', { done: true })]);
    expect(node.argsText).toBe('{"city": "Paris"}');
    expect(node.status).toBe("requested");
    expect(m.nodes.get("l1").events).toEqual([]); // not shown as events of the llm span
    m.add([start("l2", "a", "gpt", "llm", 0.6)]); // a later sibling
    m.add([end("l1", "a", "gpt", "llm", 1), start("t1", "a", "get_weather", "tool", 1.2, { attrs: { call_id: "c1" }, input: { city: "Paris" } })]);
    expect(m.nodes.has("call:c1")).toBe(false);
    expect(m.replaced.get("call:c1")).toBe("t1");
    expect(ids(m.nodes.get("a").children)).toEqual(["l1", "t1", "l2"]); // took the call's place
    expect(m.totals.tool).toBe(1); // counted once
  });

  test("a missed piece is flagged; repeats are not doubled; unclaimed calls settle when the run ends", () => {
    const m = new TraceModel();
    m.add([start("a", null, "agent", "agent", 0), start("l1", "a", "gpt", "llm", 0.1)]);
    m.add([call(0.2, 0, "abc"), call(0.3, 0, "abc"), call(0.4, 10, "xyz")]);
    const node = m.nodes.get("call:c1");
    expect(node.argsText).toBe("abc");
    expect(node.argsGap).toBe(true);
    expect(node.status).toBe("running");
    m.setFinal(true);
    expect(node.status).toBe("requested");
  });
});
