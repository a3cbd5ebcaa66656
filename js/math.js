// LaTeX math in answers: $...$ and \(...\) inline, $$...$$ and \[...\] display.
//
// Parsing is @mdit/plugin-tex's (a markdown-it plugin); typesetting is KaTeX's, with trust off
// (no \href, \includegraphics...) and size / macro-expansion limits, its output sanitized by
// DOMPurify's MathML + SVG profile (sanitize.js). The plugin only leaves an empty slot in the
// markdown HTML (which goes through the strict markdown sanitizer like everything else); the
// formula is typeset into the slot afterwards, from a cache, so re-rendering a streaming tail
// does not re-typeset its formulas.
//
// No flicker while a formula streams: until its closing delimiter arrives, a formula at the end
// of the live tail is shown as its TeX source in a muted "pending" style (never as markdown,
// where "a_1 + b_1" would briefly turn italic), then once typeset. See pendingMathStart().

import katex from "katex";
import { tex } from "@mdit/plugin-tex";
import { sanitizeMathToFragment } from "./sanitize.js";

/** KaTeX options: untrusted input. */
const KATEX_OPTIONS = {
  throwOnError: false, trust: false, strict: "ignore", output: "htmlAndMathml", maxSize: 50, maxExpand: 500,
};
/** Typeset formulas kept for re-use (a live tail re-renders its formulas every frame). */
const CACHE_SIZE = 500;
/** An inline opener with no closer is held back at most this many characters (a stray "$5" stays text). */
export const MAX_PENDING_INLINE = 80;

/** @param {import("markdown-it").default} md */
export function installMath(md) {
  md.use(tex, {
    delimiters: "all",
    render: (content, displayMode, env) => {
      if (env && typeof env === "object") (env.lswMath ??= []).push({ tex: content, display: displayMode });
      return displayMode ? '<div class="lsw-math lsw-math-display"></div>\n' : '<span class="lsw-math"></span>';
    },
  });
  // The plugin reads "\[...\]" only on lines of its own; inside a sentence markdown's escape rule
  // took "\[" as a literal "[" and the formula lost its backslashes ("[E = mc^2]"). Models write it
  // inline often: typeset it where it stands (inline, so the paragraph stays one paragraph).
  md.inline.ruler.before("escape", "math_inline_display_bracket", inlineDisplayBracket);
}

/** Backslashes right before `pos` (from `min`): an odd count escapes the character at `pos`. */
function backslashesBefore(src, pos, min = 0) {
  let n = 0;
  for (let i = pos - 1; i >= min && src.charCodeAt(i) === 92; i--) n++;
  return n;
}

/** markdown-it inline rule: "\[ tex \]" within a line, as an inline formula. */
function inlineDisplayBracket(state, silent) {
  const { src, pos } = state;
  if (src.charCodeAt(pos) !== 92 || src.charCodeAt(pos + 1) !== 91) return false;
  if (backslashesBefore(src, pos) % 2 === 1) return false; // "\\[" is an escaped backslash, then "["
  let end = -1;
  for (let i = pos + 2; i < src.length - 1; i++) {
    if (src.charCodeAt(i) === 92 && src.charCodeAt(i + 1) === 93 && backslashesBefore(src, i, pos + 2) % 2 === 0) {
      end = i;
      break;
    }
  }
  if (end < 0 || !src.slice(pos + 2, end).trim()) return false;
  if (!silent) {
    const token = state.push("math_inline", "math", 0);
    token.markup = "\\[";
    token.content = src.slice(pos + 2, end);
  }
  state.pos = end + 2;
  return true;
}

/** @type {Map<string, DocumentFragment>} */
const cache = new Map();

/**
 * Typeset one formula (cached). @param {string} texSource @param {boolean} display
 * @returns {DocumentFragment} a fresh copy
 */
export function typeset(texSource, display) {
  const key = `${display ? "D" : "I"}${texSource}`;
  let frag = cache.get(key);
  if (frag) {
    cache.delete(key); // most recently used last
    cache.set(key, frag);
  } else {
    let html;
    try {
      html = katex.renderToString(texSource, { ...KATEX_OPTIONS, displayMode: display });
    } catch (err) {
      html = `<span class="katex-error">${String(err?.message ?? err).replace(/[<&]/g, (c) => (c === "<" ? "&lt;" : "&amp;"))}</span>`;
    }
    frag = sanitizeMathToFragment(html);
    cache.set(key, frag);
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value);
  }
  return /** @type {DocumentFragment} */ (frag.cloneNode(true));
}

/**
 * Fill the math slots of a sanitized fragment with typeset formulas, in order.
 * @param {DocumentFragment|Element} root
 * @param {{lswMath?: {tex: string, display: boolean}[]}} env the env markdown-it rendered with
 */
export function hydrateMath(root, env) {
  const items = env.lswMath;
  if (!items || !items.length) return;
  const slots = root.querySelectorAll(".lsw-math");
  slots.forEach((slot, i) => {
    const item = items[i];
    if (!item) return;
    slot.replaceChildren(typeset(item.tex, item.display));
    slot.setAttribute("data-tex", item.tex);
  });
  env.lswMath = [];
}

/**
 * Where an unclosed formula starts at the end of a streaming tail, or -1.
 * @param {string} src the live markdown source
 * @param {any[]} tokens md.parse(src)
 * @param {{start: number, end: number, type: string, map: number[]|null}[]} blocks top-level blocks
 * @param {number[]} lineStarts offsets of line starts after line 0
 * @returns {{start: number, display: boolean}|null}
 */
export function pendingMathStart(src, tokens, blocks, lineStarts) {
  const last = blocks[blocks.length - 1];
  if (!last || !last.map) return null;
  const blockStart = last.map[0] === 0 ? 0 : lineStarts[last.map[0] - 1];
  const first = tokens[last.start];
  if (first.type === "math_block") {
    // "$$" runs to the end of the text until it is closed: closed when a second "$$" ends it
    if (first.markup === "$$" && (src.slice(blockStart).match(/\$\$/g) ?? []).length < 2) return { start: blockStart, display: true };
    return null;
  }
  if (first.type === "fence" || first.type === "code_block" || first.type === "html_block") return null;
  // "\[" at a line start with no "\]" after it: an unclosed display formula
  const body = src.slice(blockStart);
  const open = body.search(/(^|\n)[ \t]*\\\[(?![\s\S]*\\\])/);
  if (open >= 0) return { start: blockStart + open + (body[open] === "\n" ? 1 : 0), display: true };
  // an inline opener whose closer has not arrived (in the block's source; not inside a code span)
  const at = unclosedInline(body);
  if (at < 0 || body.length - at > MAX_PENDING_INLINE) return null;
  return { start: blockStart + at, display: false };
}

/**
 * Start of an unclosed inline formula in a block's source, or -1: the last "\\(" or "\\[" when there
 * are more of them than "\\)" and "\\]", or the last single "$" that can open (not escaped, not followed by a
 * space) when the single "$"s are odd in number. Nothing inside an unclosed code span.
 * @param {string} body
 */
export function unclosedInline(text) {
  if (((text.match(/`/g) ?? []).length & 1) === 1) return -1;
  // closed code spans hold no math: blank them out (same length, so indices stay)
  const body = text.replace(/`+[^`]*`+/g, (m) => " ".repeat(m.length));
  const opens = [...body.matchAll(/(?<!\\)\\[([]/g)];
  const closes = (body.match(/(?<!\\)\\[)\]]/g) ?? []).length;
  let best = opens.length > closes ? /** @type {number} */ (opens[opens.length - 1].index) : -1;
  const dollars = [...body.matchAll(/(?<![\\$])\$(?!\$)/g)].map((m) => /** @type {number} */ (m.index));
  if (dollars.length & 1) {
    const i = dollars[dollars.length - 1];
    if (i + 1 < body.length && !/\s/.test(body[i + 1])) best = Math.max(best, i);
  }
  return best;
}
