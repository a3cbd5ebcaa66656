// Bring a live DOM subtree in line with a freshly rendered one, keeping the nodes that did not
// change. The answer's live tail (the markdown block still being written) is re-rendered on every
// frame of a stream; replacing it wholesale made the browser create, style and lay out every element
// of it again each time (at 200 tokens/s, about a frame per message). Morphing keeps the elements
// that are the same (same tag, attributes brought in line) and only rewrites the text that grew, so
// the browser restyles nothing and relays out only the text that changed.
//
// The rendered side is always fresh sanitized output (sanitize.js): nodes taken from it are moved
// as they are, never re-parsed.

/**
 * Make `target`'s children equal to `source`'s children. Nodes of `source` that are not matched
 * are moved into `target` (`source` is consumed).
 * @param {Node} target
 * @param {Node} source
 * @param {Map<Node, Node>} [kept] filled with (source top-level node -> the node now in `target`
 *   standing for it): the caller's references to the rendered top-level elements stay valid
 */
export function morphChildren(target, source, kept) {
  let cur = target.firstChild;
  let next = source.firstChild;
  while (next) {
    const after = next.nextSibling;
    if (cur && sameKind(cur, next)) {
      morphNode(cur, next);
      kept?.set(next, cur);
      cur = cur.nextSibling;
    } else {
      target.insertBefore(next, cur);
      kept?.set(next, next);
    }
    next = after;
  }
  while (cur) {
    const after = cur.nextSibling;
    target.removeChild(cur);
    cur = after;
  }
}

/** @param {Node} a @param {Node} b */
function sameKind(a, b) {
  return a.nodeType === b.nodeType && a.nodeName === b.nodeName;
}

/** @param {Node} cur @param {Node} next (same kind) */
function morphNode(cur, next) {
  if (cur.nodeType !== 1) {
    if (cur.nodeValue !== next.nodeValue) cur.nodeValue = next.nodeValue;
    return;
  }
  syncAttributes(/** @type {Element} */ (cur), /** @type {Element} */ (next));
  morphChildren(cur, next);
}

/** @param {Element} cur @param {Element} next */
function syncAttributes(cur, next) {
  const want = next.attributes;
  const have = cur.attributes;
  for (let i = have.length - 1; i >= 0; i--) {
    const name = have[i].name;
    if (!next.hasAttribute(name)) cur.removeAttribute(name);
  }
  for (let i = 0; i < want.length; i++) {
    const { name, value } = want[i];
    if (cur.getAttribute(name) !== value) cur.setAttribute(name, value);
  }
}
