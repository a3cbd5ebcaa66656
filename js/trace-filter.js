// Find in a large trace: the filter box's query language and matching. Pure (no DOM).
//
//   weather                 spans whose name, kind, status, input, output or error contain "weather"
//   kind:tool status:error  failed tool calls (kind: and status: take comma lists: kind:llm,tool)
//   name:get_               spans whose name contains "get_"
//   "two words"             a phrase
//
// Terms are ANDed, case-insensitive. The tree shows the matches and their ancestors (so a match is
// always seen in its place), ancestors open. Cost: one keystroke on a 100,000-span trace is one
// pass over cached lower-case search texts (built once per span version, in slices of a frame's
// budget while the index is incomplete), plus the rows shown; a query that extends the previous
// one only re-tests the previous matches.

/**
 * @typedef {{text: string[], names: string[], kinds: Set<string>|null, statuses: Set<string>|null,
 *   key: string}} Query
 */

import { isFolded } from "./trace-rows.js";

const STATUS_ALIASES = { failed: "error", errors: "error", fail: "error", done: "ok", success: "ok", stopped: "cancelled" };

/**
 * @param {string} input
 * @returns {Query|null} null for an empty query
 */
export function parseQuery(input) {
  const text = [];
  const names = [];
  let kinds = null;
  let statuses = null;
  const re = /(\w+):("([^"]*)"|\S+)|"([^"]*)"|(\S+)/g;
  let m;
  while ((m = re.exec(input))) {
    if (m[1]) {
      const field = m[1].toLowerCase();
      const value = (m[3] ?? m[2]).toLowerCase();
      if (field === "kind" || field === "type") {
        kinds = kinds ?? new Set();
        for (const k of value.split(",")) if (k) kinds.add(k);
      } else if (field === "status" || field === "is") {
        statuses = statuses ?? new Set();
        for (const s of value.split(",")) if (s) statuses.add(STATUS_ALIASES[s] ?? s);
      } else if (field === "name") {
        if (value) names.push(value);
      } else text.push(m[0].toLowerCase()); // "a:b" is just text (e.g. a URL or a time)
    } else {
      const t = (m[4] ?? m[5] ?? "").toLowerCase();
      if (t) text.push(t);
    }
  }
  if (!text.length && !names.length && !kinds && !statuses) return null;
  const key = JSON.stringify([text, names, kinds && [...kinds].sort(), statuses && [...statuses].sort()]);
  return { text, names, kinds, statuses, key };
}

/** Does `next` only narrow `prev` (same fields, each text term extends one of prev's)? */
export function narrows(prev, next) {
  if (!prev || !next) return false;
  const sameSet = (a, b) => (a === null && b === null) || (a && b && a.size === b.size && [...a].every((x) => b.has(x)));
  if (!sameSet(prev.kinds, next.kinds) && prev.kinds !== null) return false;
  if (!sameSet(prev.statuses, next.statuses) && prev.statuses !== null) return false;
  const covered = (pterms, nterms) => pterms.every((p) => nterms.some((n) => n.includes(p)));
  return covered(prev.text, next.text) && covered(prev.names, next.names);
}

const MAX_VALUE_CHARS = 16_384;

function valueText(v) {
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v.length > MAX_VALUE_CHARS ? v.slice(0, MAX_VALUE_CHARS) : v;
  try {
    const s = JSON.stringify(v) ?? "";
    return s.length > MAX_VALUE_CHARS ? s.slice(0, MAX_VALUE_CHARS) : s;
  } catch {
    return "";
  }
}

/**
 * The lower-case text a node is searched in (cached per node version).
 * @param {any} node
 * @returns {string}
 */
export function searchText(node) {
  const c = node.search;
  if (c && c.v === node.v) return c.text;
  let text;
  if (node.isText) text = node.text || "";
  else {
    const err = node.error ? `${node.error.type ?? ""} ${node.error.message ?? ""}` : "";
    text = [node.name, node.kind, node.status, valueText(node.input), valueText(node.output), err,
      node.isCall ? node.argsText : ""].join("\n");
  }
  text = text.toLowerCase();
  node.search = { v: node.v, text };
  return text;
}

/** Has `node` a cached search text for its current version? */
export function isIndexed(node) {
  return !!node.search && node.search.v === node.v;
}

/**
 * @param {any} node
 * @param {Query} q
 * @returns {boolean}
 */
export function matches(node, q) {
  if (q.kinds && !q.kinds.has(node.isText ? "text" : node.kind)) return false;
  if (q.statuses && !q.statuses.has(node.status)) return false;
  if (q.names.length) {
    const name = (node.name || "").toLowerCase();
    for (const n of q.names) if (!name.includes(n)) return false;
  }
  if (q.text.length) {
    const hay = searchText(node);
    for (const t of q.text) if (!hay.includes(t)) return false;
  }
  return true;
}

function addMatch(into, node) {
  into.matched.add(node);
  for (let x = node; x && !x.isRoot && !into.visible.has(x); x = x.container) into.visible.add(x);
}

/**
 * The filter of one tree: the current query, its matches and the nodes to show (matches and
 * their ancestors). Call `run()` after the query or the model changed; it works within a time
 * budget and reports whether it finished (an incomplete result shows what was found so far).
 */
export class TraceFilter {
  /** @param {{clock?: () => number, fold?: boolean}} [opts] fold: folded internal spans are not matched (not rows) */
  constructor(opts = {}) {
    this.fold = opts.fold ?? false;
    this.clock = opts.clock ?? (() => (typeof performance !== "undefined" ? performance.now() : Date.now()));
    /** @type {Query|null} */
    this.query = null;
    this._versionAtStart = -1;
    this.restart();
  }

  get active() {
    return this.query !== null;
  }

  /**
   * @param {string} input the box's text
   * @returns {boolean} whether the query changed
   */
  setQuery(input) {
    const q = parseQuery(input);
    if ((q?.key ?? null) === (this.query?.key ?? null)) return false;
    const narrowing = this.done && narrows(this.query, q);
    const prevMatches = this.matched;
    const version = this._modelVersion;
    this.query = q;
    this.restart();
    this._modelVersion = version;
    if (narrowing) this._candidates = [...prevMatches];
    this._versionAtStart = version;
    return true;
  }

  /** Search from scratch (a new query, or the model was replaced). */
  restart() {
    /** @type {Set<any>} */
    this.matched = new Set();
    /** @type {Set<any>} matches and their ancestors */
    this.visible = new Set();
    this.done = this.query === null;
    /** @type {any[]|null} the nodes still to test in this pass */
    this._candidates = null;
    /** @type {{matched: Set<any>, visible: Set<any>}|null} a re-run after a model change fills these */
    this._shadow = null;
    this._pos = 0;
    this._modelVersion = -1;
  }

  /**
   * Test nodes until done or `budgetMs` is spent. After a model change the previous result stays
   * shown until the new pass is complete (no flicker while streaming).
   * @param {{nodes: Map<string, any>, root: any, version?: number}} model
   * @param {number} [budgetMs]
   * @returns {boolean} whether the result is complete
   */
  run(model, budgetMs = 30) {
    const q = this.query;
    if (!q) return true;
    if (this.done && model.version === this._modelVersion) return true;
    if (this.done) {
      // the model changed since the last complete pass: search again, into shadow sets
      this._shadow = { matched: new Set(), visible: new Set() };
      this._candidates = null;
      this._pos = 0;
      this.done = false;
    }
    if (!this._candidates) {
      this._candidates = [...model.nodes.values()];
      this._versionAtStart = model.version;
    }
    const into = this._shadow ?? this;
    const list = this._candidates;
    const start = this.clock();
    let i = this._pos;
    while (i < list.length) {
      const end = Math.min(list.length, i + 2048);
      for (; i < end; i++) {
        const node = list[i];
        if (node.container && !(this.fold && isFolded(node)) && matches(node, q)) addMatch(into, node);
      }
      if (this.clock() - start > budgetMs) break;
    }
    this._pos = i;
    this.done = i >= list.length;
    if (this.done) {
      if (this._shadow) {
        this.matched = this._shadow.matched;
        this.visible = this._shadow.visible;
        this._shadow = null;
      }
      this._candidates = null;
      this._modelVersion = this._versionAtStart;
    }
    return this.done;
  }

  /** Share of the candidates tested so far (0..1), for a "searching…" hint. */
  get progress() {
    if (this.done || !this._candidates) return 1;
    return this._candidates.length ? this._pos / this._candidates.length : 1;
  }
}
