import { afterEach, describe, expect, test, vi } from "vitest";
import { AutoScroller, createAnswerBox, elapsedMs, endAnnouncement, formatDuration, isNearBottom, statusText } from "../answer.js";
import { RunStore } from "../store.js";
import { createFakeModel } from "./helpers.js";

function makeRun(extra = {}) {
  const store = new RunStore({ now: () => 0 });
  store.applyRuns([{ id: "r1", query: "q", status: "running", text: "", thinking: "", entries: [], started_at: null, stats: {}, ...extra }]);
  return { store, run: store.get("r1") };
}

function setStatus(store, state) {
  store.applyRuns([{ id: "r1", query: "q", text: store.get("r1").text, entries: [], ...state }]);
  return store.get("r1");
}

afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

describe("formatting", () => {
  test("durations", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(1234)).toBe("1.23 s");
    expect(formatDuration(12_345)).toBe("12.3 s");
    expect(formatDuration(12_999, { whole: true })).toBe("12 s");
    expect(formatDuration(125_000)).toBe("2 min 05 s");
    expect(formatDuration(3_720_000)).toBe("1 h 02 min");
    expect(formatDuration(null)).toBe("");
  });

  test("status line: '1 token'; the clock never reads less than the first token's time", () => {
    const { run } = makeRun({ stats: { tokens: 1, ttft_ms: 5470, elapsed_ms: 5100 } });
    expect(statusText(run, 0)).toBe("Running · 6 s · first token 5.47 s · 1 token");
    run.status = "done";
    expect(statusText(run, 0)).toBe("Done · 5.47 s · first token 5.47 s · 1 token");
  });

  test("status line: elapsed, first token, tokens, tokens/s", () => {
    const { run } = makeRun({ stats: { tokens: 100, ttft_ms: 1000, elapsed_ms: 5000 } });
    expect(statusText(run, 0)).toBe("Running · 5 s · first token 1.00 s · 100 tokens · 25.0 tok/s");
    run.status = "done";
    expect(statusText(run, 99_999)).toBe("Done · 5.00 s · first token 1.00 s · 100 tokens · 25.0 tok/s");
  });

  test("elapsed extrapolates from the last kernel stats with the local clock", () => {
    const { run } = makeRun({ stats: { elapsed_ms: 2000 } });
    expect(elapsedMs(run, 1500)).toBe(3500); // statsAt = 0
    run.stats = {};
    run.status = "done";
    run.started_at = 10;
    run.ended_at = 12.5;
    expect(elapsedMs(run, 0)).toBe(2500);
  });

  test("end announcements", () => {
    expect(endAnnouncement({ status: "done" })).toBe("Answer complete");
    expect(endAnnouncement({ status: "cancelled" })).toBe("Run cancelled");
    expect(endAnnouncement({ status: "error", error: { type: "ValueError", message: "bad" } })).toBe("Run failed: ValueError: bad");
  });
});

describe("answer box", () => {
  test("running -> done: spinner, stop button, announcement once", () => {
    const { store, run } = makeRun();
    const model = createFakeModel();
    const said = [];
    const box = createAnswerBox({ run, model, now: () => 0, announce: (t) => said.push(t) });
    document.body.append(box.el);
    const q = (s) => box.el.querySelector(s);
    expect(q(".lsw-status").dataset.status).toBe("running");
    expect(q(".lsw-spinner").hidden).toBe(false);
    expect(q(".lsw-stop").hidden).toBe(false);
    expect(said).toEqual(["Run started: q"]);
    expect(q(".lsw-scroll").getAttribute("aria-busy")).toBe("true");
    store.applyMessage({ type: "delta", mseq: 1, run: "r1", text: "# Hi\n\nthere" });
    box.sync(store.get("r1"));
    expect(q(".lsw-answer").textContent).toContain("there");
    const done = setStatus(store, { status: "done", text: "# Hi\n\nthere", stats: { tokens: 3, elapsed_ms: 1500 } });
    box.sync(done);
    expect(q(".lsw-status").dataset.status).toBe("done");
    expect(q(".lsw-status").textContent).toContain("Done · 1.50 s");
    expect(q(".lsw-spinner").hidden).toBe(true);
    expect(q(".lsw-stop").hidden).toBe(true);
    expect(said).toEqual(["Run started: q", "Answer complete"]);
    expect(q(".lsw-scroll").getAttribute("aria-busy")).toBe("false");
    box.sync(done);
    box.sync(setStatus(store, { status: "done", text: "# Hi\n\nthere!" }));
    expect(said.length).toBe(2); // not announced again, and never per token
    box.destroy();
  });

  test("the spinners stand still while text flows and turn again after a quiet second", () => {
    const { store, run } = makeRun();
    let t = 0;
    const flows = [];
    const box = createAnswerBox({ run, model: createFakeModel(), now: () => t, onFlowing: (f) => flows.push(f) });
    expect(flows).toEqual([]); // nothing came yet: the spinner turns
    store.applyMessage({ type: "delta", mseq: 1, run: "r1", text: "one " });
    box.sync(store.get("r1"));
    expect(flows).toEqual([true]);
    t = 500;
    store.applyMessage({ type: "delta", mseq: 2, run: "r1", text: "two " });
    box.sync(store.get("r1"));
    box.tick();
    expect(flows).toEqual([true]); // told once, not per token
    t = 1400;
    box.tick();
    expect(flows).toEqual([true]); // 900 ms since the last text
    t = 1600;
    box.tick();
    expect(flows).toEqual([true, false]); // quiet: it turns again
    store.applyMessage({ type: "delta", mseq: 3, run: "r1", text: "three" });
    box.sync(store.get("r1"));
    expect(flows).toEqual([true, false, true]);
    box.sync(setStatus(store, { status: "done", text: "one two three" }));
    expect(flows).toEqual([true, false, true, false]); // ended
    box.destroy();
  });

  test("running -> cancelled and running -> error (message in red)", () => {
    for (const [state, live] of [
      [{ status: "cancelled" }, "Run cancelled"],
      [{ status: "error", error: { type: "ValueError", message: "bad input", detail: "Traceback (most recent call last)..." } }, "Run failed: ValueError: bad input"],
    ]) {
      const { store, run } = makeRun();
      const said = [];
      const box = createAnswerBox({ run, model: createFakeModel(), announce: (t) => said.push(t) });
      box.sync(setStatus(store, state));
      expect(box.el.querySelector(".lsw-status").dataset.status).toBe(state.status);
      expect(said.at(-1)).toBe(live);
      const err = box.el.querySelector(".lsw-error");
      if (state.status === "error") {
        expect(err.hidden).toBe(false);
        expect(err.querySelector(".lsw-error-message").textContent).toBe("ValueError: bad input");
        expect(err.querySelector("pre").textContent).toContain("Traceback");
      } else expect(err.hidden).toBe(true);
      box.destroy();
    }
  });

  test("a stopped run: calm 'Cancelled · elapsed' status, no red error box", () => {
    const { store, run } = makeRun({ stats: { elapsed_ms: 1000 } });
    const said = [];
    const box = createAnswerBox({ run, model: createFakeModel(), now: () => 0, announce: (t) => said.push(t) });
    box.el.querySelector(".lsw-stop").click();
    box.sync(setStatus(store, {
      status: "cancelled", text: "partial", stats: { elapsed_ms: 2400 },
      error: { type: "RunCancelled", message: "stopped from the widget", detail: "Traceback..." },
    }));
    const q = (s) => box.el.querySelector(s);
    expect(q(".lsw-status").dataset.status).toBe("cancelled");
    expect(q(".lsw-status-text").textContent).toBe("Cancelled · 2.40 s");
    expect(q(".lsw-status").title).toBe("Cancelled: RunCancelled: stopped from the widget");
    expect(q(".lsw-error").hidden).toBe(true);
    expect(q(".lsw-error").textContent).not.toContain("RunCancelled");
    expect(q(".lsw-stop").hidden).toBe(true);
    expect(said.at(-1)).toBe("Run cancelled");
    // A failure still gets the red box (and no cancel tooltip).
    box.sync(setStatus(store, { status: "error", error: { type: "ModelError", message: "no answer" } }));
    expect(q(".lsw-error").hidden).toBe(false);
    expect(q(".lsw-error-message").textContent).toBe("ModelError: no answer");
    expect(q(".lsw-status").hasAttribute("title")).toBe(false);
    box.destroy();
  });

  test("Copy answer only shows when there is something to copy", () => {
    const { store, run } = makeRun();
    const box = createAnswerBox({ run, model: createFakeModel() });
    const copy = box.el.querySelector(".lsw-copy");
    expect(copy.hidden).toBe(true); // running, no text yet
    store.applyMessage({ type: "delta", mseq: 1, run: "r1", text: "Hello" });
    box.sync(store.get("r1"));
    expect(copy.hidden).toBe(false);
    box.destroy();
    // Failed before producing any text: nothing to copy.
    const failed = makeRun({ status: "error", text: "", error: { type: "ModelError", message: "down" } });
    const box2 = createAnswerBox({ run: failed.run, model: createFakeModel() });
    expect(box2.el.querySelector(".lsw-copy").hidden).toBe(true);
    box2.destroy();
    // No streamed text but a result: the result is shown, and can be copied.
    const result = makeRun({ status: "done", text: "", result: "42" });
    const box3 = createAnswerBox({ run: result.run, model: createFakeModel() });
    expect(box3.el.querySelector(".lsw-copy").hidden).toBe(false);
    box3.destroy();
  });

  test("a run that was already finished is not announced", () => {
    const { run } = makeRun({ status: "done", text: "old answer" });
    const said = [];
    const box = createAnswerBox({ run, model: createFakeModel(), announce: (t) => said.push(t) });
    expect(said).toEqual([]);
    expect(box.el.querySelector(".lsw-answer").textContent).toContain("old answer");
    box.destroy();
  });

  test("Stop sends {type: cancel, run} to the model once", () => {
    const { run } = makeRun();
    const model = createFakeModel();
    const box = createAnswerBox({ run, model });
    const stop = box.el.querySelector(".lsw-stop");
    expect(stop.tagName).toBe("BUTTON");
    expect(stop.getAttribute("aria-label")).toBeTruthy();
    stop.click();
    stop.click();
    expect(model.sent).toEqual([{ type: "cancel", run: "r1" }]);
    expect(stop.disabled).toBe(true);
    box.destroy();
  });

  test("Copy answer copies the raw markdown (clipboard API, then textarea fallback)", async () => {
    const { store, run } = makeRun();
    store.applyMessage({ type: "delta", mseq: 1, run: "r1", text: "**raw** _md_" });
    const box = createAnswerBox({ run: store.get("r1"), model: createFakeModel() });
    document.body.append(box.el);
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(window.navigator, "clipboard", { value: { writeText }, configurable: true });
    box.el.querySelector(".lsw-copy").click();
    await vi.waitFor(() => expect(writeText).toHaveBeenCalledWith("**raw** _md_"));
    // No clipboard permission: falls back to execCommand on a textarea.
    writeText.mockImplementation(() => Promise.reject(new Error("denied")));
    let copied = null;
    document.execCommand = vi.fn(() => {
      copied = document.activeElement?.value ?? null;
      return true;
    });
    box.el.querySelector(".lsw-copy").click();
    await vi.waitFor(() => expect(document.execCommand).toHaveBeenCalledWith("copy"));
    expect(copied).toBe("**raw** _md_");
    expect(document.querySelector("textarea")).toBeNull();
    delete window.navigator.clipboard;
    delete document.execCommand;
    box.destroy();
  });

  test("thinking: a collapsed <details> labelled Thinking, streaming plain text", () => {
    const { store, run } = makeRun();
    const box = createAnswerBox({ run, model: createFakeModel() });
    const th = box.el.querySelector(".lsw-thinking");
    expect(th.tagName).toBe("DETAILS");
    expect(th.hidden).toBe(true);
    store.applyMessage({ type: "delta", mseq: 1, run: "r1", thinking: "Let me <b>think</b>" });
    box.sync(store.get("r1"));
    store.applyMessage({ type: "delta", mseq: 2, run: "r1", thinking: "..." });
    box.sync(store.get("r1"));
    expect(th.hidden).toBe(false);
    expect(th.open).toBe(false);
    expect(th.querySelector("summary").textContent).toBe("Thinking");
    expect(th.querySelector(".lsw-thinking-text").textContent).toBe("Let me <b>think</b>...");
    expect(th.querySelector("b")).toBeNull();
    box.destroy();
  });

  test("elapsed time ticks once per second while running, timer stops after", () => {
    vi.useFakeTimers();
    let now = 0;
    const { store, run } = makeRun({ stats: { elapsed_ms: 1000 } });
    const box = createAnswerBox({ run, model: createFakeModel(), now: () => now });
    const label = () => box.el.querySelector(".lsw-status-text").textContent;
    expect(label()).toBe("Running · 1 s");
    now = 2000;
    vi.advanceTimersByTime(1000);
    expect(label()).toBe("Running · 3 s");
    expect(vi.getTimerCount()).toBe(1);
    box.sync(setStatus(store, { status: "done", stats: { elapsed_ms: 3200 } }));
    expect(vi.getTimerCount()).toBe(0);
    expect(label()).toBe("Done · 3.20 s");
    box.destroy();
  });

  test("a finished run with no streamed text shows its result", () => {
    const { run } = makeRun({ status: "done", text: "", result: "**42**" });
    const box = createAnswerBox({ run, model: createFakeModel() });
    expect(box.el.querySelector(".lsw-answer strong").textContent).toBe("42");
    box.destroy();
  });
});

describe("a big final state", () => {
  test("renders over several syncs, busy (aria-busy) until the whole text is drawn", () => {
    const text = Array.from({ length: 300 }, (_, i) => `Paragraph ${i} with **bold** words and \`code\` in it.`).join("\n\n");
    const { run } = makeRun({ status: "done", text, stats: { tokens: 10 } });
    const box = createAnswerBox({ run, model: createFakeModel(), charsPerPiece: 300, highlight: false });
    document.body.append(box.el);
    const scroll = box.el.querySelector(".lsw-scroll");
    expect(box.behind).toBe(true); // a frame's share only
    expect(scroll.getAttribute("aria-busy")).toBe("true");
    expect(box.el.querySelector(".lsw-status-text").textContent).toMatch(/^Done/);
    let syncs = 1;
    while (box.behind && syncs < 10_000) {
      box.sync(run);
      syncs++;
    }
    expect(syncs).toBeGreaterThan(2);
    expect(scroll.getAttribute("aria-busy")).toBe("false");
    const shown = box.el.querySelector(".lsw-answer").textContent;
    expect(shown).toContain("Paragraph 0 with bold words");
    expect(shown).toContain("Paragraph 299 with bold words and code in it.");
    expect(box.el.querySelectorAll(".lsw-answer p").length).toBe(300);
    box.destroy();
  });
});

describe("a big final state", () => {
  test("one huge paragraph is parsed a few times over, not once per piece (linear, not quadratic)", async () => {
    const { md } = await import("../md-render.js");
    const text = Array.from({ length: 20_000 }, (_, i) => `${i}@tok`).join(" "); // ~180 KB, no blank line
    const { run } = makeRun({ status: "done", text });
    const parse = vi.spyOn(md, "parse");
    const box = createAnswerBox({ run, model: createFakeModel(), highlight: false });
    while (box.behind) box.sync(run);
    const parsed = parse.mock.calls.reduce((n, [src]) => n + src.length, 0);
    parse.mockRestore();
    expect(box.el.querySelector(".lsw-answer").textContent).toContain("19999@tok");
    expect(parsed).toBeLessThan(12 * text.length);
    box.destroy();
  });
});

describe("show more", () => {
  test("a click hands the next slice over to the frames: busy until drawn, then complete", () => {
    const text = Array.from({ length: 120 }, (_, i) => `Line ${i} of the answer, long enough.`).join("\n\n");
    const { run } = makeRun({ status: "done", text });
    let frames = 0;
    const box = createAnswerBox({ run, model: createFakeModel(), maxChars: 1000, highlight: false, onNeedsFlush: () => frames++ });
    document.body.append(box.el);
    while (box.behind) box.sync(run);
    const more = box.el.querySelector(".lsw-more");
    expect(more.hidden).toBe(false);
    expect(box.el.querySelector(".lsw-answer").textContent).not.toContain("Line 119");
    more.click();
    expect(frames).toBe(1); // asked for a frame instead of drawing in the click
    expect(box.behind).toBe(true);
    let syncs = 0;
    while (box.behind && syncs < 1000) {
      box.sync(run);
      syncs++;
    }
    expect(box.el.querySelector(".lsw-scroll").getAttribute("aria-busy")).toBe("false");
    const shown = box.el.querySelector(".lsw-answer").textContent;
    expect(shown).toContain("Line 0 of the answer");
    expect(shown).toContain("Line 45 of the answer");
    expect(shown).not.toContain("Line 119"); // the next slice only (1,000 more characters)
    for (let i = 0; i < 20 && !more.hidden; i++) {
      more.click();
      while (box.behind) box.sync(run);
    }
    expect(more.hidden).toBe(true);
    expect(box.el.querySelectorAll(".lsw-answer p").length).toBe(120);
    box.destroy();
  });
});

describe("auto-scroll", () => {
  test("isNearBottom", () => {
    expect(isNearBottom({ scrollTop: 600, scrollHeight: 1000, clientHeight: 400 })).toBe(true);
    expect(isNearBottom({ scrollTop: 580, scrollHeight: 1000, clientHeight: 400 })).toBe(true);
    expect(isNearBottom({ scrollTop: 500, scrollHeight: 1000, clientHeight: 400 })).toBe(false);
  });

  test("follows the stream, stops when the user scrolls up, resumes at the bottom", () => {
    const el = document.createElement("div");
    let scrollHeight = 1000;
    let scrollTop = 0;
    Object.defineProperty(el, "scrollHeight", { get: () => scrollHeight });
    Object.defineProperty(el, "clientHeight", { get: () => 400 });
    Object.defineProperty(el, "scrollTop", {
      get: () => scrollTop,
      set: (v) => {
        scrollTop = Math.max(0, Math.min(v, scrollHeight - 400));
      },
    });
    const s = new AutoScroller(el);
    s.contentChanged();
    expect(scrollTop).toBe(600);
    el.dispatchEvent(new Event("scroll"));
    expect(s.following).toBe(true);
    // The user scrolls up.
    scrollTop = 200;
    el.dispatchEvent(new Event("scroll"));
    expect(s.following).toBe(false);
    scrollHeight = 1500;
    s.contentChanged();
    expect(scrollTop).toBe(200); // left alone
    // Back at the bottom: following again.
    scrollTop = 1100;
    el.dispatchEvent(new Event("scroll"));
    expect(s.following).toBe(true);
    scrollHeight = 2000;
    s.contentChanged();
    expect(scrollTop).toBe(1600);
    s.destroy();
  });
});

describe("the run's result", () => {
  test("shown below the streamed text as the final answer when it differs and is not contained; Copy copies it", async () => {
    const { store, run } = makeRun();
    const box = createAnswerBox({ run, model: createFakeModel(), highlight: false });
    document.body.append(box.el);
    store.applyMessage({ type: "delta", mseq: 1, run: "r1", text: "Draft: the sky is green." });
    box.sync(store.get("r1"));
    const result = box.el.querySelector(".lsw-result");
    expect(result.hidden).toBe(true); // only once the run ended
    box.sync(setStatus(store, { status: "done", text: "Draft: the sky is green.", result: "**Checked:** the sky is blue." }));
    expect(result.hidden).toBe(false);
    expect(result.querySelector(".lsw-result-label").textContent).toBe("Final answer");
    expect(result.querySelector("strong").textContent).toBe("Checked:"); // rendered as markdown
    expect(box.el.querySelector(".lsw-answer").textContent).toContain("Draft: the sky is green.");
    const copied = [];
    Object.defineProperty(window.navigator, "clipboard", { value: { writeText: async (t) => copied.push(t) }, configurable: true });
    box.el.querySelector(".lsw-copy").click();
    await new Promise((r) => setTimeout(r, 0));
    expect(copied).toEqual(["**Checked:** the sky is blue."]);
    box.destroy();
  });

  test("not shown when the streamed text already contains it (text before a tool call, then the answer)", () => {
    const { store, run } = makeRun();
    const box = createAnswerBox({ run, model: createFakeModel(), highlight: false });
    box.sync(setStatus(store, { status: "done", text: "Let me check.\n\nIt is  10 degrees.", result: "It is 10 degrees." }));
    expect(box.el.querySelector(".lsw-result").hidden).toBe(true);
    box.destroy();
  });

  test("aria-busy only while streaming; Copy as Markdown and Save as HTML once the run ended", () => {
    const { store, run } = makeRun();
    const box = createAnswerBox({ run, model: createFakeModel() });
    const q = (s) => box.el.querySelector(s);
    expect(q(".lsw-scroll").getAttribute("aria-busy")).toBe("true");
    expect(q(".lsw-copy-md").hidden).toBe(true);
    expect(q(".lsw-save-html").hidden).toBe(true);
    box.sync(setStatus(store, { status: "done", text: "x" }));
    expect(q(".lsw-scroll").getAttribute("aria-busy")).toBe("false");
    expect(q(".lsw-copy-md").hidden).toBe(false);
    expect(q(".lsw-save-html").hidden).toBe(false);
    box.destroy();
  });
});

describe("token count", () => {
  test("keeps step with the text: each delta's n adds up between the once-a-second stats", () => {
    const store = new RunStore({ now: () => 0 });
    store.applyMessage({ type: "run_start", mseq: 1, run: { id: "r1", status: "running", stats: {} } });
    store.applyMessage({ type: "delta", mseq: 2, run: "r1", text: "one", stats: { tokens: 1, elapsed_ms: 100 } });
    store.applyMessage({ type: "delta", mseq: 3, run: "r1", text: " two three", n: 2 });
    store.applyMessage({ type: "delta", mseq: 4, run: "r1", text: " four", n: 1 });
    expect(store.get("r1").stats.tokens).toBe(4);
    expect(statusText(store.get("r1"), 0)).toContain("4 tokens");
    store.applyMessage({ type: "delta", mseq: 5, run: "r1", text: " five", stats: { tokens: 5, elapsed_ms: 1100 } });
    expect(store.get("r1").stats.tokens).toBe(5); // the absolute count wins
  });
});
