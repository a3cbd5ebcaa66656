// The trace tree's data model: spans built from TraceEntry objects (start / end / event) and
// foreign text lines, nested by parent, in start order, with roll-ups summed per subtree.
// Pure (no DOM): the view (trace-view.js) reads it and asks what changed.
//
// Scale (100,000 entries) drives the design: adding an entry is O(1) plus a binary-search insert
// among its siblings and an O(depth) roll-up update; nothing here walks the whole tree.
//
// Streamed tool calls: while a model writes a tool call, its llm span sends `tool_call` events
// (protocol.TOOL_CALL_EVENT) with the argument text so far. Each call becomes a provisional tool
// node (`isCall`) where its tool span will appear (beside the llm span). When the tool span starts
// with the same call_id it takes the provisional node's place in the order, and the provisional
// node goes (`replaced` tells the view which node took over, to keep the selection).

import { ATTR_TEXT_RANGES, ATTR_THINKING_RANGES, isRunMarker, isTraceEntry, TOOL_CALL_EVENT } from "./protocol.js";
import { addTotals, copyTotals, ownTotals, sameTotals, zeroTotals } from "./rollups.js";
import { isFolded, isInternal } from "./trace-rows.js";
import { NO_ATTRS, NO_CHILDREN, SpanNode } from "./span-node.js";

// scratch totals for _updateOwn (no allocation per entry)
const NEXT = zeroTotals();
const DIFF = zeroTotals();

/** @typedef {import("./protocol.js").TraceEntry} TraceEntry */
/** @typedef {import("./rollups.js").Totals} Totals */

/** @typedef {import("./span-node.js").SpanNode} Node  a span (or a provisional tool call, or a foreign text line) */

/** An entry whose parent has not arrived waits this long before showing at the top level. */
export const ORPHAN_GRACE_MS = 1000;
/** A span keeps at most this many raw entries (a span with 10,000 retry events keeps the first ones). */
export const MAX_RAW_ENTRIES = 200;

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

/** Merge an entry's attrs into the node's; a too-large attrs arrives cut, as a string. */
function mergeAttrs(node, attrs) {
  if (typeof attrs === "string") node.attrs = attrs;
  else if (attrs && typeof attrs === "object" && !Array.isArray(attrs) && !isEmpty(attrs)) {
    // the node's own copy (never the entry's object: the raw entries stay as they came)
    node.attrs = typeof node.attrs === "object" && node.attrs !== NO_ATTRS ? Object.assign(node.attrs, attrs) : { ...attrs };
  }
}

/** No own enumerable keys (without building the keys array). */
function isEmpty(obj) {
  for (const _ in obj) if (Object.hasOwn(obj, _)) return false;
  return true;
}

/** @returns {[number, number][]|null} valid [start, end] pairs of an attrs value */
export function rangesOf(value) {
  if (!Array.isArray(value)) return null;
  const out = value.filter(
    (r) => Array.isArray(r) && r.length === 2 && Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] >= 0 && r[1] > r[0],
  );
  return out.length ? out : null;
}

export class TraceModel {
  /** @param {{now?: () => number, orphanGraceMs?: number}} [opts] */
  constructor(opts = {}) {
    this.now = opts.now ?? (() => Date.now());
    this.orphanGraceMs = opts.orphanGraceMs ?? ORPHAN_GRACE_MS;
    /** @type {Record<string, [number, number]>|null} */
    this.prices = null;
    this.reset();
  }

  /** Forget everything (the run's entries were replaced). */
  reset() {
    /** @type {Map<string, Node>} */
    this.nodes = new Map();
    /** @type {Map<string, Node[]>} parent id -> nodes waiting for it */
    this.pending = new Map();
    this.pendingCount = 0;
    /** @type {Map<string, Node>} call key -> provisional tool node */
    this.calls = new Map();
    /** @type {Map<string, string>} provisional node id -> id of the node that took its place */
    this.replaced = new Map();
    this.root = /** @type {Node} */ ({
      id: "", isRoot: true, children: [], depth: -1, container: null, own: zeroTotals(), sub: zeroTotals(), v: 0,
      k1: 0, k2: 0,
    });
    this.arrival = 0;
    this.t0 = Infinity;
    this.maxTs = -Infinity;
    this.final = false;
    this.entryCount = 0;
    /** Spans marked internal (folded away unless the tree shows them). */
    this.internalCount = 0;
    /** A node that ended with an error since the last takeChanges() (for the live announcement). */
    this.failures = [];
    this._structure = true;
    /** Some node's data changed since the last takeChanges() (its `v` tells the view which). */
    this._changed = false;
    this.version = 0;
  }

  /** Spans (provisional tool calls and text lines not counted). */
  get spanCount() {
    return this.root.sub.spans;
  }

  /** @returns {Totals} the whole run's roll-ups */
  get totals() {
    return this.root.sub;
  }

  /** @param {Record<string, [number, number]>|null} prices */
  setPrices(prices) {
    const same = JSON.stringify(prices ?? null) === JSON.stringify(this.prices ?? null);
    if (same) return;
    this.prices = prices ?? null;
    for (const node of this.nodes.values()) if (node.kind === "llm") this._updateOwn(node);
  }

  /** The run ended: orphans whose parent never came show at the top level now; calls not run say so. */
  setFinal(final = true) {
    if (this.final === final) return;
    this.final = final;
    if (!final) return;
    this.promoteOrphans();
    for (const call of this.calls.values()) this._settleCall(call);
  }

  /**
   * What changed since the last call: whether rows moved or appeared (`structure`), whether some
   * node's data changed (`changed`: each node's `v` says which; no set of them is kept, a backlog
   * of 100,000 entries would fill it with every node), and the nodes that failed.
   * @returns {{structure: boolean, changed: boolean, failures: Node[]}}
   */
  takeChanges() {
    const out = { structure: this._structure, changed: this._changed, failures: this.failures };
    this._structure = false;
    this._changed = false;
    this.failures = [];
    return out;
  }

  get hasChanges() {
    return this._structure || this._changed;
  }

  /** @param {Array<TraceEntry|string>} entries @param {number} [from] @param {number} [to] the part to add */
  add(entries, from = 0, to = entries.length) {
    for (let i = from; i < to; i++) this._add(entries[i]);
  }

  _touch(node) {
    node.v++;
    this._changed = true;
    this.version++;
  }

  _noteTime(ts) {
    if (ts === null) return;
    if (ts < this.t0) this.t0 = ts;
    if (ts > this.maxTs) this.maxTs = ts;
  }

  _add(e) {
    if (isRunMarker(e)) return; // issue 13: run markers are for watchers in other processes, not spans
    this.entryCount++;
    const arrival = ++this.arrival;
    if (!isTraceEntry(e)) {
      const text = typeof e === "string" ? e.replace(/\r?\n$/, "") : safeJson(e);
      const leaf = new SpanNode(`text:${arrival}`, null, "text", null, Number.isFinite(this.maxTs) ? this.maxTs : -Infinity, arrival);
      leaf.isText = true;
      leaf.text = leaf.name = text;
      leaf.status = "ok";
      this._attach(this.root, leaf);
      return;
    }
    const ts = typeof e.ts === "number" && Number.isFinite(e.ts) ? e.ts : null;
    this._noteTime(ts);
    if (e.event === "event" && e.name === TOOL_CALL_EVENT) {
      this._toolCallEvent(e, ts, arrival);
      return;
    }
    let node = this.nodes.get(e.span);
    const isNew = !node;
    if (!node) {
      const parentId = typeof e.parent === "string" && e.parent !== e.span ? e.parent : null;
      node = new SpanNode(e.span, parentId, e.kind || "", ts, ts ?? 0, arrival);
      this.nodes.set(e.span, node);
    }
    if (node.rawCount < MAX_RAW_ENTRIES) node.keepRaw(e);
    if (e.kind) node.kind = e.kind;
    if (e.event !== "event" && e.name) node.name = String(e.name);
    let rekey = false;
    const wasError = node.status === "error";
    const wasInternal = isInternal(node);
    const wasFolded = isFolded(node);
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
      const claimed = this._claimCall(node);
      if (claimed) {
        // take the provisional node's place, so the row does not jump
        node.k1 = claimed.k1;
        node.k2 = claimed.k2;
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
        // start not seen (yet): place it where it must have started
        node.startTs = ts - node.durationMs / 1000;
        node.k1 = node.startTs;
        rekey = !isNew;
        this._noteTime(node.startTs);
      }
      if (node.kind === "llm") for (const call of this.calls.values()) if (call.llmSpan === node.id) this._settleCall(call);
    } else {
      node.addEvent({ name: String(e.name ?? "event"), ts, attrs: e.attrs });
    }
    if (isInternal(node) !== wasInternal) this.internalCount += wasInternal ? -1 : 1;
    if (!isNew && isFolded(node) !== wasFolded) this._structure = true; // a row appears or goes
    if (isNew) this._place(node);
    else if (rekey && node.container) {
      const c = node.container;
      this._detach(node);
      this._attach(c, node);
    }
    this._updateOwn(node);
    // a failed parent counts its error only if no child failed with the same one (rollups.js):
    // a child's end that arrives after its parent's changes the parent's count
    const up = node.container;
    if (e.event === "end" && up && !up.isRoot && up.status === "error") this._updateOwn(up);
    if (node.status === "error" && !wasError) this.failures.push(node);
    this._touch(node);
  }

  // ------------------------------------------------------------ streamed tool calls

  _toolCallEvent(e, ts, arrival) {
    const a = e.attrs && typeof e.attrs === "object" ? e.attrs : {};
    const key = typeof a.call_id === "string" && a.call_id ? a.call_id : `${e.span}#${a.index ?? 0}`;
    if (this.replaced.has(`call:${key}`)) return; // its tool span already started
    let call = this.calls.get(key);
    const isNew = !call;
    if (!call) {
      call = Object.assign(new SpanNode(`call:${key}`, typeof e.parent === "string" ? e.parent : null, "tool", ts, ts ?? 0, arrival), {
        isCall: true, callKey: key, llmSpan: e.span, name: String(a.tool ?? ""),
        argsText: "", argsDone: false, argsCut: false, argsTotal: null,
        argsGap: false, attrs: { call_id: typeof a.call_id === "string" ? a.call_id : "" },
      });
      this.calls.set(key, call);
      this.nodes.set(call.id, call);
    }
    if (call.rawCount < MAX_RAW_ENTRIES) call.keepRaw(e);
    if (a.tool) call.name = String(a.tool);
    if (typeof a.delta === "string" && a.delta) {
      const offset = typeof a.offset === "number" ? a.offset : call.argsText.length;
      if (offset === call.argsText.length) call.argsText += a.delta;
      else if (offset < call.argsText.length) call.argsText = call.argsText.slice(0, offset) + a.delta; // repeated
      else call.argsGap = true; // a piece is missing: show what came, flagged
    }
    if (a.done) {
      call.argsDone = true;
      call.argsCut = !!a.cut;
      call.argsTotal = typeof a.total === "number" ? a.total : null;
    }
    call.endTs = ts;
    if (isNew) this._place(call);
    const llm = this.nodes.get(e.span);
    if (call.argsDone || (llm && llm.hasEnd) || this.final) this._settleCall(call);
    this._updateOwn(call);
    this._touch(call);
  }

  /** A provisional call whose arguments are complete: "requested" until its tool span starts. */
  _settleCall(call) {
    if (call.status !== "running") return;
    call.status = "requested";
    call.hasEnd = true;
    this._touch(call);
  }

  /** A tool span started: if a provisional node stands for its call, remove it. */
  _claimCall(node) {
    if (node.kind !== "tool" || !node.attrs || typeof node.attrs !== "object") return null;
    const id = node.attrs.call_id;
    if (typeof id !== "string" || !id) return null;
    const call = this.calls.get(id);
    if (!call) return null;
    this.calls.delete(id);
    this.nodes.delete(call.id);
    this.replaced.set(call.id, node.id);
    if (call.container) this._detach(call);
    else this._unpend(call);
    // the call's own roll-ups leave with it; the tool span brings its own
    this._structure = true;
    return call;
  }

  // ------------------------------------------------------------ placement

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
      if (this.final) this.promoteOrphans();
    }
    const waiting = this.pending.get(node.id);
    if (waiting) {
      this.pending.delete(node.id);
      this.pendingCount -= waiting.length;
      for (const child of waiting) {
        if (child.container) this._detach(child);
        if (this._isAncestor(child, node)) {
          child.orphan = true; // a parent cycle in the data: show the child at the top
          this._attach(this.root, child);
        } else {
          child.orphan = false;
          this._attach(node, child);
        }
        this._touch(child);
      }
    }
  }

  _unpend(node) {
    const list = node.parentId ? this.pending.get(node.parentId) : null;
    if (!list) return;
    const i = list.indexOf(node);
    if (i >= 0) {
      list.splice(i, 1);
      this.pendingCount--;
    }
    if (!list.length) this.pending.delete(node.parentId);
  }

  /** Is `a` an ancestor of (or the same as) `b`? */
  _isAncestor(a, b) {
    for (let x = b; x && !x.isRoot; x = x.container) if (x === a) return true;
    return false;
  }

  _attach(parent, item) {
    if (parent.children === NO_CHILDREN) parent.children = [];
    const list = parent.children;
    const i = insertionIndex(list, item);
    if (i === list.length) list.push(item);
    else list.splice(i, 0, item);
    item.container = parent;
    this._setDepth(item, parent.isRoot ? 0 : parent.depth + 1);
    this._propagate(parent, item.sub, 1);
    this._structure = true;
    if (!parent.isRoot) {
      this._touch(parent); // its child count (and default expansion) changed
      if (parent.status === "error") this._updateOwn(parent); // errors count where they happened
    }
  }

  _detach(item) {
    const parent = item.container;
    if (!parent) return;
    const i = parent.children.indexOf(item);
    if (i >= 0) parent.children.splice(i, 1);
    this._propagate(parent, item.sub, -1);
    item.container = null;
    this._structure = true;
    if (!parent.isRoot) this._touch(parent);
  }

  _setDepth(item, depth) {
    const stack = [[item, depth]];
    while (stack.length) {
      const [it, d] = stack.pop();
      if (it.depth === d && it !== item) continue;
      it.depth = d;
      for (const c of it.children) stack.push([c, d + 1]);
    }
  }

  /** Orphans whose grace ran out go to the top level. @returns {boolean} whether some still wait */
  promoteOrphans() {
    if (!this.pendingCount) return false;
    const now = this.now();
    let waiting = false;
    for (const [parentId, list] of [...this.pending]) {
      const keep = [];
      for (const node of list) {
        if (node.container) continue;
        if (this.final || now - node.pendingSince >= this.orphanGraceMs) {
          node.orphan = true;
          this._attach(this.root, node);
          this._touch(node);
        } else keep.push(node);
      }
      // promoted orphans stay adoptable: their parent may still come
      if (keep.length) waiting = true;
      this.pending.set(parentId, list);
    }
    return waiting;
  }

  // ------------------------------------------------------------ roll-ups

  /** Recompute a node's own totals; push the difference up its ancestors. */
  _updateOwn(node) {
    ownTotals(node, this.prices, NEXT);
    if (sameTotals(NEXT, node.own)) return;
    copyTotals(DIFF, NEXT);
    addTotals(DIFF, node.own, -1);
    copyTotals(node.own, NEXT);
    addTotals(node.sub, DIFF);
    if (node.container) this._propagate(node.container, DIFF, 1);
  }

  /** Add `diff` (times `sign`) to `from` and every ancestor of it. */
  _propagate(from, diff, sign) {
    for (let x = from; x; x = x.container) {
      addTotals(x.sub, diff, sign);
      if (!x.isRoot) this._touch(x);
    }
    this.version++;
  }

  // ------------------------------------------------------------ queries

  /** @param {Node} node @returns {Node[]} its ancestors, nearest first */
  ancestors(node) {
    const out = [];
    for (let x = node.container; x && !x.isRoot; x = x.container) out.push(x);
    return out;
  }

  /** The first node's start, or the origin given (the run's start), whichever is earlier. */
  origin(runStart = null) {
    const t0 = Number.isFinite(this.t0) ? this.t0 : null;
    if (typeof runStart === "number" && (t0 === null || runStart <= t0) && (t0 === null || t0 - runStart < 3600)) return runStart;
    return t0 ?? 0;
  }

  /**
   * Answer / thinking ranges of a node (code points): its own for an llm span, else those of the
   * llm spans below it.
   * @param {Node} node @param {"text"|"thinking"} which
   * @returns {[number, number][]}
   */
  rangesBelow(node, which) {
    const key = which === "text" ? ATTR_TEXT_RANGES : ATTR_THINKING_RANGES;
    const out = [];
    const stack = [node];
    let seen = 0;
    while (stack.length && seen < 10_000) {
      const n = stack.pop();
      seen++;
      const r = n.attrs && typeof n.attrs === "object" ? rangesOf(n.attrs[key]) : null;
      if (r) out.push(...r);
      for (const c of n.children) stack.push(c);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }
}

function safeJson(x) {
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}
