import { afterEach, describe, expect, test, vi } from "vitest";
import { createAnswerBox, stopWaitText } from "../answer.js";
import {
  createResyncer,
  requestCancel,
  RESYNC_MAX_ATTEMPTS,
  RESYNC_MIN_INTERVAL_MS,
  RESYNC_RETRY_MS,
  resyncMessage,
  STOP_NO_REPLY_MS,
} from "../control.js";
import { RunStore } from "../store.js";
import { createFakeModel } from "./helpers.js";

const state = (id, extra = {}) => ({ id, query: "q", status: "running", text: "", thinking: "", entries: [], stats: {}, ...extra });
const delta = (mseq, run, text) => ({ type: "delta", mseq, run, text });
const reply = (run, ok = true) => ({ type: "control_reply", request: "cancel", run, ok, status: "running", thread: "subshell" });

afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

describe("requestCancel", () => {
  test("sends the cancel request; the kernel's reply ends the wait", () => {
    vi.useFakeTimers();
    const model = createFakeModel();
    const onReply = vi.fn();
    const onNoReply = vi.fn();
    requestCancel(model.proxy(), "r1", { onReply, onNoReply });
    expect(model.sent).toEqual([{ type: "cancel", run: "r1" }]);
    model.emitCustom(reply("other"));
    expect(onReply).not.toHaveBeenCalled();
    model.emitCustom(reply("r1"));
    expect(onReply).toHaveBeenCalledWith(expect.objectContaining({ run: "r1", ok: true }));
    expect(model.listenerCount("msg:custom")).toBe(0);
    vi.advanceTimersByTime(STOP_NO_REPLY_MS * 2);
    expect(onNoReply).not.toHaveBeenCalled();
  });

  test("no reply in time: onNoReply, and a late reply still arrives", () => {
    vi.useFakeTimers();
    const model = createFakeModel();
    const onReply = vi.fn();
    const onNoReply = vi.fn();
    const pending = requestCancel(model.proxy(), "r1", { onReply, onNoReply });
    vi.advanceTimersByTime(STOP_NO_REPLY_MS - 1);
    expect(onNoReply).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(onNoReply).toHaveBeenCalledTimes(1);
    model.emitCustom(reply("r1"));
    expect(onReply).toHaveBeenCalledTimes(1);
    pending.dispose();
  });

  test("no kernel connection: onNotSent at once", () => {
    const model = createFakeModel();
    const proxy = { ...model.proxy(), send: () => { throw new Error("no comm"); } };
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const onNotSent = vi.fn();
    requestCancel(proxy, "r1", { onNotSent });
    expect(onNotSent).toHaveBeenCalledTimes(1);
    expect(model.listenerCount("msg:custom")).toBe(0);
    warn.mockRestore();
  });
});

describe("snapshot (resync reply) in the store", () => {
  test("fills the hole a lost delta left; deltas after it continue exactly", () => {
    const store = new RunStore();
    store.applyMessage({ type: "run_start", mseq: 1, run: state("a") });
    store.applyMessage(delta(2, "a", "one "));
    store.applyMessage(delta(4, "a", "three ")); // 3 ("two ") was lost
    expect(store.resyncNeeded).toBe(true);
    expect(store.get("a").stale).toBe(true);
    const gen = store.get("a").textGen;
    expect(resyncMessage(store)).toEqual({ type: "resync", runs: { a: "running" }, stale: ["a"] });
    store.applyMessage({ type: "snapshot", mseq: 5, runs: [state("a", { text: "one two three " })] });
    expect(store.get("a").text).toBe("one two three ");
    expect(store.get("a").textGen).toBe(gen + 1); // replaced, not appended: the view re-renders
    expect(store.get("a").stale).toBe(false);
    expect(store.resyncNeeded).toBe(false);
    store.applyMessage(delta(6, "a", "four"));
    expect(store.get("a").text).toBe("one two three four");
  });

  test("adds a run whose start was lost; never overrides a final state from the trait", () => {
    const store = new RunStore();
    store.applyRuns([state("done", { status: "done", text: "final" })]);
    store.applyMessage({ type: "run_start", mseq: 3, run: state("b") }); // joined late: a gap
    store.applyMessage({
      type: "snapshot", mseq: 4,
      runs: [state("late", { text: "so far" }), state("done", { status: "running", text: "fin" }), state("b")],
    });
    expect(store.get("late").text).toBe("so far");
    expect(store.get("done").status).toBe("done");
    expect(store.get("done").text).toBe("final");
    expect(store.resyncNeeded).toBe(false);
  });

  test("a snapshot after a further gap leaves the runs it does not cover stale", () => {
    const store = new RunStore();
    store.applyMessage({ type: "run_start", mseq: 1, run: state("a") });
    store.applyMessage({ type: "run_start", mseq: 2, run: state("b") });
    store.applyMessage({ type: "snapshot", mseq: 4, runs: [state("a", { text: "x" })] });
    expect(store.get("a").stale).toBe(false);
    expect(store.get("b").stale).toBe(true);
    expect(store.resyncNeeded).toBe(true);
  });
});

describe("resyncer", () => {
  function setup() {
    vi.useFakeTimers();
    const model = createFakeModel();
    const store = new RunStore();
    const resyncer = createResyncer(model.proxy(), store);
    store.applyMessage({ type: "run_start", mseq: 1, run: state("a") });
    return { model, store, resyncer, resyncs: () => model.sent.filter((m) => m.type === "resync") };
  }

  test("a gap asks once, soon; the snapshot ends it", () => {
    const { store, resyncer, resyncs } = setup();
    store.applyMessage(delta(3, "a", "x"));
    store.applyMessage(delta(5, "a", "y")); // a second gap before the request left: still one request
    expect(resyncs()).toHaveLength(0);
    vi.advanceTimersByTime(RESYNC_MIN_INTERVAL_MS);
    expect(resyncs()).toEqual([{ type: "resync", runs: { a: "running" }, stale: ["a"] }]);
    store.applyMessage({ type: "snapshot", mseq: 6, runs: [state("a", { text: "wxy" })] });
    vi.advanceTimersByTime(60_000);
    expect(resyncs()).toHaveLength(1);
    expect(resyncer.requests).toBe(1);
    resyncer.dispose();
  });

  test("unanswered requests are repeated, a bounded number of times", () => {
    const { store, resyncer, resyncs } = setup();
    store.applyMessage(delta(3, "a", "x"));
    vi.advanceTimersByTime(RESYNC_MIN_INTERVAL_MS + RESYNC_RETRY_MS * (RESYNC_MAX_ATTEMPTS + 3));
    expect(resyncs()).toHaveLength(RESYNC_MAX_ATTEMPTS);
    // the final state, sent last, clears the episode; a new gap starts a new one
    store.applyRuns([state("a", { status: "done", text: "wx" })]);
    expect(store.resyncNeeded).toBe(false);
    store.applyMessage({ type: "run_start", mseq: 9, run: state("b") });
    vi.advanceTimersByTime(RESYNC_MIN_INTERVAL_MS);
    expect(resyncs()).toHaveLength(RESYNC_MAX_ATTEMPTS + 1);
    resyncer.dispose();
  });

  test("further loss after a snapshot asks again, backing off", () => {
    const { store, resyncer, resyncs } = setup();
    store.applyMessage(delta(3, "a", "x"));
    vi.advanceTimersByTime(RESYNC_MIN_INTERVAL_MS);
    store.applyMessage({ type: "snapshot", mseq: 5, runs: [] }); // lost 4 too: still stale
    vi.advanceTimersByTime(RESYNC_MIN_INTERVAL_MS);
    expect(resyncs()).toHaveLength(1); // waits twice as long now
    vi.advanceTimersByTime(RESYNC_MIN_INTERVAL_MS);
    expect(resyncs()).toHaveLength(2);
    resyncer.dispose();
    vi.advanceTimersByTime(60_000);
    expect(resyncs()).toHaveLength(2);
  });
});

describe("Stop button", () => {
  function box(route) {
    vi.useFakeTimers();
    const store = new RunStore({ now: () => 0 });
    store.applyRuns([state("r1")]);
    const model = createFakeModel({ control_route: route });
    const b = createAnswerBox({ run: store.get("r1"), model: model.proxy(), now: () => 0 });
    document.body.append(b.el);
    const q = (s) => b.el.querySelector(s);
    return { store, model, b, q };
  }

  test("with a subshell route: Stop, the reply, the run ends cancelled; no note", () => {
    const { store, model, b, q } = box("subshell");
    expect(q(".lsw-stop").title).toBe("");
    q(".lsw-stop").click();
    expect(model.sent).toEqual([{ type: "cancel", run: "r1" }]);
    expect(q(".lsw-stop").textContent).toBe("Stopping…");
    model.emitCustom(reply("r1"));
    store.applyRuns([state("r1", { status: "cancelled", text: "part" })]);
    b.sync(store.get("r1"));
    vi.advanceTimersByTime(STOP_NO_REPLY_MS * 2);
    expect(q(".lsw-stop-note").hidden).toBe(true);
    expect(q(".lsw-stop").hidden).toBe(true);
    b.destroy();
  });

  test("a kernel busy without subshells: the button says the run stops when the cell finishes", () => {
    const { store, b, q } = box("shell");
    expect(q(".lsw-stop").title).toContain("between cells");
    q(".lsw-stop").click();
    expect(q(".lsw-stop-note").hidden).toBe(true);
    vi.advanceTimersByTime(STOP_NO_REPLY_MS);
    expect(q(".lsw-stop-note").hidden).toBe(false);
    expect(q(".lsw-stop-note").textContent).toBe(stopWaitText("no-reply", "shell"));
    expect(q(".lsw-stop-note").textContent).toContain("when that cell finishes");
    expect(q(".lsw-stop").textContent).toBe("Stop queued");
    // the cell finished, the kernel read the request: the note goes with the run
    store.applyRuns([state("r1", { status: "cancelled" })]);
    b.sync(store.get("r1"));
    expect(q(".lsw-stop-note").hidden).toBe(true);
    b.destroy();
  });

  test("no kernel: says so and lets the user try again", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const store = new RunStore({ now: () => 0 });
    store.applyRuns([state("r1")]);
    const model = { ...createFakeModel().proxy(), send: () => { throw new Error("no comm"); } };
    const b = createAnswerBox({ run: store.get("r1"), model, now: () => 0 });
    b.el.querySelector(".lsw-stop").click();
    expect(b.el.querySelector(".lsw-stop-note").hidden).toBe(false);
    expect(b.el.querySelector(".lsw-stop-note").textContent).toBe("Not connected to a kernel: Stop cannot reach it.");
    expect(b.el.querySelector(".lsw-stop").disabled).toBe(false);
    b.destroy();
    warn.mockRestore();
  });
});
