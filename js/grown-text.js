// The live tail of a stream mostly grows at its end: words added to the last paragraph. The renderer
// re-parses the tail on every draw (markdown-it is not incremental within a block) and, when the new
// tokens are the drawn ones with only the very last text grown, appends the new characters to the
// text node on screen instead of rendering, sanitizing and morphing the whole tail (markdown.js).
// Also here: the two DOM look-ups that find where the drawn tail's text ends.

/**
 * When `next` (a parse of the live tail) is `prev` (the parse drawn) with nothing changed but its
 * very last text, which grew at its end: that text as drawn and what was added; else null. Only
 * closing tags may follow that text, and every other token must be the same (an inline by its
 * source: same source, same children).
 * @param {any[]} prev @param {any[]} next markdown-it block tokens
 * @returns {{before: string, added: string}|null}
 */
export function grownText(prev, next) {
  if (prev.length !== next.length) return null;
  let last = next.length - 1;
  while (last >= 0 && next[last].type !== "inline") {
    if (next[last].nesting !== -1) return null; // text or a tag of its own after the last inline
    last--;
  }
  if (last < 0) return null;
  for (let i = 0; i < next.length; i++) {
    if (!sameToken(prev[i], next[i], i !== last)) return null;
  }
  const a = prev[last].children;
  const b = next[last].children;
  if (!a || !b || a.length !== b.length || b.length === 0) return null;
  for (let j = 0; j < b.length - 1; j++) if (!sameToken(a[j], b[j], true)) return null;
  const x = a[a.length - 1];
  const y = b[b.length - 1];
  // (an empty text, as markdown-it leaves after a closing `**`, has no node on screen to grow)
  if (x.type !== "text" || y.type !== "text" || x.content === "" || !y.content.startsWith(x.content)) return null;
  return { before: x.content, added: y.content.slice(x.content.length) };
}

/** @param {any} a @param {any} b @param {boolean} withContent */
function sameToken(a, b, withContent) {
  return a.type === b.type && a.tag === b.tag && a.nesting === b.nesting && a.hidden === b.hidden
    && a.markup === b.markup && a.info === b.info && (a.map?.[0] ?? -1) === (b.map?.[0] ?? -1)
    && (!withContent || a.content === b.content) && sameAttrs(a.attrs, b.attrs);
}

function sameAttrs(a, b) {
  if (!a || !b) return (a?.length ?? 0) === (b?.length ?? 0);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1]) return false;
  return true;
}

/** The text node that ends `el`'s text (markdown-it's newlines between tags skipped), or null. */
export function lastTextNode(el) {
  let node = el?.lastChild ?? null;
  for (;;) {
    while (node && node.nodeType === 3 && !/\S/.test(node.data)) node = node.previousSibling;
    if (!node || node.nodeType !== 1) break;
    node = node.lastChild;
  }
  return node && node.nodeType === 3 ? /** @type {Text} */ (node) : null;
}

/** The deepest last paragraph-like element of a fragment (an inline pending formula goes there). */
export function lastTextBlock(frag) {
  let el = frag.lastElementChild;
  while (el && !/^(P|H[1-6]|TD|TH)$/.test(el.tagName) && el.lastElementChild) el = el.lastElementChild;
  return el && /^(P|H[1-6]|TD|TH|LI)$/.test(el.tagName) ? el : null;
}
