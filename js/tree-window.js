// The DOM of the trace tree's rows: a virtualised role=tree list in which only the rows in the
// scroll viewport (plus a few, plus the focusable one) exist, each a pooled span-row.js element
// placed by transform at its index. Which rows exist and what they show is decided by the tree view
// (trace-view.js); this draws them and redraws a row only when its node or its state changed.

import { createRow, renderRow } from "./span-row.js";

/** Rows kept for reuse when they leave the window. */
const POOL_MAX = 200;

/**
 * @typedef {{expanded: boolean, parent: boolean, selected: boolean, active: boolean, origin: number,
 *   currency: string, match: boolean, context: boolean}} RowState
 */

export class TreeWindow {
  /**
   * @param {Document} doc
   * @param {{rowHeight: number, idPrefix: string, label: string}} opts
   */
  constructor(doc, opts) {
    this.doc = doc;
    this.rowHeight = opts.rowHeight;
    this.idPrefix = opts.idPrefix;
    this.listEl = doc.createElement("div");
    this.listEl.className = "lsw-tree-list";
    this.listEl.id = `${opts.idPrefix}-list`;
    this.listEl.setAttribute("role", "tree");
    this.listEl.setAttribute("aria-label", opts.label);
    this.emptyEl = doc.createElement("div");
    this.emptyEl.className = "lsw-tree-empty";
    this.emptyEl.hidden = true;
    /** @type {Map<any, import("./span-row.js").RowDom>} node -> its row while rendered */
    this.rendered = new Map();
    /** @type {import("./span-row.js").RowDom[]} */
    this.pool = [];
  }

  /** The list's height for `count` rows (the scrollbar covers all of them). */
  setCount(count) {
    this.listEl.style.height = `${count * this.rowHeight}px`;
  }

  /**
   * Draw the nodes `want` (row nodes: each has `row.index`); the others leave the DOM.
   * @param {Set<any>} want
   * @param {(node: any) => RowState} stateOf
   * @param {boolean} force redraw every row (the time range moved, the rows were re-flattened)
   * @param {Set<any>} linked rows to mark as linked to the answer
   */
  draw(want, stateOf, force, linked) {
    for (const [node, row] of this.rendered) {
      if (!want.has(node)) {
        this.release(row);
        this.rendered.delete(node);
      }
    }
    const ordered = [...want].sort((a, b) => a.row.index - b.row.index);
    let cursor = this.listEl.firstChild;
    for (const node of ordered) {
      let row = this.rendered.get(node);
      const s = stateOf(node);
      const key = `${node.row.index}|${node.row.level}|${node.row.pos}|${node.row.size}|${s.expanded}|${s.parent}|${s.selected}|${s.active}|${s.match}|${s.context}`;
      if (!row) {
        row = this.pool.pop() ?? createRow(this.doc);
        this.rendered.set(node, row);
        row.v = -1;
      }
      if (force || row.v !== node.v || row.key !== key || row.node !== node) {
        renderRow(row, node, s);
        row.key = key;
        row.li.id = `${this.idPrefix}-r${node.row.index}`;
        row.li.style.transform = `translateY(${node.row.index * this.rowHeight}px)`;
      }
      row.li.classList.toggle("lsw-linked", linked.has(node));
      if (cursor === row.li) cursor = cursor.nextSibling;
      else this.listEl.insertBefore(row.li, cursor);
    }
  }

  /** "No spans match" / "Searching…" under an active filter with no rows; hidden otherwise. */
  showEmpty(text) {
    this.emptyEl.hidden = text === null;
    if (text !== null) this.emptyEl.textContent = text;
  }

  /** @param {import("./span-row.js").RowDom} row */
  release(row) {
    row.li.remove();
    row.node = null;
    row.li.classList.remove("lsw-linked");
    if (this.pool.length < POOL_MAX) this.pool.push(row);
  }

  /** Every row leaves (the run's entries were replaced). */
  clear() {
    for (const row of this.rendered.values()) this.release(row);
    this.rendered.clear();
    this.listEl.replaceChildren();
  }

  /** The node of the row an event happened in, or null. */
  nodeOf(target) {
    const li = target?.closest?.(".lsw-node");
    if (!li || !this.listEl.contains(li)) return null;
    for (const [node, row] of this.rendered) if (row.li === li) return node;
    return null;
  }

  /** Move the keyboard focus to a node's row (if it is drawn). */
  focus(node) {
    this.rendered.get(node)?.li.focus({ preventScroll: true });
  }
}
