// The trace tree of one run, built from TraceEntry objects (start / end /
// event) and foreign text lines.
//
// Scale (100,000 entries) drives the design:
// - addEntries() only updates data (O(1) per entry, plus a binary-search
//   insert among siblings) and marks what changed; flush() does the DOM work,
//   at most `budget` new nodes per call (the view calls it once per animation
//   frame and again while it reports more work).
// - DOM exists only for visible nodes: children of collapsed nodes are not
//   built, a node shows at most `pageSize` children then a "Show more" button,
//   a node's body (input/output/attrs...) is built only when it is expanded.
// - Waterfall bars use CSS variables: a node stores its own start/end relative
//   to the run's first timestamp; the run's current end (`--lsw-now`) and
//   range live on the tree root, so a new timestamp is one style write, not one
//   per node. Open spans extend to `--lsw-now`.
// Untrusted text (names, inputs, outputs, errors) only ever goes through
// textContent.

import { errorText, formatDuration } from "./format.js";
import { isRunMarker, isTraceEntry } from "./protocol.js";

/** @typedef {import("./protocol.js").TraceEntry} TraceEntry */

/**
 * @typedef {object} Item   a span node or a text leaf (or the root sentinel)
 * @property {string} [id]
 * @property {boolean} [isText]
 * @property {boolean} [isRoot]
 * @property {string} [text]
 * @property {number} k1   sort key: start time
 * @property {number} k2   sort key: arrival order
 * @property {Item|null} container  the node whose children list holds it (null: not placed)
 * @property {number} depth
 * @property {any} dom     DOM handles while rendered, else null
 */

export const DEFAULT_PAGE_SIZE = 200;
export const DEFAULT_MAX_CHARS = 2000;
export const DEFAULT_BUDGET = 500;
/** An entry whose parent has not arrived waits this long before showing at the top level. */
export const ORPHAN_GRACE_MS = 1000;

const cmp = (a, b) => a.k1 - b.k1 || a.k2 - b.k2;

/** Index at which `item` goes in the sorted `list` (after equal keys). */
function insertionIndex(list, item) {
  const n = list.length;
  if (n === 0 || cmp(list[n - 1], item) <= 0) return n;
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmp(list[mid], item) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One-line summary of a value for a node header (tool arguments).
 * @param {unknown} value
 * @param {number} [max]
 * @returns {string}
 */
export function summarize(value, max = 80) {
  if (value === undefined || value === null) return "";
  let text;
  if (typeof value === "string") text = value;
  else {
    try {
      text = JSON.stringify(value);
    } catch {
      text = String(value);
    }
  }
  text = (text ?? "").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Pretty text of a value for a node body. */
export function prettyValue(value) {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

function usageText(usage) {
  if (!usage || typeof usage !== "object") return "";
  const p = usage.prompt_tokens;
  const c = usage.completion_tokens;
  if (typeof p === "number" && typeof c === "number") return `${p.toLocaleString("en-US")} → ${c.toLocaleString("en-US")} tok`;
  if (typeof usage.total_tokens === "number") return `${usage.total_tokens.toLocaleString("en-US")} tok`;
  return "";
}

/** Merge an entry's attrs into the node's; a too-large attrs arrives cut, as a string. */
function mergeAttrs(node, attrs) {
  if (typeof attrs === "string") node.attrs = attrs;
  else if (attrs && typeof attrs === "object" && !Array.isArray(attrs) && Object.keys(attrs).length) {
    node.attrs = typeof node.attrs === "object" ? Object.assign(node.attrs, attrs) : { ...attrs };
  }
}

const isEmpty = (v) => v === undefined || v === null || (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);

export class TraceTree {
  /**
   * @param {{
   *   doc?: Document, pageSize?: number, maxChars?: number, budget?: number,
   *   now?: () => number, orphanGraceMs?: number,
   *   onNeedsFlush?: () => void,
   * }} [opts]
   *   onNeedsFlush: called when a user action needs a flush (the view schedules a frame)
   */
  constructor(opts = {}) {
    this.doc = opts.doc ?? document;
    this.pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
    this.maxChars = opts.maxChars ?? DEFAULT_MAX_CHARS;
    this.budget = opts.budget ?? DEFAULT_BUDGET;
    this.now = opts.now ?? (() => Date.now());
    this.orphanGraceMs = opts.orphanGraceMs ?? ORPHAN_GRACE_MS;
    this.onNeedsFlush = opts.onNeedsFlush ?? (() => {});

    const doc = this.doc;
    this.el = doc.createElement("div");
    this.el.className = "lsw-tree";
    const toolbar = doc.createElement("div");
    toolbar.className = "lsw-tree-toolbar";
    this.expandBtn = this._button("lsw-btn lsw-expand-all", "Expand all", "Expand all trace nodes");
    this.collapseBtn = this._button("lsw-btn lsw-collapse-all", "Collapse all", "Collapse all trace nodes");
    this.summaryEl = doc.createElement("span");
    this.summaryEl.className = "lsw-tree-summary";
    toolbar.append(this.expandBtn, this.collapseBtn, this.summaryEl);
    this.listEl = doc.createElement("ul");
    this.listEl.className = "lsw-children lsw-tree-list";
    this.rootMore = this._button("lsw-btn lsw-more-children", "", "");
    this.rootMore.hidden = true;
    this.el.append(toolbar, this.listEl, this.rootMore);

    /** @type {WeakMap<Element, Item>} */
    this.itemOf = new WeakMap();
    this.itemOf.set(this.rootMore, null);
    this._onClick = (ev) => this._click(ev);
    this.el.addEventListener("click", this._onClick);
    this.reset();
  }

  _button(className, text, label) {
    const b = this.doc.createElement("button");
    b.type = "button";
    b.className = className;
    b.textContent = text;
    if (label) b.setAttribute("aria-label", label);
    return b;
  }

  /** Forget everything (the store replaced the run's entries). */
  reset() {
    /** @type {Map<string, any>} */
    this.nodes = new Map();
    /** @type {Map<string, any[]>} parent id -> children waiting for it */
    this.pending = new Map();
    this.pendingCount = 0;
    this.root = {
      isRoot: true, children: [], shown: this.pageSize, depth: -1, container: null,
      dom: { childrenUl: this.listEl, moreBtn: this.rootMore }, kidsBuilt: true,
      renderedUpTo: 0, needsFull: false, needsAppend: false, k1: 0, k2: 0,
    };
    this.itemOf.set(this.rootMore, this.root);
    this.arrival = 0;
    this.t0 = Infinity;
    this.maxTs = -Infinity;
    this.timeChanged = false;
    this.t0Changed = false;
    this.final = false;
    /** 'level' (depth 0 open), 'all' or 'none': the default of nodes not toggled by hand */
    this.mode = "level";
    this.dirty = new Set();
    this.kidsDirty = new Set();
    this.rendered = new Set();
    this.listEl.replaceChildren();
    this.rootMore.hidden = true;
    this.entryCount = 0;
  }

  get spanCount() {
    return this.nodes.size;
  }

  // ------------------------------------------------------------------ data

  /**
   * Add entries (in any order). Data only: call flush() to update the DOM.
   * @param {Array<TraceEntry|string>} entries
   */
  addEntries(entries) {
    for (const e of entries) this._add(e);
  }

  /** The run ended: orphans whose parent never came show at the top level now. */
  setFinal(final = true) {
    this.final = final;
    if (final && this.pendingCount) this.kidsDirty.add(this.root);
  }

  _add(e) {
    if (isRunMarker(e)) return; // issue 13: run markers are for watchers in other processes, not spans
    this.entryCount++;
    const arrival = ++this.arrival;
    if (!isTraceEntry(e)) {
      const text = typeof e === "string" ? e.replace(/\r?\n$/, "") : prettyValue(e);
      const leaf = { isText: true, text, k1: Number.isFinite(this.maxTs) ? this.maxTs : -Infinity, k2: arrival, container: null, depth: 0, dom: null };
      this._attach(this.root, leaf);
      return;
    }
    const ts = typeof e.ts === "number" && Number.isFinite(e.ts) ? e.ts : null;
    if (ts !== null) {
      if (ts < this.t0) {
        if (Number.isFinite(this.t0)) this.t0Changed = true;
        this.t0 = ts;
        this.timeChanged = true;
      }
      if (ts > this.maxTs) {
        this.maxTs = ts;
        this.timeChanged = true;
      }
    }
    let node = this.nodes.get(e.span);
    const isNew = !node;
    if (!node) {
      node = {
        id: e.span, parentId: typeof e.parent === "string" && e.parent !== e.span ? e.parent : null,
        kind: e.kind || "", name: "", status: "running", hasStart: false, hasEnd: false,
        startTs: ts, endTs: null, durationMs: null, input: undefined, output: undefined,
        attrs: {}, error: null, usage: null, events: [],
        k1: ts ?? 0, k2: arrival, container: null, depth: 0, dom: null,
        children: [], shown: this.pageSize, expanded: null, orphan: false,
        kidsBuilt: false, renderedUpTo: 0, needsFull: false, needsAppend: false, pendingSince: 0,
      };
      this.nodes.set(e.span, node);
    }
    if (e.kind) node.kind = e.kind;
    if (e.event !== "event" && e.name) node.name = String(e.name);
    let rekey = false;
    if (e.event === "start") {
      node.hasStart = true;
      node.startTs = ts;
      node.input = e.input;
      mergeAttrs(node, e.attrs);
      if (ts !== null && (node.k1 !== ts || node.k2 !== arrival)) {
        node.k1 = ts;
        node.k2 = arrival;
        rekey = !isNew;
      }
    } else if (e.event === "end") {
      node.hasEnd = true;
      node.endTs = ts;
      node.status = e.status || "ok";
      node.output = e.output;
      node.error = e.error ?? null;
      node.usage = e.usage ?? node.usage;
      if (typeof e.duration_ms === "number") node.durationMs = e.duration_ms;
      mergeAttrs(node, e.attrs);
      if (!node.hasStart && ts !== null && node.durationMs !== null) {
        // Start not seen (yet): place it where it must have started.
        node.startTs = ts - node.durationMs / 1000;
        node.k1 = node.startTs;
        rekey = !isNew;
        if (node.startTs < this.t0) {
          if (Number.isFinite(this.t0)) this.t0Changed = true;
          this.t0 = node.startTs;
          this.timeChanged = true;
        }
      }
    } else {
      node.events.push({ name: String(e.name ?? "event"), ts, attrs: e.attrs });
    }
    if (isNew) this._place(node);
    else if (rekey && node.container) {
      const c = node.container;
      this._detach(node);
      this._attach(c, node);
    }
    this._touch(node);
  }

  /** Mark a node for a header/body refresh. */
  _touch(node) {
    if (node.dom) this.dirty.add(node);
  }

  /** Attach a new node under its parent, or wait for the parent; adopt waiting children. */
  _place(node) {
    const parent = node.parentId ? this.nodes.get(node.parentId) : null;
    if (!node.parentId) this._attach(this.root, node);
    else if (parent && !this._isAncestor(node, parent)) this._attach(parent, node);
    else if (parent) this._attach(this.root, node); // a cycle: show it, at the top
    else {
      let list = this.pending.get(node.parentId);
      if (!list) this.pending.set(node.parentId, (list = []));
      list.push(node);
      node.pendingSince = this.now();
      this.pendingCount++;
      this.kidsDirty.add(this.root); // the flush may have to show it as an orphan
    }
    const waiting = this.pending.get(node.id);
    if (waiting) {
      this.pending.delete(node.id);
      this.pendingCount -= waiting.length;
      for (const child of waiting) {
        if (child.container) this._detach(child);
        if (this._isAncestor(child, node)) {
          // A parent cycle in the data: break it by showing the child at the top.
          child.orphan = true;
          this._attach(this.root, child);
        } else {
          child.orphan = false;
          this._attach(node, child);
        }
        this._touch(child);
      }
    }
  }

  /** Is `a` an ancestor of (or the same as) `b`? */
  _isAncestor(a, b) {
    for (let x = b; x && !x.isRoot; x = x.container) if (x === a) return true;
    return false;
  }

  _attach(parent, item) {
    const list = parent.children;
    const i = insertionIndex(list, item);
    if (i === list.length) list.push(item);
    else list.splice(i, 0, item);
    item.container = parent;
    this._setDepth(item, parent.depth + 1);
    if (i < parent.renderedUpTo) parent.needsFull = true;
    else parent.needsAppend = true;
    this.kidsDirty.add(parent);
    // The first child can change the default expansion (see isExpanded).
    if (parent.dom && !parent.isRoot) this.dirty.add(parent);
  }

  _detach(item) {
    const parent = item.container;
    if (!parent) return;
    const i = parent.children.indexOf(item);
    if (i >= 0) parent.children.splice(i, 1);
    if (item.dom) this._unrender(item, true);
    item.container = null;
    parent.needsFull = true;
    this.kidsDirty.add(parent);
  }

  _setDepth(item, depth) {
    if (item.depth === depth && item.isText) return;
    const stack = [[item, depth]];
    while (stack.length) {
      const [it, d] = stack.pop();
      const changed = it.depth !== d;
      it.depth = d;
      if (it.dom && changed) {
        it.dom.li.dataset.depth = String(d);
        this.dirty.add(it);
      }
      if (changed && it.children) for (const c of it.children) stack.push([c, d + 1]);
    }
  }

  _promoteOrphans() {
    if (!this.pendingCount) return false;
    const now = this.now();
    let waiting = false;
    for (const list of this.pending.values()) {
      for (const node of list) {
        if (node.container) continue;
        if (this.final || now - node.pendingSince >= this.orphanGraceMs) {
          node.orphan = true;
          this._attach(this.root, node);
        } else waiting = true;
      }
    }
    return waiting;
  }

  // ------------------------------------------------------------------ state

  isExpanded(node) {
    if (node.isRoot) return true;
    if (node.isText) return false;
    if (node.expanded !== null) return node.expanded;
    if (this.mode === "all") return true;
    if (this.mode === "none") return false;
    // Top-level spans with children start open; leaves (and deeper spans) closed.
    return node.depth < 1 && node.children.length > 0;
  }

  /** Expand every node (rendering proceeds page by page, budget by budget). */
  expandAll() {
    this._setMode("all");
  }

  /** Collapse every node, top level included. */
  collapseAll() {
    this._setMode("none");
  }

  _setMode(mode) {
    this.mode = mode;
    for (const node of this.nodes.values()) node.expanded = null;
    for (const item of [...this.rendered]) if (item.dom && !item.isText) this._applyExpansion(item);
    this.flush();
    this.onNeedsFlush();
  }

  /** @param {any} node @param {boolean} [open] toggle when omitted */
  toggle(node, open) {
    node.expanded = open ?? !this.isExpanded(node);
    this._applyExpansion(node);
    this.flush();
    this.onNeedsFlush();
  }

  _applyExpansion(node) {
    const open = this.isExpanded(node);
    const dom = node.dom;
    dom.open = open;
    dom.toggle.setAttribute("aria-expanded", String(open));
    dom.li.classList.toggle("lsw-open", open);
    if (open) {
      if (!dom.body) this._renderBody(node);
      if (!node.kidsBuilt) {
        node.kidsBuilt = true;
        node.renderedUpTo = 0;
        node.needsAppend = true;
        this.kidsDirty.add(node);
      }
    } else {
      if (dom.body) {
        dom.body.remove();
        dom.body = null;
      }
      if (node.kidsBuilt) this._dropChildren(node);
    }
  }

  _dropChildren(node) {
    node.kidsBuilt = false;
    for (const c of node.children) if (c.dom) this._unrender(c, false);
    node.renderedUpTo = 0;
    node.dom.childrenUl.replaceChildren();
    node.dom.moreBtn.hidden = true;
    this.kidsDirty.delete(node);
  }

  /** Forget the DOM of an item and its rendered descendants. */
  _unrender(item, removeLi) {
    const stack = [item];
    while (stack.length) {
      const it = stack.pop();
      if (!it.dom) continue;
      if (it === item && removeLi) it.dom.li.remove();
      it.dom = null;
      this.rendered.delete(it);
      this.dirty.delete(it);
      this.kidsDirty.delete(it);
      if (it.kidsBuilt) {
        it.kidsBuilt = false;
        it.renderedUpTo = 0;
        for (const c of it.children) if (c.dom) stack.push(c);
      }
    }
  }

  // ------------------------------------------------------------------ DOM

  /**
   * Bring the DOM up to date, building at most `budget` new nodes.
   * @returns {boolean} whether work remains (call again next frame)
   */
  flush() {
    let budget = this.budget;
    if (this.timeChanged) {
      this.timeChanged = false;
      const range = Math.max(this.maxTs - this.t0, 1e-3);
      this.el.style.setProperty("--lsw-now", String(this.maxTs - this.t0));
      this.el.style.setProperty("--lsw-range", String(range));
    }
    if (this.t0Changed) {
      this.t0Changed = false;
      for (const it of this.rendered) if (!it.isText) this.dirty.add(it);
    }
    const orphansWaiting = this._promoteOrphans();
    for (const node of this.dirty) {
      if (!node.dom) continue;
      this._renderHeader(node);
      if (this.isExpanded(node) !== node.dom.open) this._applyExpansion(node);
      else if (node.dom.body) this._renderBody(node);
      this._renderMore(node);
    }
    this.dirty.clear();
    // Building an open node queues its children: loop until done or out of budget.
    while (budget > 0 && this.kidsDirty.size) {
      let progressed = false;
      for (const parent of [...this.kidsDirty]) {
        if (!parent.isRoot && (!parent.dom || !parent.kidsBuilt)) {
          this.kidsDirty.delete(parent);
          continue;
        }
        const r = this._reconcile(parent, budget);
        budget = r.budget;
        if (r.done) {
          this.kidsDirty.delete(parent);
          progressed = true;
        }
        if (budget <= 0) break;
      }
      if (!progressed) break;
    }
    this.summaryEl.textContent = `${this.nodes.size.toLocaleString("en-US")} span${this.nodes.size === 1 ? "" : "s"}`;
    return this.kidsDirty.size > 0 || orphansWaiting;
  }

  /** Make the children list of `parent` show its first `shown` children, in order. */
  _reconcile(parent, budget) {
    const ul = parent.dom.childrenUl;
    const list = parent.children;
    const n = Math.min(parent.shown, list.length);
    if (parent.needsFull) {
      // Walk the wanted items against the DOM, moving/inserting as needed.
      let cursor = ul.firstChild;
      for (let i = 0; i < n; i++) {
        const item = list[i];
        if (!item.dom) {
          if (budget <= 0) {
            this._trimAfter(cursor);
            parent.renderedUpTo = i;
            return { done: false, budget };
          }
          this._build(item);
          budget--;
        }
        if (cursor === item.dom.li) cursor = cursor.nextSibling;
        else ul.insertBefore(item.dom.li, cursor);
      }
      this._trimAfter(cursor);
      parent.renderedUpTo = n;
      parent.needsFull = false;
      parent.needsAppend = false;
    } else if (parent.needsAppend) {
      for (let i = parent.renderedUpTo; i < n; i++) {
        const item = list[i];
        if (budget <= 0) return { done: false, budget };
        if (!item.dom) {
          this._build(item);
          budget--;
        }
        ul.appendChild(item.dom.li);
        parent.renderedUpTo = i + 1;
      }
      parent.needsAppend = false;
    }
    this._renderMore(parent);
    return { done: true, budget };
  }

  /** Remove the <li>s from `cursor` on (items no longer in the page). */
  _trimAfter(cursor) {
    while (cursor) {
      const next = cursor.nextSibling;
      const item = this.itemOf.get(cursor);
      if (item) this._unrender(item, true);
      else cursor.remove();
      cursor = next;
    }
  }

  _renderMore(parent) {
    const btn = parent.dom?.moreBtn;
    if (!btn) return;
    const hidden = parent.children.length - Math.min(parent.shown, parent.children.length);
    const open = parent.isRoot || parent.kidsBuilt;
    btn.hidden = !open || hidden <= 0;
    if (!btn.hidden) {
      const next = Math.min(hidden, this.pageSize);
      btn.textContent = `Show ${next.toLocaleString("en-US")} more (${hidden.toLocaleString("en-US")} hidden)`;
      btn.setAttribute("aria-label", `Show ${next} more of ${hidden} hidden trace nodes`);
    }
  }

  _build(item) {
    const doc = this.doc;
    const li = doc.createElement("li");
    li.className = "lsw-node";
    li.dataset.depth = String(item.depth);
    this.itemOf.set(li, item);
    this.rendered.add(item);
    if (item.isText) {
      li.classList.add("lsw-text-node");
      li.dataset.kind = "text";
      const body = doc.createElement("div");
      body.className = "lsw-text-leaf";
      li.append(body);
      this._valueBlock(body, item.text);
      item.dom = { li };
      return;
    }
    const header = doc.createElement("div");
    header.className = "lsw-node-header";
    const toggle = this._button("lsw-toggle", "", "");
    const badge = doc.createElement("span");
    badge.className = "lsw-kind";
    const name = doc.createElement("span");
    name.className = "lsw-node-name";
    toggle.append(badge, name);
    const spinner = doc.createElement("span");
    spinner.className = "lsw-spinner";
    spinner.setAttribute("aria-hidden", "true");
    const meta = doc.createElement("span");
    meta.className = "lsw-node-meta";
    const events = doc.createElement("span");
    events.className = "lsw-events-badge";
    const status = doc.createElement("span");
    status.className = "lsw-node-status";
    const dur = doc.createElement("span");
    dur.className = "lsw-duration";
    const bar = doc.createElement("span");
    bar.className = "lsw-bar";
    bar.setAttribute("aria-hidden", "true");
    const fill = doc.createElement("span");
    fill.className = "lsw-bar-fill";
    bar.append(fill);
    header.append(toggle, spinner, meta, events, status, dur, bar);
    const childrenUl = doc.createElement("ul");
    childrenUl.className = "lsw-children";
    const moreBtn = this._button("lsw-btn lsw-more-children", "", "");
    moreBtn.hidden = true;
    this.itemOf.set(moreBtn, item);
    li.append(header, childrenUl, moreBtn);
    item.dom = { li, header, toggle, badge, name, spinner, meta, events, status, dur, fill, body: null, childrenUl, moreBtn };
    item.kidsBuilt = false;
    item.renderedUpTo = 0;
    this._renderHeader(item);
    this._applyExpansion(item);
  }

  _renderHeader(node) {
    const d = node.dom;
    const li = d.li;
    li.dataset.span = node.id;
    li.dataset.kind = node.kind || "span";
    li.dataset.status = node.status;
    li.dataset.depth = String(node.depth);
    if (node.orphan) li.dataset.orphan = "true";
    else delete li.dataset.orphan;
    const name = node.name || node.id.slice(0, 8);
    d.badge.textContent = node.kind || "span";
    d.name.textContent = name;
    d.name.title = name; // the name may be ellipsized in a narrow cell
    d.toggle.setAttribute("aria-label", `${node.kind || "span"} ${name}`);
    d.spinner.hidden = node.status !== "running";
    // Kind-specific facts.
    const a = node.attrs && typeof node.attrs === "object" ? node.attrs : {};
    const parts = [];
    if (node.kind === "llm") {
      if (a.model) parts.push(String(a.model));
      const u = usageText(node.usage);
      if (u) parts.push(u);
      if (typeof a.ttft_ms === "number") parts.push(`ttft ${formatDuration(a.ttft_ms)}`);
    } else if (node.kind === "tool") {
      const args = summarize(a.arguments ?? node.input);
      if (args) parts.push(args);
    }
    d.meta.textContent = parts.join(" · ");
    d.meta.title = d.meta.textContent; // the first part to ellipsize (see widget.css)
    d.meta.hidden = parts.length === 0;
    const ne = node.events.length;
    d.events.hidden = ne === 0;
    if (ne) {
      const names = [...new Set(node.events.map((e) => e.name))];
      d.events.textContent = names.length === 1 ? `${names[0]} ×${ne}` : `${ne} events`;
      d.events.title = names.join(", ");
    }
    // A short badge: the full message is in the body (and the badge's tooltip),
    // so a long error never squeezes the node's name.
    if (node.status === "ok") d.status.textContent = "OK";
    else if (node.status === "running") d.status.textContent = "";
    else d.status.textContent = node.status;
    const reason = node.status === "error" ? errorText(node.error) || "failed" : node.status === "cancelled" ? errorText(node.error) : "";
    if (reason) d.status.title = reason;
    else d.status.removeAttribute("title");
    d.status.hidden = node.status === "running";
    const ms = node.durationMs ?? (node.hasEnd && node.startTs !== null && node.endTs !== null ? (node.endTs - node.startTs) * 1000 : null);
    d.dur.textContent = node.hasEnd && ms !== null ? formatDuration(ms) : "";
    // Waterfall, relative to the run's first timestamp.
    const t0 = Number.isFinite(this.t0) ? this.t0 : 0;
    const s = node.startTs !== null ? Math.max(0, node.startTs - t0) : 0;
    d.fill.style.setProperty("--s", String(s));
    if (node.hasEnd && node.endTs !== null) d.fill.style.setProperty("--e", String(Math.max(s, node.endTs - t0)));
    else d.fill.style.setProperty("--e", "var(--lsw-now)");
  }

  _renderBody(node) {
    const doc = this.doc;
    const body = doc.createElement("div");
    body.className = "lsw-node-body";
    const section = (label, value, cls = "") => {
      const sec = doc.createElement("div");
      sec.className = `lsw-section ${cls}`.trim();
      const h = doc.createElement("div");
      h.className = "lsw-section-label";
      h.textContent = label;
      sec.append(h);
      this._valueBlock(sec, prettyValue(value));
      body.append(sec);
    };
    if (node.error && node.status === "cancelled") {
      // A stop is not a failure: its reason, in neutral colours.
      section("Cancelled", errorText(node.error) || "cancelled", "lsw-section-cancelled");
    } else if (node.error) {
      section("Error", errorText(node.error), "lsw-section-error");
      if (node.error.detail) section("Traceback", node.error.detail, "lsw-section-error");
    }
    if (node.hasStart && !isEmpty(node.input)) section("Input", node.input);
    if (node.hasEnd && !isEmpty(node.output)) section("Output", node.output);
    if (node.usage) section("Usage", node.usage);
    if (!isEmpty(node.attrs)) section("Attributes", node.attrs);
    if (node.events.length) {
      const sec = doc.createElement("div");
      sec.className = "lsw-section lsw-events";
      const h = doc.createElement("div");
      h.className = "lsw-section-label";
      h.textContent = "Events";
      sec.append(h);
      for (const ev of node.events) {
        const line = doc.createElement("div");
        line.className = "lsw-event";
        const at = ev.ts !== null && node.startTs !== null ? `+${formatDuration(Math.max(0, (ev.ts - node.startTs) * 1000))} ` : "";
        line.textContent = `${at}${ev.name}${isEmpty(ev.attrs) ? "" : ` ${summarize(ev.attrs, 200)}`}`;
        sec.append(line);
      }
      body.append(sec);
    }
    if (!body.childNodes.length) {
      const none = doc.createElement("div");
      none.className = "lsw-section-empty";
      none.textContent = node.status === "running" ? "Running…" : "No details.";
      body.append(none);
    }
    const d = node.dom;
    if (d.body) d.body.replaceWith(body);
    else d.header.after(body);
    d.body = body;
  }

  /** A <pre> with the text, cut at maxChars with a "Show all" button. */
  _valueBlock(parent, text) {
    const doc = this.doc;
    const pre = doc.createElement("pre");
    pre.className = "lsw-value";
    const long = text.length > this.maxChars;
    pre.textContent = long ? `${text.slice(0, this.maxChars)}…` : text;
    parent.append(pre);
    if (long) {
      const btn = this._button("lsw-btn lsw-show-all", `Show all (${text.length.toLocaleString("en-US")} characters)`, "Show the whole value");
      btn.addEventListener("click", () => {
        pre.textContent = text;
        btn.remove();
      });
      parent.append(btn);
    }
  }

  _click(ev) {
    const target = /** @type {Element} */ (ev.target);
    if (!target?.closest) return;
    if (target.closest(".lsw-expand-all")) return this.expandAll();
    if (target.closest(".lsw-collapse-all")) return this.collapseAll();
    const toggle = target.closest(".lsw-toggle");
    if (toggle) {
      const item = this.itemOf.get(toggle.closest(".lsw-node"));
      if (item && !item.isText) this.toggle(item);
      return;
    }
    const more = target.closest(".lsw-more-children");
    if (more) {
      const item = this.itemOf.get(more);
      if (!item) return;
      item.shown += this.pageSize;
      item.needsAppend = true;
      this.kidsDirty.add(item);
      this.flush();
      this.onNeedsFlush();
    }
  }

  destroy() {
    this.el.removeEventListener("click", this._onClick);
  }
}
