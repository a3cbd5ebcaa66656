import { describe, expect, test, vi } from "vitest";
import { dispatch, MESSAGE_TYPES, RUN_STATUSES, SPAN_KINDS } from "../protocol.js";
import { RunStore } from "../store.js";

const runStart = (mseq, id, extra = {}) => ({ type: "run_start", mseq, run: { id, query: `q ${id}`, status: "running", text: "", thinking: "", entries: [], started_at: 1000, stats: {}, ...extra } });
const delta = (mseq, run, extra = {}) => ({ type: "delta", mseq, run, ...extra });
const entry = (seq, span, event = "start") => ({ v: 1, seq, ts: 1000 + seq, event, span, parent: null, name: span, kind: "tool" });

describe("protocol", () => {
  test("constants mirror protocol.py", () => {
    expect(MESSAGE_TYPES).toEqual(["run_start", "delta", "snapshot", "control_reply", "cancel", "resync"]);
    expect(SPAN_KINDS).toEqual(["agent", "llm", "tool", "flow", "module", "chain", "retriever", "embedding", "reranker", "guardrail", "evaluator"]);
    expect(RUN_STATUSES).toEqual(["running", "done", "error", "cancelled"]);
  });

  test("dispatch is a typed switch that ignores unknown and malformed messages", () => {
    const run_start = vi.fn();
    const deltaFn = vi.fn();
    expect(dispatch(runStart(1, "a"), { run_start, delta: deltaFn })).toBe(true);
    expect(dispatch(delta(2, "a"), { run_start, delta: deltaFn })).toBe(true);
    expect(dispatch({ type: "future_thing" }, { run_start, delta: deltaFn })).toBe(false);
    expect(dispatch({ type: "run_start" }, { run_start })).toBe(false); // no run
    expect(dispatch({ type: "delta", run: 5 }, { delta: deltaFn })).toBe(false);
    expect(dispatch(null, {})).toBe(false);
    expect(dispatch("text", {})).toBe(false);
    expect(run_start).toHaveBeenCalledTimes(1);
    expect(deltaFn).toHaveBeenCalledTimes(1);
  });
});

describe("run store", () => {
  test("run_start then deltas append text, thinking, entries and stats", () => {
    const store = new RunStore({ now: () => 5 });
    const events = [];
    store.subscribe((e) => events.push(e));
    store.applyMessage(runStart(1, "r1"));
    store.applyMessage(delta(2, "r1", { text: "Hel", thinking: "hm", entries: [entry(1, "s")], stats: { tokens: 1 } }));
    store.applyMessage(delta(3, "r1", { text: "lo", entries: [entry(2, "s", "end"), "raw line\n"], stats: { tokens: 2, ttft_ms: 40 } }));
    const run = store.get("r1");
    expect(run.text).toBe("Hello");
    expect(run.thinking).toBe("hm");
    expect(run.entries.length).toBe(3);
    expect(run.stats).toEqual({ tokens: 2, ttft_ms: 40 });
    expect(run.status).toBe("running");
    expect(run.textGen).toBe(0);
    expect(store.resyncNeeded).toBe(false);
    expect(events).toEqual([{ type: "order" }, { type: "run", id: "r1" }, { type: "run", id: "r1" }]);
  });

  test("notices append from deltas once each and the trait replaces them", () => {
    const store = new RunStore();
    store.applyMessage(runStart(1, "r1"));
    store.applyMessage(delta(2, "r1", { notices: ["no stream: pass stream=True", 7] }));
    store.applyMessage(delta(3, "r1", { notices: ["no stream: pass stream=True"] }));
    expect(store.get("r1").notices).toEqual(["no stream: pass stream=True"]);
    store.applyRuns([{ id: "r1", status: "done", text: "", entries: [], notices: ["final notice"] }]);
    expect(store.get("r1").notices).toEqual(["final notice"]);
  });

  test("a gap in mseq marks a resync; the final trait replaces the run and clears it", () => {
    const store = new RunStore();
    store.applyMessage(runStart(1, "r1"));
    store.applyMessage(delta(2, "r1", { text: "The " }));
    store.applyMessage(delta(4, "r1", { text: "fox" })); // 3 was lost
    expect(store.resyncNeeded).toBe(true);
    expect(store.get("r1").stale).toBe(true);
    expect(store.get("r1").text).toBe("The fox");
    store.applyRuns([{ id: "r1", query: "q", status: "done", text: "The quick fox", entries: [], stats: { tokens: 3 } }]);
    const run = store.get("r1");
    expect(run.text).toBe("The quick fox");
    expect(run.textGen).toBe(1); // replaced, not appended
    expect(run.status).toBe("done");
    expect(run.stale).toBe(false);
    expect(store.resyncNeeded).toBe(false);
  });

  test("joining late (first mseq > 1) is a gap; duplicates are ignored", () => {
    const store = new RunStore();
    store.applyMessage(delta(7, "r9", { text: "tail" }));
    expect(store.resyncNeeded).toBe(true);
    expect(store.get("r9").stale).toBe(true);
    store.applyMessage(delta(8, "r9", { text: "!" }));
    store.applyMessage(delta(8, "r9", { text: "!" }));
    expect(store.get("r9").text).toBe("tail!");
  });

  test("the trait is authoritative over streamed state; a consistent final state appends", () => {
    const store = new RunStore();
    store.applyMessage(runStart(1, "r1"));
    store.applyMessage(delta(2, "r1", { text: "abc", entries: [entry(1, "s")] }));
    store.applyRuns([{ id: "r1", status: "done", text: "abcdef", entries: [entry(1, "s"), entry(2, "s", "end")], error: null, result: "6", stats: { tokens: 6 } }]);
    const run = store.get("r1");
    expect(run.text).toBe("abcdef");
    expect(run.textGen).toBe(0); // grew: views append "def"
    expect(run.entriesGen).toBe(0);
    expect(run.entries.length).toBe(2);
    expect(run.result).toBe("6");
    // A late delta after the final state changes nothing.
    store.applyMessage(delta(3, "r1", { text: "zzz" }));
    expect(store.get("r1").text).toBe("abcdef");
    // A different final text replaces.
    store.applyRuns([{ id: "r1", status: "error", text: "other", entries: [], error: { type: "ValueError", message: "x" } }]);
    expect(run.text).toBe("other");
    expect(run.textGen).toBe(1);
    expect(run.entriesGen).toBe(1);
    expect(run.error.type).toBe("ValueError");
  });

  test("a finished run repeated unchanged by a later trait update is not replaced or redrawn; a change is", () => {
    const store = new RunStore();
    const final = () => ({ id: "r1", status: "done", text: "x".repeat(1000), entries: [entry(1, "s")], result: null,
      started_at: 1, ended_at: 2, stats: { tokens: 3 }, notices: ["n"] });
    store.applyRuns([final()]);
    const events = [];
    store.subscribe((e) => events.push(e));
    const run = store.get("r1");
    store.applyRuns([final(), { id: "r2", status: "running", text: "", entries: [] }]);
    expect(events.filter((e) => e.type === "run" && e.id === "r1")).toEqual([]);
    expect(store.get("r1")).toBe(run);
    store.applyRuns([{ ...final(), notices: ["n", "another"] }, { id: "r2", status: "running", text: "", entries: [] }]);
    expect(events.filter((e) => e.type === "run" && e.id === "r1").length).toBe(1);
    expect(run.notices).toEqual(["n", "another"]);
    store.applyRuns([{ ...final(), notices: ["n", "another"], text: "y".repeat(1000) }]);
    expect(run.text).toBe("y".repeat(1000));
    expect(run.textGen).toBe(1);
  });

  test("a running trait snapshot does not overwrite a stream that is ahead", () => {
    const store = new RunStore();
    store.applyMessage(runStart(1, "r1"));
    store.applyMessage(delta(2, "r1", { text: "streamed further" }));
    store.applyRuns([{ id: "r1", status: "running", text: "stream", entries: [] }]);
    expect(store.get("r1").text).toBe("streamed further");
    // ...but one that is ahead is taken.
    store.applyRuns([{ id: "r1", status: "running", text: "streamed further and more", entries: [] }]);
    expect(store.get("r1").text).toBe("streamed further and more");
    expect(store.get("r1").textGen).toBe(0);
  });

  test("a stale running run keeps its text when an older trait picture arrives (it waits for the resync)", () => {
    const store = new RunStore();
    store.applyMessage(runStart(1, "r1"));
    store.applyMessage(delta(2, "r1", { text: "The " }));
    store.applyMessage(delta(4, "r1", { text: "fox jumps", entries: [entry(1, "s")] })); // 3 was lost
    expect(store.get("r1").stale).toBe(true);
    // e.g. another run started: the trait is written with this run as it was a while ago
    store.applyRuns([{ id: "r1", status: "running", text: "The qu", entries: [] }]);
    const run = store.get("r1");
    expect(run.text).toBe("The fox jumps");
    expect(run.textGen).toBe(0);
    expect(run.entries.length).toBe(1);
    expect(run.stale).toBe(true);
    expect(store.resyncNeeded).toBe(true);
    // more text but fewer entries is no newer picture either
    store.applyRuns([{ id: "r1", status: "running", text: "The quick brown fox jumps", entries: [] }]);
    expect(run.text).toBe("The fox jumps");
    // the resync reply mends it; the deltas after it continue it
    store.applyMessage({ type: "snapshot", mseq: 5, runs: [{ id: "r1", status: "running", text: "The quick fox jumps", entries: [entry(1, "s")] }] });
    store.applyMessage(delta(6, "r1", { text: " over" }));
    expect(run.text).toBe("The quick fox jumps over");
    expect(run.stale).toBe(false);
    // a trait that has all of it and more is taken
    store.applyRuns([{ id: "r1", status: "running", text: "The quick fox jumps over the dog", entries: [entry(1, "s")] }]);
    expect(run.text).toBe("The quick fox jumps over the dog");
  });

  test("run order follows the trait; removed runs go, streamed-only runs stay", () => {
    const store = new RunStore();
    store.applyRuns([{ id: "a", status: "done", text: "A" }, { id: "b", status: "done", text: "B" }]);
    store.applyMessage(runStart(1, "c"));
    expect(store.order).toEqual(["a", "b", "c"]);
    store.applyRuns([{ id: "b", status: "done", text: "B" }]); // "a" was cleared by the kernel
    expect(store.order).toEqual(["b", "c"]);
    expect(store.get("a")).toBeUndefined();
    expect(store.get("c").text).toBe("");
  });

  test("several subscribers see the same state; unsubscribe stops events", () => {
    const store = new RunStore();
    const a = vi.fn();
    const b = vi.fn();
    const offA = store.subscribe(a);
    store.subscribe(b);
    store.applyMessage(runStart(1, "r"));
    offA();
    store.applyMessage(delta(2, "r", { text: "x" }));
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(2);
    expect(store.list().map((r) => r.text)).toEqual(["x"]);
  });

  test("garbage in the trait or messages is ignored", () => {
    const store = new RunStore();
    store.applyRuns(null);
    store.applyRuns([null, 3, { id: "" }, { nope: 1 }]);
    expect(store.applyMessage({ type: "delta" })).toBe(false);
    expect(store.applyMessage({ type: "whatever", run: "x" })).toBe(false);
    expect(store.list()).toEqual([]);
  });
});
