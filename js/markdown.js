// Incremental markdown rendering for a streaming answer.
//
// The text is split into a FROZEN prefix of completed top-level blocks (parsed
// and rendered once, their DOM never touched again) and a LIVE tail that is
// re-parsed and re-rendered on every update. Work per update is proportional
// to the tail, so a long answer costs linear time overall.
//
// When a top-level block is complete for good (so it can be frozen): md-blocks.js.
//
// Reference-style links: definitions seen in the frozen prefix are passed to
// every later parse; a link used BEFORE its definition (a forward reference)
// renders literally while streaming and is fixed by one full re-render in
// finish().
//
// Display bound: at most `maxChars` characters are rendered; the rest waits
// behind a "Show more" button that feeds the next slice. With a host that renders in frames
// (`onBacklog`: the answer box), the slice becomes a backlog the host drains piece by piece
// (drain()), so a click on a 10 MB answer never blocks the page; without one it renders at once.
//
// Source ranges: each rendered top-level block element remembers the [start, end) of the text it
// came from (in the normalized text), so a trace span can highlight the part of the answer it
// wrote, and the answer can tell which span wrote a block (linking.js).
//
// Formulas: a formula still open at the end of the live tail shows as its muted TeX source until it
// closes (math.js: pendingMathStart), so it goes from source to typeset once, never through markdown.

import { copyText, flashCopied } from "./clipboard.js";
import { morphChildren } from "./dom-morph.js";
import { grownText, lastTextBlock, lastTextNode } from "./grown-text.js";
import { pendingMathStart } from "./math.js";
import { completeBlockCount, newlineOffsets, topLevelBlocks } from "./md-blocks.js";
import { md, normalizeNewlines, renderBlockList } from "./md-render.js";
import { ownText } from "./own-text.js";
import { WIDGET_MAX_ANSWER_CHARS } from "./protocol.js";

/** Frozen blocks per div.lsw-md-group (see appendGrouped). */
const FROZEN_GROUP_SIZE = 32;

export { completeBlockCount, topLevelBlocks } from "./md-blocks.js";
export { createMarkdownIt, decorateCodeBlocks, normalizeNewlines, renderMarkdown } from "./md-render.js";

/**
 * @typedef {{
 *   append(delta: string, opts?: {live?: boolean}): void,
 *   renderLive(): void,
 *   drain(maxChars: number, opts?: {live?: boolean}): number,
 *   readonly backlogChars: number,
 *   readonly liveChars: number,
 *   update(fullText: string): void,
 *   reset(text?: string): void,
 *   finish(): void,
 *   showMore(): void,
 *   text(): string,
 *   readonly frozenBlockCount: number,
 *   readonly hiddenChars: number,
 *   moreButton: HTMLButtonElement,
 *   destroy(): void,
 * }} MarkdownRenderer
 */

/**
 * Attach an incremental renderer to `container` (which becomes the answer's
 * markdown element: it gets a frozen and a live child).
 * @param {HTMLElement} container
 * @param {{maxChars?: number, highlight?: boolean, onBacklog?: () => void}} [opts]
 *   highlight: false disables highlight.js (tests compare structure)
 *   onBacklog: "Show more" queued text for drain() (the host renders it over frames, then finish()es)
 * @returns {MarkdownRenderer}
 */
export function createMarkdownRenderer(container, opts = {}) {
  const doc = container.ownerDocument;
  const maxChars = opts.maxChars ?? WIDGET_MAX_ANSWER_CHARS;
  const highlight = opts.highlight ?? true;

  const frozenEl = doc.createElement("div");
  frozenEl.className = "lsw-md-frozen";
  const liveEl = doc.createElement("div");
  liveEl.className = "lsw-md-live";
  container.replaceChildren(frozenEl, liveEl);

  const moreButton = doc.createElement("button");
  moreButton.type = "button";
  moreButton.className = "lsw-more";
  moreButton.hidden = true;

  // Text state. Frozen text is kept as chunks and the tail as its own string:
  // slicing one ever-growing string would flatten it on every update (O(n)).
  /** @type {string[]} */ let frozenChunks = [];
  let tail = "";
  let fedLen = 0; // characters handed to the parser (frozen + tail)
  /** @type {string[]} */ let overflow = []; // received past the display limit
  let overflowLen = 0;
  let limit = maxChars;
  /** @type {string[]} */ let backlog = []; // normalized text within the limit, not yet fed (drain)
  let backlogLen = 0;
  let pendingCR = false; // a "\r" at a chunk end may be half of "\r\n"
  let frozenRefs = {}; // reference definitions from the frozen prefix
  let frozenBlockCount = 0;
  let frozenLen = 0; // characters in the frozen chunks: where the tail starts in the whole text
  /** @type {{el: Element, start: number, end: number}[]} */ let frozenRanges = [];
  /** @type {{el: Element, start: number, end: number}[]} */ let liveRanges = [];
  let finished = false;
  const timers = new Set();

  function onClick(ev) {
    const btn = /** @type {Element} */ (ev.target).closest?.(".lsw-code-copy");
    if (!btn || !container.contains(btn)) return;
    const code = btn.closest(".lsw-code")?.querySelector("code");
    copyText(code?.textContent ?? "", doc).then((ok) => {
      const t = flashCopied(/** @type {HTMLButtonElement} */ (btn), ok, "Copy");
      timers.add(t);
    });
  }
  container.addEventListener("click", onClick);
  moreButton.addEventListener("click", () => showMore());

  /**
   * Render `blocks` of `tokens` into `into`, recording each element's source range.
   * @param {any[]} tokens @param {ReturnType<typeof topLevelBlocks>} blocks
   * @param {Record<string, any>} env @param {number[]} lineStarts line starts of the parsed source
   * @param {number} base offset of the parsed source in the whole text
   * @param {number} srcEnd where the last block's text ends (in the parsed source)
   * @param {Element} into @param {{el: Element, start: number, end: number}[]} ranges
   * @param {boolean} hl highlight code
   */
  function renderBlocks(tokens, blocks, env, lineStarts, base, srcEnd, into, ranges, hl, src) {
    if (!blocks.length) return;
    const at = (line) => (line === 0 ? 0 : lineStarts[line - 1] ?? srcEnd);
    const { frag, elements } = renderBlockList(tokens, blocks, env, hl);
    if (into === frozenEl) {
      appendGrouped(frag);
      into = null;
    }
    let prev = 0;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      const start = b.map ? at(b.map[0]) : prev;
      const next = blocks[i + 1];
      let end = next && next.map ? at(next.map[0]) : srcEnd;
      while (end > start && /\s/.test(src[end - 1])) end--; // the blank lines between blocks belong to none
      for (const el of elements[i] ?? []) ranges.push({ el, start: base + start, end: base + end });
      prev = end;
    }
    into?.append(frag);
  }

  /**
   * Frozen blocks go into groups of FROZEN_GROUP_SIZE (div.lsw-md-group, each contained and skipped
   * while off screen): appending a block then lays out its group and the list of groups, not every
   * block of a long answer (layout per token grew with the answer's length).
   * @param {DocumentFragment} frag top-level blocks
   */
  function appendGrouped(frag) {
    let group = /** @type {Element|null} */ (frozenEl.lastElementChild);
    while (frag.firstChild) {
      if (!group || group.childElementCount >= FROZEN_GROUP_SIZE) {
        group = doc.createElement("div");
        group.className = "lsw-md-group";
        frozenEl.append(group);
      }
      const room = FROZEN_GROUP_SIZE - group.childElementCount;
      const take = doc.createDocumentFragment();
      for (let i = 0; i < room && frag.firstChild; i++) take.append(frag.firstChild);
      group.append(take);
    }
  }

  let liveStale = false; // the live tail's DOM lags behind the text (render(false, false))
  /**
   * The parse of a tail that render(false, false) found nothing complete in: the renderLive() of the
   * same frame renders it instead of parsing the same text again (one parse per frame, not two).
   * Used once; any other render drops it.
   * @type {{tail: string, env: Record<string, any>, tokens: any[], blocks: any[], lineStarts: number[]}|null}
   */
  let parsed = null;

  /**
   * Re-render the live tail, freezing whatever became complete.
   * @param {boolean} final
   * @param {boolean} [withLive] false: only freeze what completed; the live tail's DOM waits for
   *   renderLive() (a frame catching up over several pieces draws the live tail once, not per piece)
   */
  function render(final, withLive = true) {
    const reuse = !final && parsed !== null && parsed.tail === tail ? parsed : null;
    parsed = null;
    const env = reuse ? reuse.env : { references: { ...frozenRefs } };
    let tokens = reuse ? reuse.tokens : md.parse(tail, env);
    let blocks = reuse ? reuse.blocks : topLevelBlocks(tokens);
    let lineStarts = reuse ? reuse.lineStarts : newlineOffsets(tail);
    const n = final ? blocks.length : completeBlockCount(blocks, lineStarts.length);
    if (n > 0) {
      const cut = n < blocks.length ? lineStarts[/** @type {number[]} */ (blocks[n].map)[0] - 1] : tail.length;
      renderBlocks(tokens, blocks.slice(0, n), env, lineStarts, frozenLen, cut, frozenEl, frozenRanges, highlight, tail);
      frozenBlockCount += n;
      const chunk = tail.slice(0, cut);
      // Definitions carry over to later parses (cheap pre-check: they need "]:").
      if (chunk.includes("]:")) md.parse(chunk, { references: frozenRefs });
      frozenChunks.push(chunk);
      frozenLen += cut;
      tail = tail.slice(cut);
      if (!withLive) {
        liveStale = true;
        return;
      }
      if (n < blocks.length) {
        // the live blocks, re-parsed on their own (their line numbers start at 0 again)
        tokens = md.parse(tail, env);
        blocks = topLevelBlocks(tokens);
        lineStarts = newlineOffsets(tail);
      } else {
        tokens = [];
        blocks = [];
      }
    }
    if (!withLive) {
      liveStale = true;
      if (n === 0) parsed = { tail, env, tokens, blocks, lineStarts }; // nothing rendered from it yet
      return;
    }
    liveStale = false;
    // a formula still open at the end: its source, muted, until it closes (no flicker)
    const pending = !final && /[$\\]/.test(tail) ? pendingMathStart(tail, tokens, blocks, lineStarts) : null;
    if (!final && !pending && appendToShown(tokens)) return;
    shown = null;
    liveRanges = [];
    const live = doc.createDocumentFragment();
    if (pending) {
      const head = tail.slice(0, pending.start);
      const headTokens = md.parse(head, env);
      renderBlocks(headTokens, topLevelBlocks(headTokens), env, newlineOffsets(head), frozenLen, head.length, live, liveRanges, false, head);
      const el = doc.createElement(pending.display ? "div" : "span");
      el.className = pending.display ? "lsw-math-pending lsw-math-display" : "lsw-math-pending";
      el.textContent = tail.slice(pending.start);
      el.title = "Formula still streaming";
      const host = pending.display ? null : lastTextBlock(live);
      // markdown drops a paragraph's trailing space: give it back before the formula
      if (host && /[ \t]$/.test(head)) host.append(" ");
      if (host) host.append(el);
      else {
        live.append(el);
        liveRanges.push({ el, start: frozenLen + pending.start, end: frozenLen + tail.length });
      }
    } else if (blocks.length) {
      renderBlocks(tokens, blocks, env, lineStarts, frozenLen, tail.length, live, liveRanges, highlight && final, tail);
    }
    // the elements that did not change stay (dom-morph.js): no restyle or relayout of them per frame
    const kept = new Map();
    morphChildren(liveEl, live, kept);
    for (const r of liveRanges) r.el = /** @type {Element} */ (kept.get(r.el) ?? r.el);
    if (!final && !pending) {
      const node = lastTextNode(liveEl.lastElementChild);
      if (node) shown = { tokens, node, frozenLen };
    }
  }

  /**
   * The live tail as last drawn in full: its tokens, and the text node that ends it on screen.
   * @type {{tokens: any[], node: Text, frozenLen: number}|null}
   */
  let shown = null;

  /**
   * A stream mostly adds words to the end of the last paragraph (or line of code). When the new
   * parse is the drawn one's with only its very last text grown, that text node takes the new
   * characters (appendData: text, never markup) and nothing is rendered, sanitized or morphed.
   * Anything else (a new block, a link or emphasis that formed, an entity that completed) differs
   * in the tokens and is drawn in full.
   * @returns {boolean} whether the tail was brought up to date this way
   */
  function appendToShown(tokens) {
    const was = shown;
    if (!was || was.frozenLen !== frozenLen || !was.node.isConnected) return false;
    const grown = grownText(was.tokens, tokens);
    if (grown === null || !was.node.data.endsWith(grown.before)) return false;
    was.node.appendData(grown.added);
    was.tokens = tokens;
    let end = tail.length;
    while (end > 0 && /\s/.test(tail[end - 1])) end--;
    const last = liveRanges[liveRanges.length - 1];
    if (last) for (const r of liveRanges) if (r.start === last.start) r.end = frozenLen + end;
    return true;
  }


  /**
   * The rendered blocks whose text overlaps [start, end) (offsets in the normalized text).
   * @returns {Element[]}
   */
  function blocksIn(start, end) {
    const out = [];
    // frozen ranges are in order: binary search the first that ends after `start`
    let lo = 0;
    let hi = frozenRanges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (frozenRanges[mid].end <= start) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < frozenRanges.length && frozenRanges[i].start < end; i++) out.push(frozenRanges[i].el);
    for (const r of liveRanges) if (r.start < end && r.end > start) out.push(r.el);
    return out;
  }

  /** The source range of the top-level block holding `node`, or null. */
  function rangeAt(node) {
    let el = node && node.nodeType === 1 ? node : node?.parentElement;
    while (el && el.parentElement !== liveEl && el.parentElement?.parentElement !== frozenEl) el = el.parentElement;
    if (!el) return null;
    const list = el.parentElement === liveEl ? liveRanges : frozenRanges;
    const r = list.find((x) => x.el === el);
    return r ? [r.start, r.end] : null;
  }

  function updateMoreButton() {
    moreButton.hidden = overflowLen === 0;
    const next = Math.min(overflowLen, maxChars);
    moreButton.textContent = `Show more (${overflowLen.toLocaleString("en-US")} more characters)`;
    // the accessible name starts with the visible label (WCAG 2.5.3)
    moreButton.setAttribute("aria-label", `${moreButton.textContent}: the next ${next.toLocaleString("en-US")} of the answer`);
  }

  /** Hand normalized text to the parser, respecting the display bound. */
  function feed(text) {
    if (!text) return;
    let room = limit - fedLen;
    if (overflowLen > 0 || text.length > room) {
      room = Math.max(0, room);
      // Do not split a surrogate pair at the cut.
      if (room > 0 && room < text.length && /[\uD800-\uDBFF]/.test(text[room - 1])) room--;
      if (room > 0) {
        tail += text.slice(0, room);
        fedLen += room;
      }
      overflow.push(text.slice(room));
      overflowLen += text.length - room;
      updateMoreButton();
    } else {
      tail += text;
      fedLen += text.length;
    }
  }

  function normalizeChunk(delta) {
    let text = (pendingCR ? "\r" : "") + delta;
    pendingCR = text.endsWith("\r");
    if (pendingCR) text = text.slice(0, -1);
    // kept (tail, backlog, text past the bound): never as a view into the caller's whole text
    return ownText(normalizeNewlines(text));
  }

  /** @param {string} delta @param {{live?: boolean}} [opts] live: false defers the live tail (renderLive) */
  function append(delta, opts = {}) {
    if (!delta) return;
    if (finished) {
      // finish() froze the last block even if it was cut short: start over
      // (rare: the final state normally carries the whole text).
      rebuild(fullText() + delta, limit, false);
      return;
    }
    if (backlogLen > 0) {
      // "Show more" text is still being drained: new text goes after it
      const text = normalizeChunk(delta);
      backlog.push(text);
      backlogLen += text.length;
      return;
    }
    const before = fedLen;
    feed(normalizeChunk(delta));
    if (fedLen !== before) render(false, opts.live ?? true);
  }

  /**
   * Feed up to `max` characters of the backlog. @returns {number} characters fed
   * @param {number} max @param {{live?: boolean}} [opts] live: false defers the live tail (renderLive)
   */
  function drain(max, opts = {}) {
    if (backlogLen === 0) return 0;
    let take = Math.max(1, Math.min(max, backlogLen));
    let piece = "";
    while (take > 0 && backlog.length) {
      const head = backlog[0];
      if (head.length <= take) {
        piece += head;
        take -= head.length;
        backlog.shift();
      } else {
        let cut = take;
        if (/[\uD800-\uDBFF]/.test(head[cut - 1])) cut = cut > 1 ? cut - 1 : cut + 1; // keep pairs whole
        piece += head.slice(0, cut);
        backlog[0] = head.slice(cut);
        take = 0;
      }
    }
    backlogLen -= piece.length;
    feed(piece);
    render(false, opts.live ?? true);
    return piece.length;
  }

  /** Draw the live tail if append(..., {live: false}) left it behind. */
  function renderLive() {
    if (liveStale && !finished) render(false);
  }

  function fullText() {
    return frozenChunks.join("") + tail + backlog.join("") + overflow.join("") + (pendingCR ? "\n" : "");
  }

  /** Render `text` from scratch with display limit `newLimit`. */
  function rebuild(text, newLimit, andFinish) {
    reset();
    limit = newLimit;
    if (text) {
      feed(normalizeChunk(text));
      render(false);
    }
    if (andFinish) finish();
  }

  function reset(text = "") {
    frozenChunks = [];
    tail = "";
    fedLen = 0;
    overflow = [];
    overflowLen = 0;
    limit = maxChars;
    backlog = [];
    backlogLen = 0;
    pendingCR = false;
    frozenRefs = {};
    parsed = null;
    frozenBlockCount = 0;
    frozenLen = 0;
    frozenRanges = [];
    liveRanges = [];
    shown = null;
    finished = false;
    liveStale = false;
    frozenEl.replaceChildren();
    liveEl.replaceChildren();
    updateMoreButton();
    if (text) append(text);
  }

  function finish() {
    if (pendingCR) {
      pendingCR = false;
      feed("\n");
    }
    finished = true;
    render(true);
    if (Object.keys(frozenRefs).length > 0) {
      // A forward reference may have frozen as literal text: render once in full.
      const shown = frozenChunks.join("");
      const env = {};
      const tokens = md.parse(shown, env);
      const blocks = topLevelBlocks(tokens);
      const frag = doc.createDocumentFragment();
      frozenRanges = [];
      renderBlocks(tokens, blocks, env, newlineOffsets(shown), 0, shown.length, frag, frozenRanges, highlight, shown);
      frozenEl.replaceChildren();
      appendGrouped(frag);
      frozenChunks = [shown];
      frozenBlockCount = blocks.length;
    }
  }

  function showMore() {
    if (overflowLen === 0) return;
    if (finished) {
      // The block cut at the limit was frozen by finish(): re-render with room.
      if (!opts.onBacklog) return void rebuild(fullText(), limit + maxChars, true);
      const text = fullText();
      const newLimit = limit + maxChars;
      reset();
      limit = newLimit;
      backlog = [text];
      backlogLen = text.length;
      opts.onBacklog(); // the host drains it, then calls finish() again
      return;
    }
    const rest = overflow.join("");
    overflow = [];
    overflowLen = 0;
    limit += maxChars;
    updateMoreButton();
    if (!opts.onBacklog) {
      feed(rest);
      render(finished);
      return;
    }
    backlog.push(rest);
    backlogLen += rest.length;
    opts.onBacklog();
  }

  return {
    append,
    renderLive,
    drain,
    /** Characters "Show more" queued that drain() has not fed yet. */
    get backlogChars() {
      return backlogLen;
    },
    /** Characters of the live tail (re-parsed by every update). */
    get liveChars() {
      return tail.length;
    },
    update(full) {
      const text = normalizeNewlines(full);
      const current = frozenChunks.join("") + tail + backlog.join("") + overflow.join("");
      if (text.length >= current.length && text.startsWith(current)) append(text.slice(current.length));
      else reset(text);
    },
    reset,
    finish,
    showMore,
    text: fullText,
    get frozenBlockCount() {
      return frozenBlockCount;
    },
    get hiddenChars() {
      return overflowLen;
    },
    blocksIn,
    rangeAt,
    /** Characters handed to the parser (the rest waits behind "Show more"). */
    get shownChars() {
      return fedLen;
    },
    moreButton,
    destroy() {
      container.removeEventListener("click", onClick);
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
