// The answer box of one run: status line, Stop / Copy / export buttons, the thinking block, the
// streamed markdown answer (auto-scrolling, aria-busy while it streams), the run's result where it
// says more than the streamed text ("Final answer"), and the error. Milestones (started, done,
// failed) go to the view's one polite status region (announcer.js), never each token.

import { setHidden, setText } from "./dom-write.js";
import { copyText, flashCopied } from "./clipboard.js";
import { downloadRunHtml } from "./export.js";
import { errorText, formatDuration } from "./format.js";
import { controlRoute, requestCancel } from "./control.js";
import { createMarkdownRenderer, normalizeNewlines, renderMarkdown } from "./markdown.js";
import { isFinalStatus, WIDGET_MAX_ANSWER_CHARS } from "./protocol.js";
import { createRenderPace } from "./render-pace.js";
import { formatCount } from "./rollups.js";
import { runToMarkdown } from "./span-markdown.js";

/** @typedef {import("./store.js").Run} Run */

/** New answer text is rendered in pieces of at most this many characters (sized by render-pace.js)... */
export const ANSWER_CHARS_PER_PIECE = 16_000;
/** ...while a frame has spent less than this (ms) on it; the rest follows in the next frames. */
export const ANSWER_FRAME_BUDGET_MS = 10;
/** The run's spinners stand still while text came within this many ms (the text shows progress). */
export const FLOWING_MS = 1000;

export { errorText, formatDuration };

// ---------------------------------------------------------------- formatting

/**
 * Elapsed time of a run in ms. While running, extrapolates from the last
 * kernel-reported elapsed_ms with the local clock (no kernel/browser clock skew).
 * @param {Run} run
 * @param {number} nowMs local clock (Date.now())
 * @returns {number|null}
 */
export function elapsedMs(run, nowMs) {
  const s = run.stats || {};
  if (run.status !== "running") {
    if (typeof s.elapsed_ms === "number") return s.elapsed_ms;
    if (typeof run.ended_at === "number" && typeof run.started_at === "number") return (run.ended_at - run.started_at) * 1000;
    return null;
  }
  if (typeof s.elapsed_ms === "number") return s.elapsed_ms + Math.max(0, nowMs - run.statsAt);
  if (typeof run.started_at === "number") {
    const d = nowMs - run.started_at * 1000;
    if (d >= 0 && d < 86_400_000) return d; // plausible: same clock
  }
  return Math.max(0, nowMs - run.seenAt);
}

const STATUS_LABEL = { running: "Running", done: "Done", error: "Error", cancelled: "Cancelled" };

/**
 * The status line text: "Running · 12 s · first token 820 ms · 345 tokens · 28.1 tok/s".
 * @param {Run} run
 * @param {number} nowMs
 * @returns {string}
 */
export function statusText(run, nowMs) {
  const running = run.status === "running";
  const parts = [STATUS_LABEL[run.status] ?? run.status];
  const s = run.stats || {};
  const ttft = typeof s.ttft_ms === "number" ? s.ttft_ms : null;
  let elapsed = elapsedMs(run, nowMs);
  // the first token came after the run started: the clock never reads less (the ticking clock shows
  // whole seconds, so it rounds up to the first token's time until it passes it)
  if (elapsed !== null && ttft !== null) elapsed = Math.max(elapsed, ttft);
  if (elapsed !== null) {
    const shown = running && ttft !== null && Math.floor(elapsed / 1000) * 1000 < ttft ? Math.ceil(ttft / 1000) * 1000 : elapsed;
    parts.push(formatDuration(shown, { whole: running }));
  }
  if (ttft !== null) parts.push(`first token ${formatDuration(ttft)}`);
  if (typeof s.tokens === "number" && s.tokens > 0) {
    parts.push(`${formatCount(s.tokens)} token${s.tokens === 1 ? "" : "s"}`); // toLocaleString builds a formatter per call
    if (elapsed !== null && s.tokens > 1) {
      // Generation rate: time after the first token, when known.
      const gen = typeof s.ttft_ms === "number" && elapsed - s.ttft_ms > 250 ? elapsed - s.ttft_ms : elapsed;
      if (gen > 250) parts.push(`${(s.tokens / (gen / 1000)).toFixed(1)} tok/s`);
    }
  }
  return parts.join(" · ");
}

/**
 * Should the run's result show below the streamed text as the final answer? When it differs from
 * the text and is not already part of it (a pipeline's last stage changed it).
 * @param {Run} run
 */
export function resultDiffers(run) {
  if (typeof run.result !== "string" || !run.result.trim() || !run.text) return false;
  const squash = (t) => normalizeNewlines(t).replace(/\s+/g, " ").trim();
  return !squash(run.text).includes(squash(run.result));
}

/** @param {Run} run @returns {string} what the live region says at the end */
/**
 * Why a Stop has had no effect yet (shown under the toolbar), by the kernel's control route.
 * @param {"no-reply"|"not-sent"} what @param {string} route
 * @returns {string}
 */
export function stopWaitText(what, route) {
  if (what === "not-sent") return "Not connected to a kernel: Stop cannot reach it.";
  if (route === "subshell")
    return "The kernel has not confirmed the Stop yet; if this page lost its kernel connection, it cannot reach it.";
  return (
    "The kernel is busy running a cell and reads Stop only when that cell finishes; the run stops then. " +
    "To stop sooner, interrupt the kernel."
  );
}

export function endAnnouncement(run) {
  if (run.status === "done") return "Answer complete";
  if (run.status === "cancelled") return "Run cancelled";
  if (run.status === "error") return `Run failed: ${errorText(run.error) || "unknown error"}`;
  return "";
}

// ---------------------------------------------------------------- auto-scroll

/**
 * @param {{scrollTop: number, scrollHeight: number, clientHeight: number}} m
 * @param {number} [threshold] px from the bottom that still counts as "at the bottom"
 * @returns {boolean}
 */
export function isNearBottom(m, threshold = 24) {
  return m.scrollHeight - m.scrollTop - m.clientHeight <= threshold;
}

/**
 * Follows the stream while the user is at the bottom; a user scroll away from
 * the bottom stops following, scrolling back to the bottom resumes it.
 * Our own scrolls land at the bottom, so their scroll events keep following on.
 */
export class AutoScroller {
  /** @param {HTMLElement} el the scrolling element */
  constructor(el) {
    this.el = el;
    this.following = true;
    this.onScroll = () => {
      this.following = isNearBottom(this.el);
    };
    el.addEventListener("scroll", this.onScroll, { passive: true });
  }

  /** Call after content was added. */
  contentChanged() {
    if (this.following) this.el.scrollTop = this.el.scrollHeight;
  }

  destroy() {
    this.el.removeEventListener("scroll", this.onScroll);
  }
}

// ---------------------------------------------------------------- the box

function h(doc, tag, className, attrs = {}) {
  const el = doc.createElement(tag);
  if (className) el.className = className;
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/**
 * @typedef {{
 *   el: HTMLElement,
 *   sync(run: Run): boolean,
 *   tick(): void,
 *   destroy(): void,
 * }} AnswerBox
 */

/**
 * @param {{
 *   run: Run,
 *   model: {send(content: any): void},
 *   doc?: Document,
 *   now?: () => number,
 *   maxChars?: number,
 *   highlight?: boolean,
 *   announce?: (text: string) => void,
 *   charsPerPiece?: number,
 *   onNeedsFlush?: () => void,
 *   onFlowing?: (flowing: boolean) => void,
 * }} opts
 *   onNeedsFlush: asks the view for a frame (sync runs again while `behind`)
 *   onFlowing: text is flowing (true) or came last over FLOWING_MS ago / the run ended (false)
 * @returns {AnswerBox}
 */
export function createAnswerBox(opts) {
  const doc = opts.doc ?? document;
  const now = opts.now ?? (() => Date.now());
  const win = doc.defaultView ?? globalThis;
  const maxChars = opts.maxChars ?? WIDGET_MAX_ANSWER_CHARS;
  let run = opts.run;

  const root = h(doc, "div", "lsw-answer-box");
  const bar = h(doc, "div", "lsw-toolbar");
  const status = h(doc, "span", "lsw-status");
  const spinner = h(doc, "span", "lsw-spinner", { "aria-hidden": "true" });
  const statusLabel = h(doc, "span", "lsw-status-text");
  status.append(spinner, statusLabel);
  const stop = h(doc, "button", "lsw-btn lsw-stop", { type: "button", "aria-label": "Stop this run" });
  stop.textContent = "Stop";
  const copy = h(doc, "button", "lsw-btn lsw-copy", { type: "button", "aria-label": "Copy answer as Markdown" });
  copy.textContent = "Copy answer";
  const copyMd = h(doc, "button", "lsw-btn lsw-copy-md", {
    type: "button", "aria-label": "Copy as Markdown: the question, the answer and a readable trace",
  });
  copyMd.textContent = "Copy as Markdown";
  const save = h(doc, "button", "lsw-btn lsw-save-html", {
    type: "button", "aria-label": "Save as HTML: the answer and its interactive trace in one file",
  });
  save.textContent = "Save as HTML";
  // the buttons wrap as one group (never one button alone on a line); the status line gives way first
  const actions = h(doc, "span", "lsw-actions");
  actions.append(stop, copy, copyMd, save);
  bar.append(status, actions);

  const thinking = /** @type {HTMLDetailsElement} */ (h(doc, "details", "lsw-thinking"));
  const thinkingSummary = h(doc, "summary", "lsw-thinking-summary");
  thinkingSummary.textContent = "Thinking";
  const thinkingPre = h(doc, "pre", "lsw-thinking-text");
  const thinkingText = doc.createTextNode("");
  thinkingPre.append(thinkingText);
  thinking.append(thinkingSummary, thinkingPre);
  thinking.hidden = true;

  const scroll = h(doc, "div", "lsw-scroll", { tabindex: "0", role: "region", "aria-label": "Answer" });
  const answer = h(doc, "div", "lsw-answer");
  scroll.append(answer);
  const renderer = createMarkdownRenderer(answer, {
    maxChars, highlight: opts.highlight,
    // "Show more": its text is drawn over the next frames (see sync)
    onBacklog: () => {
      behind = true;
      opts.onNeedsFlush?.();
    },
  });
  scroll.append(renderer.moreButton);
  // the run's result, where it says more than the streamed text
  const result = h(doc, "section", "lsw-result", { "aria-label": "Final answer" });
  const resultLabel = h(doc, "div", "lsw-result-label");
  resultLabel.textContent = "Final answer";
  const resultBody = h(doc, "div", "lsw-result-body");
  result.append(resultLabel, resultBody);
  result.hidden = true;
  let resultShown = null;
  const announce = opts.announce ?? (() => {});

  // why a Stop has no effect yet; said once by the view's status region too (the one live region)
  const stopNote = h(doc, "div", "lsw-stop-note");
  stopNote.hidden = true;
  const resync = h(doc, "div", "lsw-resync");
  resync.textContent =
    "Some live updates were missed; catching up with the kernel (at the latest, the complete answer appears when the run ends).";
  resync.hidden = true;
  const error = h(doc, "div", "lsw-error");
  error.hidden = true;
  const errorMsg = h(doc, "div", "lsw-error-message");
  const errorDetail = /** @type {HTMLDetailsElement} */ (h(doc, "details", "lsw-error-detail"));
  const errorDetailSummary = h(doc, "summary");
  errorDetailSummary.textContent = "Details";
  const errorDetailPre = h(doc, "pre");
  errorDetail.append(errorDetailSummary, errorDetailPre);
  error.append(errorMsg, errorDetail);

  root.append(bar, stopNote, thinking, scroll, result, resync, error);

  const scroller = new AutoScroller(scroll);
  const timers = new Set();
  let ticker = null;
  // What this box has consumed of the run (see store.js: generations).
  let textGen = -1;
  let textLen = 0;
  let thinkingGen = -1;
  let thinkingLen = 0;
  let showingResult = false;
  let finished = false;
  let behind = false; // more text waits for the next frame
  const pace = createRenderPace({
    budgetMs: ANSWER_FRAME_BUDGET_MS,
    maxChars: opts.charsPerPiece ?? ANSWER_CHARS_PER_PIECE,
    minChars: Math.min(256, opts.charsPerPiece ?? 256),
  });
  const clock = () => (typeof performance !== "undefined" ? performance.now() : Date.now());
  let sawRunning = false;
  let announced = false;
  let stopping = false;
  /** @type {{dispose(): void}|null} the Stop request waiting for its reply */
  let pendingStop = null;
  const route = controlRoute(opts.model);
  if (route !== "subshell" && route !== "none")
    stop.title = "This kernel reads Stop between cells only: while a cell runs, the run stops when it finishes.";

  stop.addEventListener("click", () => {
    if (run.status !== "running" || stopping) return;
    stopping = true;
    stop.disabled = true;
    stop.textContent = "Stopping…";
    const explain = (what) => {
      if (run.status !== "running") return;
      stopNote.textContent = stopWaitText(what, controlRoute(opts.model));
      stopNote.hidden = false;
      announce(stopNote.textContent);
      if (what === "no-reply") stop.textContent = "Stop queued"; // sent, not yet read by the kernel
    };
    pendingStop = requestCancel(opts.model, run.id, {
      win,
      onNoReply: () => explain("no-reply"),
      onNotSent: () => {
        explain("not-sent");
        stopping = false; // let the user try again (e.g. after reconnecting)
        stop.disabled = false;
        stop.textContent = "Stop";
      },
    });
  });
  copy.addEventListener("click", async () => {
    // the answer is the run's result where there is one (it may differ from the streamed text)
    const ok = await copyText(typeof run.result === "string" && run.result ? run.result : run.text, doc);
    timers.add(flashCopied(copy, ok, "Copy answer"));
  });
  copyMd.addEventListener("click", async () => {
    const ok = await copyText(runToMarkdown(run), doc);
    timers.add(flashCopied(copyMd, ok, "Copy as Markdown"));
  });
  save.addEventListener("click", async () => {
    try {
      await downloadRunHtml(opts.model, run, doc);
    } catch (err) {
      console.error("[lazystream-widget] saving the run as HTML failed", err);
      timers.add(flashCopied(save, false, "Save as HTML"));
    }
  });

  // While text flows the run's spinners stand still (the text shows the progress; opts.onFlowing
  // marks the run) and they turn again after a quiet second. A running CSS animation puts the page
  // on the display's frame clock: in headless chromium, where an idle page draws a requested frame
  // at once, each token then waited for the next 60 Hz tick (~6 ms more lag at the median,
  // benchmarks/notebook_lag.py); on a screen it costs the compositor 60 frames a second for as long
  // as the answer streams.
  let lastGrowth = -Infinity;
  let flowLen = 0; // characters of text and thinking received at the last sync
  let flowing = false;
  function syncSpinner(t) {
    const still = run.status === "running" && t - lastGrowth < FLOWING_MS;
    if (still === flowing) return;
    flowing = still;
    opts.onFlowing?.(still);
  }

  function tick() {
    const t = now();
    setText(statusLabel, statusText(run, t));
    syncSpinner(t);
  }

  function syncTicker() {
    const running = run.status === "running";
    if (running && ticker === null) ticker = win.setInterval(tick, 1000);
    if (!running && ticker !== null) {
      win.clearInterval(ticker);
      ticker = null;
    }
  }

  /**
   * Bring the box up to date with the run. Returns whether content grew.
   * @param {Run} next
   */
  function sync(next) {
    run = next;
    let grew = false;
    // Answer text: append what is new, start over when the store replaced it.
    if (showingResult ? run.text.length > 0 : run.textGen !== textGen) {
      renderer.reset("");
      showingResult = false;
      finished = false;
      textGen = run.textGen;
      textLen = 0;
      grew = true;
    }
    // Text waiting to be drawn: "Show more" text (the renderer's backlog) first, then new run text.
    const waiting = () => renderer.backlogChars > 0 || (!showingResult && run.text.length > textLen);
    if (waiting()) {
      // At most a frame's worth of new text is rendered per frame (a saved 10 MB answer, a burst of
      // deltas after a busy spell or a click on "Show more" never blocks the page); past the display
      // bound the rest only waits behind "Show more", which costs nothing to hand over. Pieces are
      // sized from the measured cost per character; only completed blocks are drawn per piece, the
      // live tail once at the end of the frame.
      const t0 = clock();
      do {
        const live = renderer.liveChars;
        const size = pace.piece(clock() - t0, live);
        const p0 = clock();
        let fed;
        if (renderer.backlogChars > 0) fed = renderer.drain(size, { live: false });
        else {
          let upto = renderer.hiddenChars > 0 ? run.text.length : Math.min(run.text.length, textLen + size);
          if (upto < run.text.length && /[\uD800-\uDBFF]/.test(run.text[upto - 1])) upto--;
          renderer.append(run.text.slice(textLen, upto), { live: false });
          fed = upto - textLen;
          textLen = upto;
        }
        // text past the display bound is only stored: no measure of the rendering cost
        if (renderer.hiddenChars === 0) pace.record(fed, clock() - p0, live);
      } while (waiting() && clock() - t0 < ANSWER_FRAME_BUDGET_MS);
      renderer.renderLive();
      grew = true;
    }
    behind = waiting();
    const final = isFinalStatus(run.status) && !behind;
    if (final && !run.text && run.result && !showingResult) {
      // Nothing streamed: show the module's return value instead.
      renderer.reset(run.result);
      showingResult = true;
      finished = false;
      grew = true;
    }
    if (final && !finished) {
      renderer.finish();
      finished = true;
      grew = true;
    } else if (!final) finished = false;
    // the result as the final answer, below the streamed text, where it differs
    const showResult = final && !showingResult && resultDiffers(run);
    if (showResult && resultShown !== run.result) {
      resultBody.replaceChildren(renderMarkdown(/** @type {string} */ (run.result), { highlight: opts.highlight }));
      resultShown = run.result;
      grew = true;
    }
    setHidden(result, !showResult);
    // Thinking.
    if (run.thinkingGen !== thinkingGen) {
      thinkingText.data = run.thinking.slice(0, maxChars);
      thinkingGen = run.thinkingGen;
      thinkingLen = run.thinking.length;
    } else if (run.thinking.length > thinkingLen) {
      if (thinkingLen < maxChars) thinkingText.appendData(run.thinking.slice(thinkingLen, maxChars));
      thinkingLen = run.thinking.length;
      grew = true;
    }
    setHidden(thinking, run.thinking.length === 0);
    // Status, buttons, error.
    if (root.dataset.status !== run.status) root.dataset.status = run.status;
    if (status.dataset.status !== run.status) status.dataset.status = run.status;
    setHidden(spinner, run.status !== "running");
    tick();
    setHidden(stop, run.status !== "running");
    if (run.status !== "running") {
      stopping = false;
      pendingStop?.dispose();
      pendingStop = null;
      stopNote.hidden = true;
    }
    if (!stopping) {
      if (stop.disabled) stop.disabled = false;
      setText(stop, "Stop");
    }
    // The red error box is for failures only. A cancelled run (the user's own
    // Stop, run.cancel(), an interrupt) gets a neutral status line, with the
    // reason as its tooltip.
    const failed = run.status === "error";
    setHidden(error, !failed);
    setText(errorMsg, failed ? errorText(run.error) || "The run failed." : "");
    const detail = failed && run.error && typeof run.error === "object" ? run.error.detail : "";
    setHidden(errorDetail, !detail);
    setText(errorDetailPre, detail || "");
    const reason = run.status === "cancelled" ? errorText(run.error) : "";
    if (reason) status.title = `Cancelled: ${reason}`;
    else status.removeAttribute("title");
    // Copy only what there is to copy (the text, or the result shown instead).
    setHidden(copy, !(run.result || run.text));
    setHidden(copyMd, !final);
    setHidden(save, !final);
    // busy until the text received is drawn too (a big final state renders over several frames)
    const busy = String(run.status === "running" || behind);
    if (scroll.getAttribute("aria-busy") !== busy) scroll.setAttribute("aria-busy", busy);
    setHidden(resync, !run.stale);
    // Announce the start and the end once, and only those this box saw happen (not saved state).
    if (run.status === "running") {
      if (!sawRunning) announce(`Run started${run.query ? `: ${run.query.slice(0, 80)}` : ""}`);
      sawRunning = true;
    } else if (sawRunning && !announced) {
      announce(endAnnouncement(run));
      announced = true;
    }
    syncTicker();
    const received = run.text.length + run.thinking.length;
    if (received > flowLen) {
      lastGrowth = now();
      syncSpinner(lastGrowth);
    } else if (flowing && run.status !== "running") syncSpinner(now());
    flowLen = received;
    if (grew) scroller.contentChanged();
    return grew;
  }

  sync(run);

  return {
    el: root,
    sync,
    tick,
    renderer,
    /** Whether text received is still waiting to be rendered (call sync again next frame). */
    get behind() {
      return behind;
    },
    scrollEl: scroll,
    answerEl: answer,
    thinking: { details: thinking, textNode: thinkingText },
    get sawRunning() {
      return sawRunning;
    },
    destroy() {
      if (ticker !== null) win.clearInterval(ticker);
      ticker = null;
      for (const t of timers) win.clearTimeout(t);
      timers.clear();
      pendingStop?.dispose();
      scroller.destroy();
      renderer.destroy();
    },
  };
}
