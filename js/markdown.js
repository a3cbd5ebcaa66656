// Incremental markdown rendering for a streaming answer.
//
// The text is split into a FROZEN prefix of completed top-level blocks (parsed
// and rendered once, their DOM never touched again) and a LIVE tail that is
// re-parsed and re-rendered on every update. Work per update is proportional
// to the tail, so a long answer costs linear time overall.
//
// When is block i certainly complete? CommonMark decides block structure line
// by line: once a complete line has closed a top-level block, later text cannot
// reopen it. Top-level block i is closed for good when block i+1 exists AND
// the first line of block i+1 is complete (ends with "\n"): a partial line can
// still change meaning ("para\n#" is paragraph + heading, "para\n#x" is one
// paragraph; "```" may still become "```x`"). An unclosed ``` fence runs to the
// end of the text, so it is always the last block and never frozen. Lists,
// blockquotes and indented code may continue after a blank line: they stay live
// while the next block is of the same family (e.g. "1. a\n\n2" could become the
// second item of the same list).
//
// Reference-style links: definitions seen in the frozen prefix are passed to
// every later parse; a link used BEFORE its definition (a forward reference)
// renders literally while streaming and is fixed by one full re-render in
// finish().
//
// Display bound: at most `maxChars` characters are rendered; the rest waits
// behind a "Show more" button that feeds the next slice.

import MarkdownIt from "markdown-it";
import { highlightCode } from "./code-highlight.js";
import { copyText, flashCopied } from "./clipboard.js";
import { WIDGET_MAX_ANSWER_CHARS } from "./protocol.js";
import { isHttpUrl, sanitizeToFragment } from "./sanitize.js";

/** markdown-it as the widget uses it: no raw HTML, bare URLs become links. */
export function createMarkdownIt() {
  const md = new MarkdownIt({ html: false, linkify: true, typographer: false, breaks: false });
  // Images are not loaded (see sanitize.js): an http(s) image becomes a link
  // labelled with its alt text; any other image is reduced to its alt text.
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    const token = tokens[idx];
    const src = token.attrGet("src");
    const alt = md.utils.escapeHtml(self.renderInlineAsText(token.children || [], options, env) || "image");
    if (!isHttpUrl(src)) return alt;
    const href = md.utils.escapeHtml(src);
    return `<a href="${href}" class="lsw-img-link" title="Image (not loaded): ${href}">[image: ${alt}]</a>`;
  };
  return md;
}

const md = createMarkdownIt();

// Block families that may continue after a blank line.
const FAMILY = {
  bullet_list_open: "list",
  ordered_list_open: "list",
  blockquote_open: "quote",
  code_block: "code",
};

/**
 * Split a token stream into top-level blocks.
 * @param {any[]} tokens
 * @returns {{start: number, end: number, type: string, map: number[]|null}[]}
 */
export function topLevelBlocks(tokens) {
  const blocks = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i];
    if (t.level !== 0) {
      i++;
      continue;
    }
    let end = i + 1;
    if (t.nesting === 1) {
      while (end < tokens.length && !(tokens[end].level === 0 && tokens[end].nesting === -1)) end++;
      end++;
    }
    blocks.push({ start: i, end: Math.min(end, tokens.length), type: t.type, map: t.map || null });
    i = end;
  }
  return blocks;
}

/**
 * How many leading blocks of `tail` are certainly complete (see the header).
 * @param {ReturnType<typeof topLevelBlocks>} blocks
 * @param {number} completeLines number of "\n"-terminated lines in the tail
 * @returns {number}
 */
export function completeBlockCount(blocks, completeLines) {
  let n = 0;
  for (let i = 0; i + 1 < blocks.length; i++) {
    const b = blocks[i];
    const next = blocks[i + 1];
    if (!b.map || !next.map) break;
    if (next.map[0] >= completeLines) break; // next block's first line still partial
    const fam = FAMILY[b.type];
    // Two adjacent lists (or quotes): hold the pair while the second is the last, still growing
    // block, to be safe; once another block follows, both are final. (Holding any longer made the
    // live tail, and so every frame's work, grow with the whole answer: quadratic time.)
    if (fam && FAMILY[next.type] === fam && i + 2 >= blocks.length) break;
    n = i + 1;
  }
  return n;
}

/** Render markdown to a sanitized fragment (code blocks decorated). */
function renderTokens(tokens, env, highlight) {
  const html = md.renderer.render(tokens, md.options, env);
  const frag = sanitizeToFragment(html);
  decorateCodeBlocks(frag, highlight);
  return frag;
}

/**
 * Wrap each <pre><code> in a .lsw-code box with a language label and a copy
 * button; highlight it if asked (complete fences only).
 * @param {DocumentFragment|Element} root
 * @param {boolean} highlight
 */
export function decorateCodeBlocks(root, highlight) {
  const doc = root.ownerDocument;
  for (const pre of Array.from(root.querySelectorAll("pre"))) {
    const code = pre.querySelector("code");
    if (!code || pre.parentElement?.classList.contains("lsw-code")) continue;
    const langClass = Array.from(code.classList).find((c) => c.startsWith("language-"));
    const lang = langClass ? langClass.slice(9) : "";
    if (highlight && lang) {
      const html = highlightCode(code.textContent || "", lang);
      if (html !== null) {
        code.replaceChildren(sanitizeToFragment(html));
        code.classList.add("hljs");
      }
    }
    const box = doc.createElement("div");
    box.className = "lsw-code";
    const bar = doc.createElement("div");
    bar.className = "lsw-code-bar";
    const label = doc.createElement("span");
    label.className = "lsw-code-lang";
    label.textContent = lang;
    const btn = doc.createElement("button");
    btn.type = "button";
    btn.className = "lsw-code-copy";
    btn.textContent = "Copy";
    btn.setAttribute("aria-label", lang ? `Copy ${lang} code` : "Copy code");
    bar.append(label, btn);
    pre.replaceWith(box);
    box.append(bar, pre);
  }
}

/**
 * Render a whole markdown text at once (same pipeline as the incremental
 * renderer; used for the final fix-up and by tests).
 * @param {string} text
 * @param {{highlight?: boolean}} [opts]
 * @returns {DocumentFragment}
 */
export function renderMarkdown(text, opts = {}) {
  const env = {};
  return renderTokens(md.parse(normalizeNewlines(text), env), env, opts.highlight ?? true);
}

/** markdown-it's own normalization, done up front so our line numbers match its. */
export function normalizeNewlines(text) {
  return text.replace(/\r\n?/g, "\n").replace(/\0/g, "\uFFFD");
}

/** Offsets of the first `count` line starts after line 0 ("\n" positions + 1). */
function newlineOffsets(text) {
  const out = [];
  let i = text.indexOf("\n");
  while (i !== -1) {
    out.push(i + 1);
    i = text.indexOf("\n", i + 1);
  }
  return out;
}

/**
 * @typedef {{
 *   append(delta: string): void,
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
 * @param {{maxChars?: number, highlight?: boolean}} [opts]
 *   highlight: false disables highlight.js (tests compare structure)
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
  let pendingCR = false; // a "\r" at a chunk end may be half of "\r\n"
  let frozenRefs = {}; // reference definitions from the frozen prefix
  let frozenBlockCount = 0;
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

  /** Re-render the live tail, freezing whatever became complete. */
  function render(final) {
    const env = { references: { ...frozenRefs } };
    const tokens = md.parse(tail, env);
    const blocks = topLevelBlocks(tokens);
    const lineStarts = newlineOffsets(tail);
    const n = final ? blocks.length : completeBlockCount(blocks, lineStarts.length);
    let liveTokens = tokens;
    if (n > 0) {
      const endTok = blocks[n - 1].end;
      frozenEl.append(renderTokens(tokens.slice(0, endTok), env, highlight));
      frozenBlockCount += n;
      const cut = n < blocks.length ? lineStarts[/** @type {number[]} */ (blocks[n].map)[0] - 1] : tail.length;
      const chunk = tail.slice(0, cut);
      // Definitions carry over to later parses (cheap pre-check: they need "]:").
      if (chunk.includes("]:")) md.parse(chunk, { references: frozenRefs });
      frozenChunks.push(chunk);
      tail = tail.slice(cut);
      liveTokens = tokens.slice(endTok);
    }
    if (liveTokens.length) liveEl.replaceChildren(renderTokens(liveTokens, env, highlight && final));
    else liveEl.replaceChildren();
  }

  function updateMoreButton() {
    moreButton.hidden = overflowLen === 0;
    const next = Math.min(overflowLen, maxChars);
    moreButton.textContent = `Show more (${overflowLen.toLocaleString("en-US")} more characters)`;
    moreButton.setAttribute("aria-label", `Show ${next.toLocaleString("en-US")} more characters of the answer`);
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
    return normalizeNewlines(text);
  }

  function append(delta) {
    if (!delta) return;
    if (finished) {
      // finish() froze the last block even if it was cut short: start over
      // (rare: the final state normally carries the whole text).
      rebuild(fullText() + delta, limit, false);
      return;
    }
    const before = fedLen;
    feed(normalizeChunk(delta));
    if (fedLen !== before) render(false);
  }

  function fullText() {
    return frozenChunks.join("") + tail + overflow.join("") + (pendingCR ? "\n" : "");
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
    pendingCR = false;
    frozenRefs = {};
    frozenBlockCount = 0;
    finished = false;
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
      frozenEl.replaceChildren(renderMarkdown(shown, { highlight }));
      frozenChunks = [shown];
      frozenBlockCount = topLevelBlocks(md.parse(shown, {})).length;
    }
  }

  function showMore() {
    if (overflowLen === 0) return;
    if (finished) {
      // The block cut at the limit was frozen by finish(): re-render with room.
      rebuild(fullText(), limit + maxChars, true);
      return;
    }
    const rest = overflow.join("");
    overflow = [];
    overflowLen = 0;
    limit += maxChars;
    feed(rest);
    updateMoreButton();
    render(finished);
  }

  return {
    append,
    update(full) {
      const text = normalizeNewlines(full);
      const current = frozenChunks.join("") + tail + overflow.join("");
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
    moreButton,
    destroy() {
      container.removeEventListener("click", onClick);
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
