// markdown-it output that is safe by construction, parsed without the sanitizer.
//
// The live tail is re-rendered on every frame while an answer streams, and DOMPurify (a DOMParser
// parse, a walk of every node, an import into the page's document) was a third of that work. When
// every token of the blocks is one of the kinds below, markdown-it's HTML holds only these fixed
// tags, with no attribute but an ordered list's numeric `start` and a fence's `language-` class of
// the sanitizer's own pattern; all text is escaped by markdown-it (html: false: no raw HTML token
// exists). No link, image, formula or anything else is in it, so the sanitizer would return it
// unchanged: it is parsed by an inert <template> instead. Any other token (a link, an image, a
// formula, a table, a token type added later) takes the sanitizer (sanitize.js), as before.

const BLOCK = new Set([
  "paragraph_open", "paragraph_close", "heading_open", "heading_close", "bullet_list_open", "bullet_list_close",
  "ordered_list_open", "ordered_list_close", "list_item_open", "list_item_close", "blockquote_open",
  "blockquote_close", "hr", "code_block", "fence", "inline",
]);
const INLINE = new Set([
  "text", "softbreak", "hardbreak", "code_inline", "em_open", "em_close", "strong_open", "strong_close", "s_open",
  "s_close",
]);
const HEADING = /^h[1-6]$/;
const TAGS = new Set(["p", "ul", "ol", "li", "blockquote", "hr", "code", "em", "strong", "s", "br", ""]);
/** the sanitizer's pattern for a language class (sanitize.js SAFE_CLASS) */
const LANGUAGE = /^[\w+#.-]{1,40}$/;

/**
 * Whether tokens[start, end) render to markup the sanitizer would leave as it is (see above).
 * @param {any[]} tokens markdown-it block tokens
 * @param {number} start
 * @param {number} end
 */
export function isPlainMarkup(tokens, start = 0, end = tokens.length) {
  for (let i = start; i < end; i++) {
    const t = tokens[i];
    if (!BLOCK.has(t.type) || !plainTag(t.tag)) return false;
    if (t.attrs !== null && t.attrs.length) {
      // an ordered list's first number: markdown-it writes it as an integer
      if (!(t.type === "ordered_list_open" && t.attrs.length === 1 && t.attrs[0][0] === "start"
        && Number.isInteger(t.attrs[0][1]))) return false;
    }
    if (t.type === "fence") {
      const lang = (t.info || "").trim().split(/\s+/g)[0];
      if (lang && !LANGUAGE.test(unescapeAll(lang))) return false;
    }
    if (t.type === "inline" && t.children) {
      for (const c of t.children) {
        if (!INLINE.has(c.type) || !plainTag(c.tag) || (c.attrs !== null && c.attrs.length)) return false;
      }
    }
  }
  return true;
}

function plainTag(tag) {
  return TAGS.has(tag) || HEADING.test(tag) || tag === "pre";
}

// markdown-it unescapes backslash escapes and entities in a fence's info before it writes the class;
// any of those in the language name: the sanitizer decides, not us
function unescapeAll(s) {
  return /[\\&]/.test(s) ? "\u0000" : s;
}

/**
 * Parse markup that isPlainMarkup() vouched for into a fragment of `doc` (inert: nothing in a
 * template runs or loads).
 * @param {string} html
 * @param {Document} [doc]
 * @returns {DocumentFragment}
 */
export function plainMarkupToFragment(html, doc = document) {
  const tpl = doc.createElement("template");
  tpl.innerHTML = html;
  return tpl.content; // adopted by the page when appended, as the sanitizer's fragment is
}
