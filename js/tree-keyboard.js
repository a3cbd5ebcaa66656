// The trace tree's keys (the WAI-ARIA tree pattern): roving focus, selection follows focus.
//   Up / Down: previous / next row; Home / End; Page Up / Page Down
//   Right: open a closed span, or go to the first child of an open one
//   Left: close an open span, or go to the parent
//   Enter / Space: open or close a span (select a leaf); "*": open every sibling

/**
 * Handle a keydown on the tree.
 * @param {import("./trace-view.js").TraceView} view
 * @param {KeyboardEvent} ev
 */
export function treeKey(view, ev) {
  const node = view.active;
  if (!node || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const rows = view.rows;
  const i = node.row?.index ?? 0;
  const page = Math.max(1, Math.floor(view.viewportHeight() / view.rowHeight) - 1);
  const go = (target) => {
    if (target && target !== node) view.select(target, { focus: true });
  };
  const open = view.isExpanded(node);
  const parent = view.isParent(node);
  switch (ev.key) {
    case "ArrowDown":
      go(rows[Math.min(rows.length - 1, i + 1)]);
      break;
    case "ArrowUp":
      go(rows[Math.max(0, i - 1)]);
      break;
    case "Home":
      go(rows[0]);
      break;
    case "End":
      go(rows[rows.length - 1]);
      break;
    case "PageDown":
      go(rows[Math.min(rows.length - 1, i + page)]);
      break;
    case "PageUp":
      go(rows[Math.max(0, i - page)]);
      break;
    case "ArrowRight":
      if (parent && !open) view.toggle(node, true);
      else if (parent && open) go(rows[i + 1]);
      break;
    case "ArrowLeft":
      if (parent && open) view.toggle(node, false);
      else go(view.shownParent(node)); // the nearest row above it (folded internal spans are not rows)
      break;
    case "Enter":
    case " ":
      if (parent) view.toggle(node);
      else if (view.selected !== node) view.select(node, { focus: true });
      break;
    case "*":
      view.openSiblings(node);
      break;
    default:
      return;
  }
  ev.preventDefault();
  view.rendered.get(view.active)?.li.focus({ preventScroll: true });
}
