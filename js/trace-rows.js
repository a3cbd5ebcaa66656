// Which spans are rows right now: the tree flattened in display order, given what is expanded
// and what the filter keeps. Pure (no DOM). The view renders only the rows in its viewport.
//
// Expansion: a node the user toggled keeps that state; others follow the tree's mode: "level"
// (top-level spans with children open), "all" or "none". While a filter is active, the nodes it
// keeps are shown with their ancestors open (a separate state, so clearing the filter restores
// the tree as it was).
//
// Internal spans (a producer's plumbing, `attrs.internal`: LazyLLM's Loop, Pipeline, ToolManager...)
// are folded while `ex.fold` is set: not rows themselves, their children show in their place, under
// the nearest shown ancestor (an agent reads agent > llm, tool, tool, llm). The model keeps them, so
// roll-ups, counts and the answer's links are the same either way.

/**
 * What is open: the tree's mode, the nodes toggled by hand (a Map: clearing it is O(1), so "expand
 * all" or a new filter query never walks 100,000 nodes), and while filtering, its own toggles.
 * @typedef {"level"|"all"|"none"} ExpandMode
 * @typedef {{mode: ExpandMode, toggled: Map<any, boolean>, filterToggled: Map<any, boolean>, fold?: boolean}} Expansion
 *   fold: internal spans folded away
 */

/**
 * A producer's plumbing span (`attrs.internal`, e.g. LazyLLM's Loop, Pipeline, ToolManager inside an
 * agent) that the tree folds away: its children show in its place. One that failed always shows
 * (as `run.trace_tree()` does in Python).
 */
export function isFolded(node) {
  return isInternal(node) && node.status !== "error";
}

/** Is the span marked internal by its producer? */
export function isInternal(node) {
  return !node.isText && !!node.attrs && typeof node.attrs === "object" && node.attrs.internal === true;
}

/**
 * The nodes shown under `node`, in order: folded children replaced by what they show, kept by the
 * filter. Without folding or a filter, its own children list (no copy).
 * @param {any} node
 * @param {boolean} [fold]
 * @param {{active: boolean, visible: Set<any>}|null} [filter]
 * @param {boolean} [firstOnly] stop at the first one (is there any?)
 * @returns {any[]}
 */
export function shownChildren(node, fold = false, filter = null, firstOnly = false) {
  const filtering = !!(filter && filter.active);
  const folds = fold && node.children.some(isFolded);
  if (!folds) {
    if (!filtering) return node.children; // nothing folded: no copy
    if (!firstOnly) return node.children.filter((c) => filter.visible.has(c));
  }
  const out = [];
  // explicit stack (a long chain of plumbing never overflows the call stack)
  const stack = [{ list: node.children, i: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.i >= top.list.length) {
      stack.pop();
      continue;
    }
    const c = top.list[top.i++];
    if (filtering && !filter.visible.has(c)) continue;
    if (fold && isFolded(c)) stack.push({ list: c.children, i: 0 });
    else {
      out.push(c);
      if (firstOnly) break;
    }
  }
  return out;
}

/** Does `node` show any child (after folding and the filter)? */
function hasShown(node, fold, filter) {
  if (node.isText || node.children.length === 0) return false;
  const filtering = !!(filter && filter.active);
  if (!filtering && (!fold || !isFolded(node.children[0]))) return true;
  return shownChildren(node, fold, filter, true).length > 0;
}

/**
 * @param {any} node
 * @param {Expansion} ex
 * @param {{active: boolean, visible: Set<any>}|null} [filter]
 * @returns {boolean}
 */
export function isExpanded(node, ex, filter = null) {
  if (!hasShown(node, !!ex.fold, null)) return false;
  if (filter && filter.active) {
    const own = ex.filterToggled.get(node);
    if (own !== undefined) return own;
    return hasShown(node, !!ex.fold, filter);
  }
  const own = ex.toggled.get(node);
  if (own !== undefined) return own;
  if (ex.mode === "all") return true;
  if (ex.mode === "none") return false;
  return node.depth < 1;
}

/** Can the node be expanded (has children that would show)? */
export function isParent(node, filter = null, fold = false) {
  return hasShown(node, fold, filter);
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
  // explicit stack of [children, next index]; children lists are filtered / unfolded lazily
  const shown = (parent) => shownChildren(parent, !!ex.fold, filter);
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
