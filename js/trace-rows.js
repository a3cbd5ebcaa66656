// Which spans are rows right now: the tree flattened in display order, given what is expanded
// and what the filter keeps. Pure (no DOM). The view renders only the rows in its viewport.
//
// Expansion: a node the user toggled keeps that state; others follow the tree's mode: "level"
// (top-level spans with children open), "all" or "none". While a filter is active, the nodes it
// keeps are shown with their ancestors open (a separate state, so clearing the filter restores
// the tree as it was).

/** @typedef {"level"|"all"|"none"} ExpandMode */

/**
 * @param {any} node
 * @param {ExpandMode} mode
 * @param {{active: boolean, visible: Set<any>}|null} [filter]
 * @returns {boolean}
 */
export function isExpanded(node, mode, filter = null) {
  if (node.isText || node.children.length === 0) return false;
  if (filter && filter.active) {
    if (node.ui.filterExpanded !== undefined) return node.ui.filterExpanded;
    return node.children.some((c) => filter.visible.has(c));
  }
  const own = node.ui.expanded;
  if (own === true || own === false) return own;
  if (mode === "all") return true;
  if (mode === "none") return false;
  return node.depth < 1;
}

/** Can the node be expanded (has children that would show)? */
export function isParent(node, filter = null) {
  if (node.isText || node.children.length === 0) return false;
  if (filter && filter.active) return node.children.some((c) => filter.visible.has(c));
  return true;
}

/**
 * Flatten the tree into rows. Each row node gets `row` = {index, level (1-based), pos, size}
 * (its place among the shown siblings, for aria-posinset / aria-setsize).
 * @param {any} root the model's root sentinel
 * @param {ExpandMode} mode
 * @param {{active: boolean, visible: Set<any>}|null} [filter]
 * @returns {any[]} the row nodes, in order
 */
export function flattenRows(root, mode, filter = null) {
  const rows = [];
  const filtering = !!(filter && filter.active);
  const keep = (n) => !filtering || filter.visible.has(n);
  // explicit stack of [children, next index]; children lists are filtered lazily
  const shown = (parent) => (filtering ? parent.children.filter(keep) : parent.children);
  const stack = [{ list: shown(root), i: 0, level: 1 }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.i >= top.list.length) {
      stack.pop();
      continue;
    }
    const node = top.list[top.i++];
    node.row = { index: rows.length, level: top.level, pos: top.i, size: top.list.length };
    rows.push(node);
    if (isExpanded(node, mode, filter)) {
      const kids = shown(node);
      if (kids.length) stack.push({ list: kids, i: 0, level: top.level + 1 });
    }
  }
  return rows;
}

/**
 * The rows a viewport shows, with some extra above and below.
 * @param {number} count rows in all
 * @param {number} scrollTop px
 * @param {number} height viewport height, px
 * @param {number} rowHeight px
 * @param {number} overscan rows
 * @returns {[number, number]} [first, last) row indices
 */
export function windowOf(count, scrollTop, height, rowHeight, overscan) {
  if (count === 0) return [0, 0];
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(count, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  return [first, Math.max(first, last)];
}
