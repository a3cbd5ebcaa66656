import { afterEach, describe, expect, test, vi } from "vitest";
import widget, { attachStore, createView, findStore } from "../widget.js";
import { createFakeModel, createManualFrames } from "./helpers.js";

const runState = (id, extra = {}) => ({ id, query: `question ${id}`, status: "running", text: "", thinking: "", entries: [], started_at: null, stats: {}, ...extra });
const traceEntries = [
  { v: 1, seq: 1, ts: 10, event: "start", span: "a1", parent: null, name: "agent", kind: "agent", input: "q" },
  { v: 1, seq: 2, ts: 10.1, event: "start", span: "t1", parent: "a1", name: "search", kind: "tool", input: { q: 1 } },
  { v: 1, seq: 3, ts: 10.4, event: "end", span: "t1", parent: "a1", name: "search", kind: "tool", status: "ok", duration_ms: 300 },
  { v: 1, seq: 4, ts: 11, event: "end", span: "a1", parent: null, name: "agent", kind: "agent", status: "ok", duration_ms: 1000 },
];

afterEach(() => {
  document.body.replaceChildren();
  vi.useRealTimers();
});

/** A view drawn by `frames` (immediate: false: every draw waits for a frame; true: as in a page). */
function mount(model, frames, { immediate = false } = {}) {
  const el = document.createElement("div");
  document.body.append(el);
  const store = findStore(model);
  const view = createView({ store, model, el, raf: frames.raf, caf: frames.caf, immediate, answerOptions: { highlight: false } });
  return { el, view };
}

describe("widget", () => {
  test("messages sent before any view exists are not lost (initialize and render get different proxies)", () => {
    const model = createFakeModel();
    const cleanupInit = widget.initialize({ model: model.proxy() });
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    model.emitCustom({ type: "delta", mseq: 2, run: "r1", text: "early **bird**" });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanupView = widget.render({ model: model.proxy(), el });
    expect(el.querySelector(".lsw-root .lsw-run[data-run-id='r1']").dataset.status).toBe("running");
    expect(el.querySelector(".lsw-answer strong").textContent).toBe("bird");
    expect(el.querySelector(".lsw-query").textContent).toBe("question r1");
    cleanupView();
    expect(el.querySelector(".lsw-root")).toBeNull();
    cleanupInit();
    expect(model.listenerCount("msg:custom")).toBe(0);
    expect(model.listenerCount("change:runs")).toBe(0);
  });

  test("without a layout model the store is found through the runs trait", () => {
    const model = createFakeModel({ layout: undefined });
    const { store, cleanup } = attachStore(model.proxy());
    expect(findStore(model.proxy())).toBe(store);
    model.setRuns([runState("r1", { status: "done", text: "x" })]);
    expect(findStore(model.proxy())).toBe(store);
    cleanup();
  });

  test("a burst of messages causes one DOM update per frame", () => {
    const model = createFakeModel();
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const { el } = mount(model.proxy(), frames);
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    for (let i = 0; i < 50; i++) model.emitCustom({ type: "delta", mseq: i + 2, run: "r1", text: `w${i} ` });
    expect(frames.pending).toBe(1);
    expect(el.querySelector(".lsw-run")).toBeNull(); // nothing until the frame
    frames.run(1);
    expect(el.querySelector(".lsw-answer").textContent.trim()).toBe(Array.from({ length: 50 }, (_, i) => `w${i}`).join(" "));
    expect(frames.pending).toBe(0);
    cleanup();
  });

  test("a message that finds the view idle is drawn in its own task; a burst after it waits for the frame held", async () => {
    const model = createFakeModel();
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const { el, view } = mount(model.proxy(), frames, { immediate: true });
    const text = () => el.querySelector(".lsw-answer")?.textContent.trim();
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    model.emitCustom({ type: "delta", mseq: 2, run: "r1", text: "w0" });
    expect(el.querySelector(".lsw-run")).toBeNull(); // drawn at the end of the task, not inside the handler
    await Promise.resolve();
    expect(text()).toBe("w0"); // no animation frame ran
    expect(frames.pending).toBe(1); // the next frame is held
    for (let i = 1; i < 20; i++) model.emitCustom({ type: "delta", mseq: i + 2, run: "r1", text: ` w${i}` });
    await Promise.resolve();
    expect(text()).toBe("w0"); // the burst waits for the held frame...
    frames.run(1);
    expect(text()).toBe(Array.from({ length: 20 }, (_, i) => `w${i}`).join(" ")); // ...and is drawn there once
    expect(frames.pending).toBe(1); // a frame that drew holds the next one too
    frames.run(1);
    expect(frames.pending).toBe(0); // a frame with nothing to draw: idle again
    model.emitCustom({ type: "delta", mseq: 22, run: "r1", text: " last" });
    await Promise.resolve();
    expect(text()).toMatch(/ last$/); // drawn at once again
    view.destroy();
    model.emitCustom({ type: "delta", mseq: 23, run: "r1", text: " gone" });
    await Promise.resolve();
    expect(frames.pending).toBe(0);
    cleanup();
  });

  test("a steady stream faster than frames is drawn once per frame", async () => {
    const model = createFakeModel();
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const { el, view } = mount(model.proxy(), frames, { immediate: true });
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    await Promise.resolve();
    const answer = el.querySelector(".lsw-answer");
    let draws = 0;
    new MutationObserver(() => draws++).observe(answer, { subtree: true, childList: true, characterData: true });
    let mseq = 1;
    for (let f = 0; f < 10; f++) {
      // three messages between two frames, each in its own task
      for (let k = 0; k < 3; k++) {
        model.emitCustom({ type: "delta", mseq: ++mseq, run: "r1", text: `f${f}k${k} ` });
        await Promise.resolve();
      }
      frames.run(1);
      await Promise.resolve(); // the observer's records
    }
    expect(answer.textContent).toContain("f9k2");
    expect(draws).toBeLessThanOrEqual(10); // not one per message (30)
    view.destroy();
    cleanup();
  });

  test("a second view of the same model shows and follows the same state", () => {
    const model = createFakeModel();
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    model.emitCustom({ type: "delta", mseq: 2, run: "r1", text: "one", entries: traceEntries.slice(0, 2) });
    const a = mount(model.proxy(), frames);
    const b = mount(model.proxy(), frames);
    for (const v of [a, b]) expect(v.el.querySelector(".lsw-answer").textContent.trim()).toBe("one");
    model.emitCustom({ type: "delta", mseq: 3, run: "r1", text: " two", entries: traceEntries.slice(2) });
    frames.run();
    for (const v of [a, b]) {
      expect(v.el.querySelector(".lsw-answer").textContent.trim()).toBe("one two");
      expect(v.el.querySelector('.lsw-node[data-span="t1"]').dataset.status).toBe("ok");
    }
    a.view.destroy();
    model.emitCustom({ type: "delta", mseq: 4, run: "r1", text: " three" });
    frames.run();
    expect(b.el.querySelector(".lsw-answer").textContent.trim()).toBe("one two three");
    b.view.destroy();
    cleanup();
  });

  test("saved notebook / static export: the runs trait alone shows the final result", () => {
    const model = createFakeModel({
      runs: [
        runState("old", { status: "done", text: "first answer", entries: traceEntries }),
        runState("new", { status: "error", text: "partial", error: { type: "RuntimeError", message: "boom" }, entries: traceEntries }),
      ],
    });
    const cleanupInit = widget.initialize({ model: model.proxy() });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanupView = widget.render({ model: model.proxy(), el });
    const runs = Array.from(el.querySelectorAll(".lsw-run"));
    expect(runs.map((r) => [r.dataset.runId, r.dataset.status])).toEqual([["old", "done"], ["new", "error"]]);
    expect(runs[0].querySelector(".lsw-answer").textContent.trim()).toBe("first answer");
    expect(runs[1].querySelector(".lsw-error").textContent).toContain("RuntimeError: boom");
    expect(runs[1].querySelector(".lsw-stop").hidden).toBe(true);
    // Newest run at the bottom with its trace open; the older run's trace folded.
    expect(runs[0].querySelector(".lsw-trace").open).toBe(false);
    expect(runs[1].querySelector(".lsw-trace").open).toBe(true);
    expect(runs[1].querySelector('.lsw-node[data-span="a1"] .lsw-node-name').textContent).toBe("agent");
    cleanupView();
    cleanupInit();
  });

  test("every button's accessible name starts with its visible label; each run's tree is named by its query", () => {
    const model = createFakeModel({
      runs: [
        runState("old", { status: "done", text: "first answer", entries: traceEntries }),
        runState("new", { status: "done", text: "second", entries: traceEntries, query: "weather\n in   Paris?" }),
      ],
    });
    const cleanupInit = widget.initialize({ model: model.proxy() });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanupView = widget.render({ model: model.proxy(), el });
    el.querySelector('.lsw-run[data-run-id="new"] .lsw-node[data-span="t1"]').click(); // details: their buttons too
    const buttons = Array.from(el.querySelectorAll("button")).filter((b) => b.textContent.trim());
    expect(buttons.length).toBeGreaterThan(8);
    for (const b of buttons) {
      const visible = b.textContent.trim().toLowerCase();
      const name = (b.getAttribute("aria-label") || b.textContent).trim().toLowerCase();
      expect(name.startsWith(visible), `"${b.textContent.trim()}" vs "${name}"`).toBe(true);
    }
    const trees = Array.from(el.querySelectorAll("[role=tree]")).map((t) => t.getAttribute("aria-label"));
    expect(trees).toEqual(["Trace of: question old", "Trace of: weather in Paris?"]);
    cleanupView();
    cleanupInit();
  });

  test("parallel model calls that interleaved in the answer are pointed out; one after another are not", () => {
    const llm = (span, seq, ranges) => [
      { v: 1, seq, ts: 10, event: "start", span, parent: null, name: span, kind: "llm" },
      { v: 1, seq: seq + 1, ts: 11, event: "end", span, parent: null, name: span, kind: "llm", status: "ok", attrs: { text_ranges: ranges } },
    ];
    const model = createFakeModel({
      runs: [
        runState("seq", { status: "done", text: "HelloBonjour", entries: [...llm("en", 1, [[0, 5]]), ...llm("fr", 3, [[5, 12]])] }),
        runState("par", { status: "done", text: "HelloBonjour", entries: [...llm("en", 1, [[0, 3], [7, 9]]), ...llm("fr", 3, [[3, 7], [9, 12]]), ...llm("sum", 5, [[12, 13]])] }),
      ],
    });
    const cleanupInit = widget.initialize({ model: model.proxy() });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanupView = widget.render({ model: model.proxy(), el });
    const noticesOf = (id) => Array.from(el.querySelectorAll(`.lsw-run[data-run-id="${id}"] .lsw-notice`)).map((li) => li.textContent);
    expect(noticesOf("seq")).toEqual([]);
    expect(noticesOf("par")).toEqual([expect.stringMatching(/^2 model calls streamed into this answer at the same time/)]);
    cleanupView();
    cleanupInit();
  });

  test("a run's notices show above its answer as text, never as HTML", () => {
    const model = createFakeModel({
      runs: [runState("r", { status: "done", text: "answer", notices: ["nothing streamed: pass <b>stream=True</b>"] })],
    });
    const cleanupInit = widget.initialize({ model: model.proxy() });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanupView = widget.render({ model: model.proxy(), el });
    const notices = el.querySelector(".lsw-notices");
    expect(notices.hidden).toBe(false);
    expect([...notices.querySelectorAll(".lsw-notice")].map((n) => n.textContent)).toEqual([
      "nothing streamed: pass <b>stream=True</b>",
    ]);
    expect(notices.querySelector("b")).toBeNull();
    cleanupView();
    cleanupInit();
  });

  test("an older run's trace, when reopened, shows its top-level node open like the newest run's", () => {
    const model = createFakeModel();
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const { el, view } = mount(model.proxy(), frames);
    const agentOpen = (run) => run.querySelector('.lsw-node[data-span="a1"]').getAttribute("aria-expanded");
    // Streamed: r1 is the newest run while it runs, then r2 starts.
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    model.emitCustom({ type: "delta", mseq: 2, run: "r1", entries: traceEntries });
    frames.run();
    const r1 = el.querySelector('.lsw-run[data-run-id="r1"]');
    expect(agentOpen(r1)).toBe("true");
    model.setRuns([runState("r1", { status: "done", text: "one", entries: traceEntries })]);
    model.emitCustom({ type: "run_start", mseq: 3, run: runState("r2") });
    model.emitCustom({ type: "delta", mseq: 4, run: "r2", entries: traceEntries });
    frames.run();
    expect(r1.querySelector(".lsw-trace").open).toBe(false); // the section folds away
    r1.querySelector(".lsw-trace").open = true;
    view.frame();
    expect(agentOpen(r1)).toBe("true");
    expect(r1.querySelector('.lsw-node[data-span="t1"]')).not.toBeNull();
    expect(agentOpen(el.querySelector('.lsw-run[data-run-id="r2"]'))).toBe("true");
    view.destroy();
    cleanup();
  });

  test("saved notebook: an older run's reopened trace has its top-level node open", () => {
    const model = createFakeModel({
      runs: [
        runState("old", { status: "done", text: "first", entries: traceEntries }),
        runState("new", { status: "done", text: "second", entries: traceEntries }),
      ],
    });
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const { el, view } = mount(model.proxy(), frames);
    const old = el.querySelector('.lsw-run[data-run-id="old"]');
    expect(old.querySelector(".lsw-trace").open).toBe(false);
    old.querySelector(".lsw-trace").open = true;
    view.frame();
    const agent = old.querySelector('.lsw-node[data-span="a1"]');
    expect(agent.getAttribute("role")).toBe("treeitem");
    expect(agent.getAttribute("aria-expanded")).toBe("true");
    expect(old.querySelector('.lsw-node[data-span="t1"]')).not.toBeNull();
    agent.click(); // selecting shows its details
    view.frame();
    expect(old.querySelector('.lsw-span-detail .lsw-detail-content[data-span="a1"]')).not.toBeNull();
    view.destroy();
    cleanup();
  });

  test("the final trait replaces a streamed run in place; Stop sends cancel", () => {
    const model = createFakeModel();
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const { el, view } = mount(model.proxy(), frames);
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    model.emitCustom({ type: "delta", mseq: 2, run: "r1", text: "Para one.\n\nPara two\n" });
    frames.run();
    const firstBlock = el.querySelector(".lsw-md-frozen p");
    el.querySelector(".lsw-stop").click();
    expect(model.sent).toEqual([{ type: "cancel", run: "r1" }]);
    model.setRuns([runState("r1", { status: "cancelled", text: "Para one.\n\nPara two\n\nPara three" })]);
    frames.run();
    const run = el.querySelector(".lsw-run");
    expect(run.dataset.status).toBe("cancelled");
    expect(el.querySelector(".lsw-md-frozen p")).toBe(firstBlock); // appended, not rebuilt
    expect(el.querySelector(".lsw-answer").textContent).toContain("Para three");
    expect(el.querySelector(".lsw-root > .lsw-live[role=status]").textContent).toBe("Run started: question r1. Run cancelled");
    view.destroy();
    cleanup();
  });

  test("a lost message shows the resync notice until the trait replaces the run", () => {
    const model = createFakeModel();
    const { cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const { el } = mount(model.proxy(), frames);
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    model.emitCustom({ type: "delta", mseq: 3, run: "r1", text: "b" });
    frames.run();
    expect(el.querySelector(".lsw-resync").hidden).toBe(false);
    expect(el.querySelector(".lsw-root").dataset.resync).toBe("true");
    model.setRuns([runState("r1", { status: "done", text: "ab" })]);
    frames.run();
    expect(el.querySelector(".lsw-resync").hidden).toBe(true);
    expect(el.querySelector(".lsw-answer").textContent.trim()).toBe("ab");
    cleanup();
  });

  test("the title trait is shown above the runs and follows changes", () => {
    const model = createFakeModel({ title: "My agent" });
    const { cleanup } = attachStore(model.proxy());
    const { el, view } = mount(model.proxy(), createManualFrames());
    const title = el.querySelector(".lsw-title");
    expect(title.textContent).toBe("My agent");
    model.set("title", "");
    expect(title.hidden).toBe(true);
    view.destroy();
    expect(model.listenerCount("change:title")).toBe(0);
    cleanup();
  });

  test("cleanup unsubscribes from the store and clears timers", () => {
    vi.useFakeTimers();
    const model = createFakeModel();
    const { store, cleanup } = attachStore(model.proxy());
    model.emitCustom({ type: "run_start", mseq: 1, run: runState("r1") });
    const el = document.createElement("div");
    const before = store.listeners.size; // the model's own (the resyncer)
    const dispose = widget.render({ model: model.proxy(), el });
    expect(store.listeners.size).toBe(before + 1);
    expect(vi.getTimerCount()).toBeGreaterThan(0); // elapsed ticker
    dispose();
    expect(store.listeners.size).toBe(before);
    // jsdom queues <details> toggle events on timers: let those run out.
    vi.advanceTimersByTime(5000);
    expect(vi.getTimerCount()).toBe(0);
    cleanup();
    expect(store.listeners.size).toBe(0);
  });
});
