// One node of the trace tree (a span, a provisional tool call, or a foreign text line), as built by
// TraceModel (trace-model.js) and read by the views.
//
// Why a class, and why some fields are shared empties: a saved trace of 100,000 entries makes tens
// of thousands of nodes in one load. Each node used to be an object literal with five small objects
// of its own (children, events, raw, attrs, ui), most of them never filled: that garbage brought a
// ~100 ms major garbage collection into the frames of the load. Now a node is one object of a fixed
// shape plus its two roll-up totals; the rest is made on first write:
// - `children`, `events`, `attrs` start as shared frozen empties (NO_CHILDREN, NO_EVENTS,
//   NO_ATTRS); the model swaps in a node's own on its first child / event / attribute. Readers never
//   see the difference; a stray write to a shared empty throws instead of corrupting other nodes.
// - `raw` (the span's entries, for the "Raw JSON" view) keeps a single entry as itself and only
//   becomes an array at the second one; the getter always answers an array.
// - `ui` (view state: raw shown, "show all" toggles) is made when a view first asks for it.

import { zeroTotals } from "./rollups.js";

/** @type {readonly any[]} */
export const NO_CHILDREN = Object.freeze([]);
/** @type {readonly any[]} */
export const NO_EVENTS = Object.freeze([]);
/** @type {Readonly<Record<string, any>>} */
export const NO_ATTRS = Object.freeze({});

export class SpanNode {
  /**
   * @param {string} id
   * @param {string|null} parentId
   * @param {string} kind
   * @param {number|null} startTs
   * @param {number} k1 first sort key among siblings (start time)
   * @param {number} k2 second sort key (arrival)
   */
  constructor(id, parentId, kind, startTs, k1, k2) {
    this.id = id;
    this.parentId = parentId;
    this.kind = kind;
    this.name = "";
    /** running | ok | error | cancelled | requested (a streamed call not run) */
    this.status = "running";
    this.isRoot = false;
    this.isText = false;
    this.isCall = false;
    /** a text line's text */
    this.text = "";
    this.hasStart = false;
    this.hasEnd = false;
    this.startTs = startTs;
    /** @type {number|null} */
    this.endTs = null;
    /** @type {number|null} */
    this.durationMs = null;
    this.input = undefined;
    this.output = undefined;
    /** @type {Record<string, any>|string} an entry's attrs merged; a too-large attrs arrives cut, as a string */
    this.attrs = NO_ATTRS;
    this.error = null;
    this.usage = null;
    /** @type {any[]} */
    this.events = NO_EVENTS;
    /** @type {SpanNode[]} in start order */
    this.children = NO_CHILDREN;
    /** @type {any} the node whose children hold it (the root sentinel at the top) */
    this.container = null;
    this.depth = 0;
    this.k1 = k1;
    this.k2 = k2;
    this.orphan = false;
    this.pendingSince = 0;
    this.own = zeroTotals();
    /** own + all descendants */
    this.sub = zeroTotals();
    /** bumped on every change the view shows */
    this.v = 0;
    /** @type {any} the row's place, set by flattenRows (trace-rows.js) */
    this.row = null;
    /** @type {any} one entry, or an array of them once there are two */
    this._raw = undefined;
    /** @type {Record<string, any>|undefined} */
    this._ui = undefined;
  }

  /** The entries of this span, in arrival order (at most MAX_RAW_ENTRIES kept). @returns {any[]} */
  get raw() {
    const r = this._raw;
    return r === undefined ? [] : Array.isArray(r) ? r : [r];
  }

  /** How many entries `raw` holds. */
  get rawCount() {
    const r = this._raw;
    return r === undefined ? 0 : Array.isArray(r) ? r.length : 1;
  }

  /** Keep one more entry (the caller bounds how many). */
  keepRaw(entry) {
    const r = this._raw;
    if (r === undefined) this._raw = entry;
    else if (Array.isArray(r)) r.push(entry);
    else this._raw = [r, entry];
  }

  /** View state kept with the node (expanded raw JSON, "show all" toggles). */
  get ui() {
    return (this._ui ??= {});
  }

  /** @param {any} event */
  addEvent(event) {
    if (this.events === NO_EVENTS) this.events = [event];
    else this.events.push(event);
  }
}
