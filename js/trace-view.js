// The trace tree's view: a toolbar (expand / collapse all, the filter box: tree-toolbar.js), a
// virtualised role=tree of fixed-height rows (their DOM: tree-window.js), and the detail panel of the
// selected span. This file decides what is shown: the frame work, expansion, selection, filtering. A producer's internal
// spans (attrs.internal: LazyLLM's plumbing) are folded away; "Show internal" brings them back.
//
// - Data lives in TraceModel (trace-model.js); this file only draws it. addEntries() is data
//   work; flush() (once per animation frame) does the DOM work.
// - Virtualised: only the rows in the scroll viewport (plus a few) exist in the DOM, so a
//   100,000-span trace costs the same per frame as a small one. Each treeitem carries aria-level,
//   aria-setsize and aria-posinset, so assistive technology knows where it is.
// - Keyboard (WAI-ARIA tree pattern): roving focus; Up/Down move, Right opens or goes to the first
//   child, Left closes or goes to the parent, Home/End, PageUp/PageDown, Enter/Space open or close,
//   "*" opens all siblings. Selection follows focus: the selected span shows its details and the
//   part of the answer it wrote.
// Untrusted text (names, inputs, outputs, errors) only ever goes through textContent.

import { DetailPanel } from "./detail-panel.js";
import { EntryInbox } from "./entry-inbox.js";
import { FilterBox } from "./filter-box.js";
import { TraceFilter } from "./trace-filter.js";
import { TraceModel } from "./trace-model.js";
import { flattenRows, isExpanded, isParent, shownChildren, windowOf } from "./trace-rows.js";
import { treeKey } from "./tree-keyboard.js";
import { TreeToolbar } from "./tree-toolbar.js";
import { TreeWindow } from "./tree-window.js";

export const DEFAULT_ROW_HEIGHT = 26;
export const DEFAULT_OVERSCAN = 12;
/** Filter work per frame (ms): a keystroke on a huge trace never blocks the page longer. */
export const FILTER_BUDGET_MS = 25;
/** Entries taken into the model per frame (ms): a saved 100,000-entry trace loads over a few frames. */
export const INGEST_BUDGET_MS = 8;
/**
 * While a backlog of entries loads, the tree is redrawn at most this often (ms): every redraw
 * re-lays out the rows (their bars move as the time range grows), which cost as much as the
 * ingestion itself when done every frame.
 */
export const BACKLOG_REDRAW_MS = 250;
/**
 * A live trace is redrawn at most once per this many times the last redraw's cost: on a big tree
 * (a redraw flattens every shown row) redraws take at most ~1/4 of the main thread, however fast
 * entries arrive; a small tree, cheap to draw, still redraws every frame.
 */
export const REDRAW_SPACING = 4;
/** ...once the tree holds this many spans (a smaller tree shows every change in the next frame). */
export const SPACED_REDRAW_MIN_SPANS = 2_000;

let viewCounter = 0;

export class TraceView {
  /**
   * @param {{
   *   doc?: Document, now?: () => number, onNeedsFlush?: () => void, rowHeight?: number,
   *   overscan?: number, viewportHeight?: number, orphanGraceMs?: number,
   *   onSelect?: (node: any|null) => void, onFailures?: (nodes: any[]) => void,
   *   clock?: () => number, label?: string,
   * }} [opts]
   *   label: the tree's accessible name (a run's view names its query)
   *   viewportHeight: rows area height when the page has no layout (tests)
   */
  constructor(opts = {}) {
    const doc = (this.doc = opts.doc ?? document);
    this.onNeedsFlush = opts.onNeedsFlush ?? (() => {});
    this.onSelect = opts.onSelect ?? (() => {});
    this.onFailures = opts.onFailures ?? (() => {});
    this.rowHeight = opts.rowHeight ?? DEFAULT_ROW_HEIGHT;
    this.overscan = opts.overscan ?? DEFAULT_OVERSCAN;
    this.fallbackHeight = opts.viewportHeight ?? 640;
    this.model = new TraceModel({ now: opts.now, orphanGraceMs: opts.orphanGraceMs });
    this.clock = opts.clock ?? (() => (typeof performance !== "undefined" ? performance.now() : Date.now()));
    /** entries not yet taken into the model (see flush) */
    this.inbox = new EntryInbox(this.clock);
    this.filter = new TraceFilter({ clock: opts.clock, fold: true });
    this.currency = "$";
    this.runStart = null;
    this.uid = `lsw-tree-${++viewCounter}`;

    this.el = doc.createElement("div");
    this.el.className = "lsw-tree";
    this.showInternal = false;
    this.box = new FilterBox(this, { budgetMs: FILTER_BUDGET_MS });
    this.filterInput = this.box.input;
    this.filterStatus = this.box.status;
    this.toolbar = new TreeToolbar(doc, this.box);
    this.expandBtn = this.toolbar.expandBtn;
    this.collapseBtn = this.toolbar.collapseBtn;
    this.internalBtn = this.toolbar.internalBtn;
    this.summaryEl = this.toolbar.summaryEl;

    this.split = doc.createElement("div");
    this.split.className = "lsw-tree-split";
    this.viewport = doc.createElement("div");
    this.viewport.className = "lsw-tree-viewport";
    this.window = new TreeWindow(doc, { rowHeight: this.rowHeight, idPrefix: this.uid, label: opts.label || "Trace" });
    this.listEl = this.window.listEl;
    this.emptyEl = this.window.emptyEl;
    /** node -> its row while rendered (tree-keyboard.js focuses rows through it) */
    this.rendered = this.window.rendered;
    this.viewport.append(this.listEl, this.emptyEl);
    this.panel = new DetailPanel(doc, this.clock);
    this.detail = this.panel.el;
    this.split.append(this.viewport, this.detail);
    this.el.append(this.toolbar.el, this.split);
    this._onClick = (ev) => this._click(ev);
    this._onDblClick = (ev) => this._dblclick(ev);
    this._onKey = (ev) => treeKey(this, ev);
    // Geometry is read where it is cheap (in the scroll event, and from a ResizeObserver), never in
    // the frame after DOM writes: that would force a layout of the whole page every frame.
    this.scrollTop = 0;
    this.height = 0;
    this._onScroll = () => {
      this.scrollTop = this.viewport.scrollTop;
      this._windowDirty = true;
      this.onNeedsFlush();
    };
    const RO = doc.defaultView?.ResizeObserver;
    this._resize = RO
      ? new RO((items) => {
          const h = items[items.length - 1]?.contentRect?.height ?? 0;
          if (h !== this.height) {
            this.height = h;
            this._windowDirty = true;
            this.onNeedsFlush();
          }
        })
      : null;
    this._resize?.observe(this.viewport);
    this.el.addEventListener("click", this._onClick);
    this.listEl.addEventListener("dblclick", this._onDblClick);
    this.listEl.addEventListener("keydown", this._onKey);
    this.viewport.addEventListener("scroll", this._onScroll, { passive: true });
    this.reset();
  }

  /** Forget everything (the store replaced the run's entries). */
  reset() {
    this.box?.reset();
    this.inbox.clear();
    this._drawnAt = -Infinity;
    this._drawMs = 0;
    this.model.reset();
    this.filter.restart();
    /** @type {import("./trace-rows.js").Expansion} */
    this.expansion = { mode: "level", toggled: new Map(), filterToggled: new Map(), fold: !this.showInternal };
    this.rows = [];
    this.selected = null;
    this.active = null;
    this.linked = new Set();
    this._rowsDirty = true;
    this._windowDirty = true;

    this._range = "";
    this.window.clear();
    this.panel.clear();
  }

  get spanCount() {
    return this.model.spanCount;
  }

  /**
   * Queue entries for the model; flush() takes them in within a time budget per frame.
   * @param {Array<import("./protocol.js").TraceEntry|string>} entries
   */
  addEntries(entries) {
    this.inbox.push(entries);
  }

  /** The run ended (applied once every queued entry is in: orphans then show at the top). */
  setFinal(final = true) {
    this.inbox.wantFinal = final;
  }

  /** Data work only (the tree is folded away): take queued entries in. @returns {boolean} whether some wait */
  ingestOnly() {
    return this._ingest();
  }

  /** Take queued entries into the model until the budget is spent. @returns {boolean} whether some wait */
  _ingest() {
    return this.inbox.drainInto(this.model, INGEST_BUDGET_MS);
  }

  /** @param {Record<string, [number, number]>|null} prices @param {string} [currency] */
  setPrices(prices, currency = "$") {
    this.model.setPrices(prices);
    this.currency = currency;
  }

  /** The run's start (unix seconds): the waterfall's zero, so a start-up delay shows. */
  setOrigin(ts) {
    if (ts !== this.runStart) {
      this.runStart = ts;
      this._rowsDirty = true;
    }
  }

  // ------------------------------------------------------------------ expansion

  isExpanded(node) {
    return isExpanded(node, this.expansion, this.filter.active ? this.filter : null);
  }

  get mode() {
    return this.expansion.mode;
  }

  expandAll() {
    this._setMode("all");
  }

  collapseAll() {
    this._setMode("none");
  }

  _setMode(mode) {
    this.expansion = { mode, toggled: new Map(), filterToggled: new Map(), fold: !this.showInternal };
    this._rowsDirty = true;
    this._flushNow();
    this.onNeedsFlush();
  }

  /**
   * Show the internal spans as rows, or fold them away (their children in their place). What was
   * opened by hand stays open; a selected internal span gives the selection to its shown parent.
   * @param {boolean} [show] toggle when omitted
   */
  setShowInternal(show = !this.showInternal) {
    if (show === this.showInternal) return;
    this.showInternal = show;
    this.expansion.fold = !show;
    this.filter.fold = !show;
    if (this.filter.active) this.filter.restart(); // folded spans are not matched
    this._rowsDirty = true;
    this._flushNow();
    if (this.selected && this.rows[this.selected.row?.index] !== this.selected) this.select(this.shownParent(this.selected));
    this.onNeedsFlush();
  }

  /** The nearest ancestor of `node` that is a row (null at the top). */
  shownParent(node) {
    for (const up of this.model.ancestors(node)) if (this.rows[up.row?.index] === up) return up;
    return null;
  }

  /** Can `node` be opened (children shown, after folding and the filter)? */
  isParent(node) {
    return isParent(node, this.filter.active ? this.filter : null, this.expansion.fold);
  }

  /** @param {any} node @param {boolean} [open] toggle when omitted */
  toggle(node, open) {
    if (!this.isParent(node)) return;
    const next = open ?? !this.isExpanded(node);
    (this.filter.active ? this.expansion.filterToggled : this.expansion.toggled).set(node, next);
    this._rowsDirty = true;
    this._flushNow();
    this.onNeedsFlush();
  }

  /** Open every sibling of `node` that has children ("*" on the keyboard). */
  openSiblings(node) {
    const up = this.shownParent(node);
    const siblings = up ? shownChildren(up, this.expansion.fold) : this.rows.filter((n) => n.row.level === 1);
    for (const sib of siblings) if (isParent(sib, null, this.expansion.fold)) this.expansion.toggled.set(sib, true);
    this._rowsDirty = true;
    this._flushNow();
  }

  // ------------------------------------------------------------------ selection

  /** @param {any|string|null} target a node or a span id */
  select(target, { focus = false, scroll = true } = {}) {
    const node = typeof target === "string" ? this.model.nodes.get(target) ?? null : target;
    if (node === this.selected && !focus) return;
    this.selected = node;
    if (node) this.active = node;
    if (node && scroll) this._reveal(node);
    this._windowDirty = true;
    this._flushNow();
    if (focus && node) this.window.focus(node);
    this.onSelect(node);
    this.onNeedsFlush();
  }

  /** Open the ancestors of `node` so it is a row. */
  _reveal(node) {
    let changed = false;
    for (const up of this.model.ancestors(node)) {
      if (!this.isExpanded(up)) {
        (this.filter.active ? this.expansion.filterToggled : this.expansion.toggled).set(up, true);
        changed = true;
      }
    }
    if (changed) this._rowsDirty = true;
    this._scrollToNode = node;
  }

  /** Mark the rows of `nodes` (the spans that wrote the part of the answer under the pointer). */
  highlight(nodes) {
    this.linked = new Set(nodes);
    this._windowDirty = true;
    this._forceRows = true;
    this.onNeedsFlush();
  }

  // ------------------------------------------------------------------ frame work

  /**
   * Bring the DOM up to date. @returns {boolean} whether work remains (call again next frame)
   */
  flush() {
    const ingesting = this._ingest();
    const waiting = this.model.promoteOrphans() || ingesting;
    // A backlog still loading: data work this frame, the DOM only now and then; a live trace: redraws
    // spaced by their cost. The model's changes accumulate meanwhile. The user's own actions (a
    // click, a key, a scroll) always draw at once.
    const userDriven = this._forceDraw || this._windowDirty || this._scrollToNode;
    const sinceDraw = this.clock() - this._drawnAt;
    const big = this.model.nodes.size >= SPACED_REDRAW_MIN_SPANS;
    const spacing = ingesting ? BACKLOG_REDRAW_MS : big ? Math.min(BACKLOG_REDRAW_MS, REDRAW_SPACING * this._drawMs) : 0;
    if (!userDriven && this.model.hasChanges && sinceDraw < spacing) return true;
    this._forceDraw = false;
    const drawStart = this.clock();
    const more = this._draw();
    this._drawnAt = this.clock();
    this._drawMs = this._drawnAt - drawStart;
    return more || waiting;
  }

  /** The DOM work of flush(). @returns {boolean} whether work remains */
  _draw() {
    const changes = this.model.takeChanges();
    if (changes.failures.length) this.onFailures(changes.failures);
    this._followReplaced();
    if (changes.structure) this._rowsDirty = true;
    let filterDone = true;
    if (this.filter.active) {
      const before = this.filter.visible;
      filterDone = this.filter.run(this.model, FILTER_BUDGET_MS);
      if (this.filter.visible !== before || !filterDone || changes.structure) this._rowsDirty = true;
      this.box.render();
    }
    if (this._rowsDirty) {
      this._rowsDirty = false;
      this._windowDirty = true;
      this._forceRows = true;
      this.rows = flattenRows(this.model.root, this.expansion, this.filter.active ? this.filter : null);
      this.window.setCount(this.rows.length);
      this._fixActive();
    }
    this._renderTime();
    if (this._scrollToNode) {
      this._scrollIntoView(this._scrollToNode);
      this._scrollToNode = null;
    }
    this._renderWindow(changes.changed);
    const detailDue = this._renderDetail(filterDone);
    this._renderSummary();
    const indexing = this.box.buildIndex();
    return !filterDone || detailDue || indexing;
  }

  /** flush() for the user's own action (a click, a key, a filter): drawn now, even while a backlog loads. */
  _flushNow() {
    this._forceDraw = true;
    return this.flush();
  }

  _followReplaced() {
    for (const key of ["selected", "active"]) {
      const n = this[key];
      if (n && n.isCall && !n.container) {
        const id = this.model.replaced.get(n.id);
        this[key] = (id && this.model.nodes.get(id)) || null;
        if (key === "selected" && this[key]) this.onSelect(this[key]);
      }
    }
  }

  _fixActive() {
    const a = this.active;
    if (!a) return;
    if (this.rows[a.row?.index] === a) return;
    // collapsed away or filtered out: the nearest shown ancestor takes the focus
    for (const up of this.model.ancestors(a)) if (this.rows[up.row?.index] === up) return void (this.active = up);
    this.active = this.rows[0] ?? null;
  }

  _renderTime() {
    const m = this.model;
    if (!Number.isFinite(m.maxTs)) return;
    const origin = m.origin(this.runStart);
    const key = `${origin}|${m.maxTs}`;
    if (key === this._range) return;
    this._range = key;
    this.origin = origin;
    this.el.style.setProperty("--lsw-now", String(m.maxTs - origin));
    this.el.style.setProperty("--lsw-range", String(Math.max(m.maxTs - origin, 1e-3)));
    this._forceRows = true; // bar starts are relative to the origin
  }

  viewportHeight() {
    return this.height || this.fallbackHeight;
  }

  /** @param {boolean} changed some node's data changed (a rendered row redraws if its node's `v` moved) */
  _renderWindow(changed) {
    if (!this._windowDirty && !changed && !this._forceRows) return;
    const force = this._forceRows;
    this._windowDirty = false;
    this._forceRows = false;
    const rows = this.rows;
    const [first, last] = windowOf(rows.length, this.scrollTop, this.viewportHeight(), this.rowHeight, this.overscan);
    if (!this.active || this.rows[this.active.row?.index] !== this.active) this.active = rows[first] ?? rows[0] ?? null;
    const want = new Set();
    for (let i = first; i < last; i++) want.add(rows[i]);
    if (this.active) want.add(this.active); // the focusable row always exists (Tab can reach the tree)
    const filtering = this.filter.active;
    const stateOf = (node) => {
      const parent = this.isParent(node);
      return {
        expanded: parent && this.isExpanded(node), parent, selected: node === this.selected, active: node === this.active,
        origin: this.origin ?? 0, currency: this.currency,
        match: filtering && this.filter.matched.has(node), context: filtering && !this.filter.matched.has(node),
      };
    };
    this.window.draw(want, stateOf, force, this._linkedRows());
    const empty = rows.length > 0 || !filtering;
    this.window.showEmpty(empty ? null : this.filter.done ? "No spans match the filter." : "Searching…");
  }

  /** The rows to mark for the linked spans: each span, or its nearest shown ancestor. */
  _linkedRows() {
    const out = new Set();
    for (const n of this.linked) {
      let x = n;
      while (x && !x.isRoot && this.rows[x.row?.index] !== x) x = x.container;
      if (x && !x.isRoot) out.add(x);
    }
    return out;
  }

  _scrollIntoView(node) {
    const i = node.row?.index;
    if (typeof i !== "number" || this.rows[i] !== node) return;
    const h = this.viewportHeight();
    const top = i * this.rowHeight;
    let next = this.scrollTop;
    if (top < next) next = top;
    else if (top + this.rowHeight > next + h) next = top + this.rowHeight - h;
    if (next !== this.scrollTop) {
      this.scrollTop = next;
      this.viewport.scrollTop = next; // a write: no layout is forced
    }
    this._windowDirty = true;
  }

  _renderDetail(filterDone = true) {
    let node = this.selected && (this.selected.container || this.selected.isRoot) ? this.selected : null;
    // a filter that hides the selected span hides its details too (they come back with the row)
    if (node && this.filter.active && filterDone && this.rows[node.row?.index] !== node) node = null;
    return this.panel.show(node, { origin: this.origin ?? 0, currency: this.currency });
  }

  _renderSummary() {
    this.toolbar.render(this.model.spanCount, this.model.internalCount, this.showInternal);
  }

  // ------------------------------------------------------------------ filter

  /** The filter's query changed (the box): new rows, the selection kept in view. */
  filterChanged() {
    this.expansion.filterToggled = new Map();
    this._rowsDirty = true;
    if (this.selected) this._scrollToNode = this.selected;
    this._flushNow();
    this.onNeedsFlush();
  }

  // ------------------------------------------------------------------ mouse and keyboard

  _nodeOf(target) {
    return this.window.nodeOf(target);
  }

  _click(ev) {
    const target = /** @type {Element} */ (ev.target);
    if (!target?.closest) return;
    if (target.closest(".lsw-expand-all")) return this.expandAll();
    if (target.closest(".lsw-collapse-all")) return this.collapseAll();
    if (target.closest(".lsw-show-internal")) return this.setShowInternal();
    const node = this._nodeOf(target);
    if (!node) return;
    if (target.closest(".lsw-toggle")) {
      this.active = node;
      this.toggle(node);
      this.window.focus(node);
      return;
    }
    this.select(node, { focus: true, scroll: false });
  }

  _dblclick(ev) {
    const node = this._nodeOf(ev.target);
    if (node) this.toggle(node);
  }

  destroy() {
    this._resize?.disconnect();
    this.panel.destroy();
    this.el.removeEventListener("click", this._onClick);
    this.listEl.removeEventListener("dblclick", this._onDblClick);
    this.listEl.removeEventListener("keydown", this._onKey);
    this.viewport.removeEventListener("scroll", this._onScroll);
    this.box.destroy();
  }
}
