// Markdown to sanitized DOM, the one pipeline of the widget: markdown-it (no raw HTML, bare URLs
// as links, images as links never loaded), math slots typeset by KaTeX (math.js), DOMPurify with
// the widget's strict policy (sanitize.js), code blocks boxed with a copy button and highlighted.

import MarkdownIt from "markdown-it";
import { highlightCode } from "./code-highlight.js";
import { hydrateMath, installMath } from "./math.js";
import { isPlainMarkup, plainMarkupToFragment } from "./plain-markup.js";
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
  installMath(md);
  return md;
}

/** The widget's markdown-it instance. */
export const md = createMarkdownIt();

/**
 * Render tokens to a sanitized fragment: code blocks decorated, formulas typeset.
 * @param {any[]} tokens
 * @param {Record<string, any>} env the parse's env (reference definitions; math slots fill env.lswMath)
 * @param {boolean} highlight
 * @returns {DocumentFragment}
 */
export function renderTokens(tokens, env, highlight) {
  const html = md.renderer.render(tokens, md.options, env);
  const frag = sanitizeToFragment(html);
  decorateCodeBlocks(frag, highlight);
  hydrateMath(frag, env);
  return frag;
}

/** Separates blocks rendered in one pass (markdown-it has html off, so text can never make one). */
const SEPARATOR = '<hr class="lsw-sep">';

/**
 * Render several top-level blocks in one pass (one sanitizer call: it dominates the cost of small
 * blocks) and return the elements of each block.
 * @param {any[]} tokens
 * @param {{start: number, end: number}[]} blocks
 * @param {Record<string, any>} env
 * @param {boolean} highlight
 * @returns {{frag: DocumentFragment, elements: Element[][]}}
 */
export function renderBlockList(tokens, blocks, env, highlight) {
  const parts = blocks.map((b) => md.renderer.render(tokens.slice(b.start, b.end), md.options, env));
  // markup that the sanitizer would return unchanged skips it (plain-markup.js: a third of a frame)
  const plain = blocks.every((b) => isPlainMarkup(tokens, b.start, b.end));
  const frag = plain ? plainMarkupToFragment(parts.join(SEPARATOR)) : sanitizeToFragment(parts.join(SEPARATOR));
  decorateCodeBlocks(frag, highlight);
  hydrateMath(frag, env);
  const elements = [[]];
  for (const el of Array.from(frag.children)) {
    if (el.tagName === "HR" && el.classList.contains("lsw-sep")) {
      el.remove();
      elements.push([]);
    } else elements[elements.length - 1].push(el);
  }
  return { frag, elements };
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

