// Which spans are rows right now: the tree flattened in display order, given what is expanded
// and what the filter keeps. Pure (no DOM). The view renders only the rows in its viewport.
//
// Expansion: a node the user toggled keeps that state; others follow the tree's mode: "level"
// (top-level spans with children open), "all" or "none". While a filter is active, the nodes it
// keeps are shown with their ancestors open (a separate state, so clearing the filter restores
// the tree as it was).

/**
 * What is open: the tree's mode, the nodes toggled by hand (a Map: clearing it is O(1), so "expand
 * all" or a new filter query never walks 100,000 nodes), and while filtering, its own toggles.
 * @typedef {"level"|"all"|"none"} ExpandMode
 * @typedef {{mode: ExpandMode, toggled: Map<any, boolean>, filterToggled: Map<any, boolean>}} Expansion
 */

/**
 * @param {any} node
 * @param {Expansion} ex
 * @param {{active: boolean, visible: Set<any>}|null} [filter]
 * @returns {boolean}
 */
export function isExpanded(node, ex, filter = null) {
  if (node.isText || node.children.length === 0) return false;
  if (filter && filter.active) {
    const own = ex.filterToggled.get(node);
    if (own !== undefined) return own;
    return node.children.some((c) => filter.visible.has(c));
  }
  const own = ex.toggled.get(node);
  if (own !== undefined) return own;
  if (ex.mode === "all") return true;
  if (ex.mode === "none") return false;
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
 * @param {Expansion|ExpandMode} ex (a mode alone: nothing toggled by hand)
 * @param {{active: boolean, visible: Set<any>}|null} [filter]
 * @returns {any[]} the row nodes, in order
 */
export function flattenRows(root, ex, filter = null) {
  if (typeof ex === "string") ex = { mode: ex, toggled: new Map(), filterToggled: new Map() };
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
    const r = node.row ?? (node.row = { index: 0, level: 0, pos: 0, size: 0 }); // reused: no garbage per keystroke
    r.index = rows.length;
    r.level = top.level;
    r.pos = top.i;
    r.size = top.list.length;
    rows.push(node);
    if (isExpanded(node, ex, filter)) {
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
