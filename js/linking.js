// The answer and the trace, linked: selecting a span highlights the part of the answer (or the
// thinking) it wrote and scrolls to it; pointing at a part of the answer marks the span that wrote
// it in the tree.
//
// llm spans carry where their streamed text sits in run.text / run.thinking (attrs.text_ranges /
// thinking_ranges, Python str indices). Here they become UTF-16 indices (JavaScript strings) and
// then indices in the markdown renderer's normalized text. A range is trusted only if the text
// there is what the span itself says it produced (its output's content): a writer the kernel could
// not count (another process) would shift the offsets, and a wrong link is worse than none.
// Sources that give no offsets (real LazyLLM, foreign OpenTelemetry spans) simply have no links.

import { ATTR_TEXT_RANGES, ATTR_THINKING_RANGES } from "./protocol.js";
import { rangesOf } from "./trace-model.js";
import { splitCut } from "./value-view.js";

/**
 * Code-point offsets (Python) of `text` to UTF-16 offsets (JavaScript).
 * @param {string} text @param {number[]} offsets ascending or not
 * @returns {number[]}
 */
export function codePointsToUtf16(text, offsets) {
  if (!/[\uD800-\uDBFF]/.test(text)) return offsets.slice();
  const order = offsets.map((o, i) => [o, i]).sort((a, b) => a[0] - b[0]);
  const out = new Array(offsets.length);
  let cp = 0;
  let u = 0;
  for (const [o, i] of order) {
    while (cp < o && u < text.length) {
      const c = text.charCodeAt(u);
      u += c >= 0xd800 && c <= 0xdbff && u + 1 < text.length ? 2 : 1;
      cp++;
    }
    out[i] = u;
  }
  return out;
}

/**
 * UTF-16 offsets of the raw text to offsets in the renderer's normalized text ("\r\n" and "\r"
 * become "\n", so each dropped "\r" before an offset moves it back by one).
 * @param {string} text @param {number[]} offsets
 */
export function toNormalized(text, offsets) {
  if (!text.includes("\r")) return offsets.slice();
  return offsets.map((o) => {
    let dropped = 0;
    for (let i = 0; i < o && i < text.length; i++) if (text[i] === "\r" && text[i + 1] === "\n") dropped++;
    return o - dropped;
  });
}

/**
 * The [start, end) ranges (UTF-16) of a span's text in `text`, if they check out against what the
 * span says it produced; else [].
 * @param {any} node an llm node of the trace model
 * @param {"text"|"thinking"} which
 * @param {string} text run.text or run.thinking
 * @returns {[number, number][]}
 */
export function verifiedRanges(node, which, text) {
  const attrs = node.attrs && typeof node.attrs === "object" ? node.attrs : {};
  const ranges = rangesOf(attrs[which === "text" ? ATTR_TEXT_RANGES : ATTR_THINKING_RANGES]);
  if (!ranges) return [];
  const flat = codePointsToUtf16(text, ranges.flat());
  const out = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i + 1] > flat[i] && flat[i + 1] <= text.length) out.push([flat[i], flat[i + 1]]);
  if (out.length !== ranges.length) return [];
  const wrote = out.map(([a, b]) => text.slice(a, b)).join("");
  const said = producedText(node, which);
  if (said !== null) {
    const { kept } = splitCut(said);
    const ok = kept === said ? said.startsWith(wrote) : wrote.startsWith(kept) || kept.startsWith(wrote);
    if (!ok) return [];
  }
  return out;
}

/** What the llm span says it wrote (its output's content or reasoning), or null if unknown. */
function producedText(node, which) {
  const out = node.output;
  if (!out || typeof out !== "object") return typeof out === "string" && which === "text" ? out : null;
  const v = which === "text" ? out.content : out.reasoning;
  return typeof v === "string" ? v : null;
}

/** The thinking ranges each view marks; one CSS highlight ("lsw-thinking") shows them all. */
const thinkingMarks = new Map();

function paintThinking(win) {
  const hl = win?.CSS?.highlights;
  const Highlight = win?.Highlight;
  if (!hl || !Highlight) return; // no CSS Custom Highlight API (old browsers, jsdom): no marks
  const all = [...thinkingMarks.values()].flat();
  if (all.length) hl.set("lsw-thinking", new Highlight(...all));
  else hl.delete("lsw-thinking");
}

/**
 * Wire an answer box and a trace view together.
 * @param {{
 *   tree: import("./trace-view.js").TraceView,
 *   renderer: {blocksIn(s: number, e: number): Element[], rangeAt(n: Node): [number, number]|null},
 *   answerEl: HTMLElement, scrollEl: HTMLElement,
 *   thinking: {details: HTMLDetailsElement, textNode: Text},
 *   getRun: () => {text: string, thinking: string},
 * }} opts
 */
export function linkAnswerAndTrace(opts) {
  const { tree, renderer, answerEl, scrollEl, thinking, getRun } = opts;
  const doc = answerEl.ownerDocument;
  const win = doc.defaultView;
  /** @type {Element[]} */
  let marked = [];
  let index = null; // [{node, start, end}] in normalized answer offsets, rebuilt when the trace changes
  let indexVersion = -1;
  let hoverEl = null;

  function spansIndex() {
    if (index && indexVersion === tree.model.version) return index;
    const text = getRun().text;
    index = [];
    for (const node of tree.model.nodes.values()) {
      if (node.kind !== "llm") continue;
      for (const [a, b] of verifiedRanges(node, "text", text)) {
        const [s, e] = toNormalized(text, [a, b]);
        index.push({ node, start: s, end: e });
      }
    }
    indexVersion = tree.model.version;
    return index;
  }

  function clear() {
    for (const el of marked) el.classList.remove("lsw-linked");
    marked = [];
    if (thinkingMarks.delete(tree)) paintThinking(win);
  }

  /** Highlight what `node` (and the llm spans below it) wrote; scroll the answer to it. */
  function show(node) {
    clear();
    if (!node) return;
    const run = getRun();
    const llms = [];
    const stack = [node];
    while (stack.length && llms.length < 5000) {
      const n = stack.pop();
      if (n.kind === "llm") llms.push(n);
      for (const c of n.children) stack.push(c);
    }
    const textRanges = llms.flatMap((n) => verifiedRanges(n, "text", run.text));
    for (const [a, b] of textRanges) {
      const [s, e] = toNormalized(run.text, [a, b]);
      for (const el of renderer.blocksIn(s, e)) {
        el.classList.add("lsw-linked");
        marked.push(el);
      }
    }
    if (marked.length) scrollAnswerTo(marked[0]);
    const thinkRanges = llms.flatMap((n) => verifiedRanges(n, "thinking", run.thinking));
    if (thinkRanges.length) {
      if (!textRanges.length) thinking.details.open = true;
      highlightThinking(thinkRanges);
    }
  }

  function scrollAnswerTo(el) {
    // scroll the answer's own box only, never the page
    const box = scrollEl.getBoundingClientRect?.();
    const r = el.getBoundingClientRect?.();
    if (!box || !r || (r.top >= box.top && r.bottom <= box.bottom)) return;
    scrollEl.scrollTop += r.top - box.top - 8;
  }

  function highlightThinking(ranges) {
    if (!doc.createRange) return;
    const node = thinking.textNode;
    const max = node.data.length;
    const list = [];
    for (const [a, b] of ranges) {
      if (a >= max) continue;
      const r = doc.createRange();
      r.setStart(node, a);
      r.setEnd(node, Math.min(b, max));
      list.push(r);
    }
    if (list.length) {
      thinkingMarks.set(tree, list);
      paintThinking(win);
    }
  }

  function onOver(ev) {
    const range = renderer.rangeAt(/** @type {Node} */ (ev.target));
    const block = range ? blockOf(ev.target) : null;
    if (block === hoverEl) return;
    hoverEl?.classList.remove("lsw-hover-link");
    hoverEl = null;
    if (!range) return tree.highlight([]);
    const nodes = spansIndex().filter((x) => x.start < range[1] && x.end > range[0]).map((x) => x.node);
    tree.highlight(nodes);
    if (nodes.length && block) {
      hoverEl = block;
      block.classList.add("lsw-hover-link");
      block.title = `Written by ${nodes.map((n) => n.name || n.kind).join(", ")}`;
    }
  }

  function blockOf(target) {
    let el = target && target.nodeType === 1 ? target : target?.parentElement;
    // a top-level block: a child of a frozen group (markdown.js, appendGrouped) or of the live tail
    const top = (parent) => parent.classList.contains("lsw-md-group") || parent.classList.contains("lsw-md-live");
    while (el && el.parentElement && !top(el.parentElement)) {
      el = el.parentElement;
    }
    return el && el.parentElement ? el : null;
  }

  function onLeave() {
    hoverEl?.classList.remove("lsw-hover-link");
    hoverEl = null;
    tree.highlight([]);
  }

  answerEl.addEventListener("mouseover", onOver);
  answerEl.addEventListener("mouseleave", onLeave);
  return {
    show,
    clear,
    destroy() {
      clear();
      answerEl.removeEventListener("mouseover", onOver);
      answerEl.removeEventListener("mouseleave", onLeave);
    },
  };
}
