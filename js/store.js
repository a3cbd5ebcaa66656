// The model-level run store: one per widget model, shared by all its views.
//
// Streaming messages (run_start, delta) are applied append-only; the synced
// `runs` trait is the authority: a run it reports as finished replaces what was
// streamed. Views do not receive data in events, they re-read the run and use
// the per-field generation counters to tell "appended" from "replaced":
//   textGen / thinkingGen / entriesGen change => the field was replaced, the
//   view must start over; otherwise everything past what it consumed is new.

import { dispatch, isFinalStatus, isRunState } from "./protocol.js";

/**
 * @typedef {import("./protocol.js").RunState} RunState
 * @typedef {import("./protocol.js").TraceEntry} TraceEntry
 * @typedef {{
 *   id: string, query: string, status: string, text: string, thinking: string,
 *   entries: Array<TraceEntry|string>, error: any, result: string|null,
 *   started_at: number|null, ended_at: number|null, stats: Record<string, any>, notices: string[],
 *   prices: Record<string, [number, number]>|null, currency: string,
 *   statsAt: number, seenAt: number,
 *   textGen: number, thinkingGen: number, entriesGen: number,
 *   stale: boolean, inTrait: boolean
 * }} Run
 * @typedef {{type: "run", id: string} | {type: "order"} | {type: "resync", needed: boolean} | {type: "snapshot"}}
 *   StoreEvent  (resync: needed is re-announced at every further gap; snapshot: a resync reply was applied)
 */

const str = (x) => (typeof x === "string" ? x : "");
/** @param {unknown} x @returns {string[]} the strings of an array (anything else: none) */
const strings = (x) => (Array.isArray(x) ? x.filter((s) => typeof s === "string") : []);
/** @param {unknown} x @returns {Record<string, [number, number]>|null} valid {model: [input, output]} pairs */
function prices(x) {
  if (!x || typeof x !== "object" || Array.isArray(x)) return null;
  const out = {};
  for (const [model, pair] of Object.entries(x)) {
    if (Array.isArray(pair) && pair.length === 2 && pair.every((p) => typeof p === "number" && Number.isFinite(p))) {
      out[model] = [pair[0], pair[1]];
    }
  }
  return Object.keys(out).length ? out : null;
}

/** Shallow check that two trace entries (or strings) are the same item. */
function sameEntry(a, b) {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (!a || !b) return false;
  return a.seq === b.seq && a.span === b.span && a.event === b.event;
}

const json = (x) => JSON.stringify(x ?? null);

/**
 * Does a finished run's trait state say exactly what the run already holds? Strings are compared in
 * full (the trait's text is the string we kept, so equal lengths compare in one pass); entries by
 * count and their last item (the trait's entries of a finished run never change in place).
 * @param {Run} run @param {RunState} state
 */
function sameFinalState(run, state) {
  const entries = Array.isArray(state.entries) ? state.entries : [];
  const n = entries.length;
  return state.status === run.status && str(state.text) === run.text && str(state.thinking) === run.thinking &&
    n === run.entries.length && (n === 0 || sameEntry(entries[n - 1], run.entries[n - 1])) &&
    (state.result ?? null) === run.result && (state.ended_at ?? null) === run.ended_at &&
    (state.started_at == null || state.started_at === run.started_at) &&
    (typeof state.query !== "string" || state.query === run.query) &&
    json(state.error) === json(run.error) && json(strings(state.notices)) === json(run.notices) &&
    json(state.stats) === json(run.stats) && json(prices(state.prices)) === json(run.prices) &&
    (typeof state.currency !== "string" || state.currency === run.currency);
}

export class RunStore {
  /** @param {{now?: () => number}} [opts] now: local clock in ms (tests inject one) */
  constructor(opts = {}) {
    this.now = opts.now ?? (() => Date.now());
    /** @type {Map<string, Run>} */
    this.runs = new Map();
    /** @type {string[]} run ids, oldest first */
    this.order = [];
    /** Last message number seen (0: none yet). */
    this.lastMseq = 0;
    /** True after a lost message until the trait has replaced every affected run. */
    this.resyncNeeded = false;
    /** @type {Set<(e: StoreEvent) => void>} */
    this.listeners = new Set();
  }

  /**
   * @param {(e: StoreEvent) => void} fn
   * @returns {() => void} unsubscribe
   */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** @param {StoreEvent} event */
  emit(event) {
    for (const fn of [...this.listeners]) {
      try {
        fn(event);
      } catch (err) {
        console.error("[lazystream-widget] store listener failed", err);
      }
    }
  }

  /** @param {string} id @returns {Run|undefined} */
  get(id) {
    return this.runs.get(id);
  }

  /** @returns {Run[]} runs, oldest first */
  list() {
    return this.order.map((id) => /** @type {Run} */ (this.runs.get(id)));
  }

  /**
   * Apply one kernel message (msg:custom). Unknown or malformed messages are ignored.
   * @param {unknown} msg
   * @returns {boolean} whether the message changed the store
   */
  applyMessage(msg) {
    return dispatch(msg, {
      run_start: (m) => this.applyRunStart(m),
      delta: (m) => this.applyDelta(m),
      snapshot: (m) => this.applySnapshot(m),
    });
  }

  /**
   * Message numbering: returns false for a duplicate (already applied), marks a
   * resync for a gap. A message without mseq is applied unchecked.
   * @param {any} mseq
   * @param {string|null} runId the run the message is about (stale after a gap)
   */
  _checkSeq(mseq, runId) {
    if (typeof mseq !== "number" || !Number.isFinite(mseq)) return true;
    if (mseq <= this.lastMseq) return false;
    const gap = mseq !== this.lastMseq + 1;
    this.lastMseq = mseq;
    if (gap) {
      // Something was lost (or we joined late, e.g. after a page reload during a
      // run): whatever is streaming is now incomplete until the trait replaces it.
      for (const run of this.runs.values()) {
        if (run.status === "running" && run.id !== runId) run.stale = true;
      }
      this._setResync(true, true);
    }
    return gap ? "gap" : true;
  }

  /** @param {boolean} needed @param {boolean} [always] announce even if unchanged (a further gap) */
  _setResync(needed, always = false) {
    if (this.resyncNeeded === needed && !always) return;
    this.resyncNeeded = needed;
    this.emit({ type: "resync", needed });
  }

  /** @param {RunState} state @returns {Run} */
  _newRun(state) {
    const now = this.now();
    return {
      id: state.id,
      query: str(state.query),
      status: state.status || "running",
      text: str(state.text),
      thinking: str(state.thinking),
      entries: Array.isArray(state.entries) ? state.entries.slice() : [],
      error: state.error ?? null,
      result: state.result ?? null,
      started_at: state.started_at ?? null,
      ended_at: state.ended_at ?? null,
      stats: { ...(state.stats || {}) },
      notices: strings(state.notices),
      prices: prices(state.prices),
      currency: typeof state.currency === "string" ? state.currency : "$",
      statsAt: now,
      seenAt: now,
      textGen: 0,
      thinkingGen: 0,
      entriesGen: 0,
      stale: false,
      inTrait: false,
    };
  }

  _add(run) {
    this.runs.set(run.id, run);
    this.order.push(run.id);
    this.emit({ type: "order" });
  }

  /** @param {import("./protocol.js").RunStartMessage} msg */
  applyRunStart(msg) {
    const ok = this._checkSeq(msg.mseq, msg.run.id);
    if (!ok) return;
    const cur = this.runs.get(msg.run.id);
    if (cur && isFinalStatus(cur.status) && cur.inTrait) return; // the trait already has its end
    if (!cur) {
      this._add(this._newRun(msg.run));
      return;
    }
    this._replace(cur, msg.run, false);
    this.emit({ type: "run", id: cur.id });
  }

  /** @param {import("./protocol.js").DeltaMessage} msg */
  applyDelta(msg) {
    const ok = this._checkSeq(msg.mseq, msg.run);
    if (!ok) return;
    let run = this.runs.get(msg.run);
    if (!run) {
      // Its run_start was lost: show what arrives, flagged, until the trait fixes it.
      run = this._newRun({ id: msg.run, status: "running" });
      run.stale = true;
      this._setResync(true);
      this._add(run);
    } else if (isFinalStatus(run.status) && run.inTrait) {
      return; // late delta after the authoritative final state
    }
    if (ok === "gap") run.stale = true;
    if (typeof msg.text === "string") run.text += msg.text;
    if (typeof msg.thinking === "string") run.thinking += msg.thinking;
    if (Array.isArray(msg.entries)) for (const e of msg.entries) run.entries.push(e);
    for (const n of strings(msg.notices)) if (!run.notices.includes(n)) run.notices.push(n);
    if (msg.stats && typeof msg.stats === "object") {
      Object.assign(run.stats, msg.stats);
      run.statsAt = this.now();
    } else if (typeof msg.n === "number" && msg.n > 0) {
      // tokens in this message: the count keeps step with the text between stats
      run.stats.tokens = (typeof run.stats.tokens === "number" ? run.stats.tokens : 0) + msg.n;
    }
    this.emit({ type: "run", id: run.id });
  }

  /**
   * Apply the kernel's reply to a resync request (js/control.js): each run as far as the live messages
   * numbered before this one carried it, so the deltas after it continue it exactly.
   * @param {import("./protocol.js").SnapshotMessage} msg
   */
  applySnapshot(msg) {
    if (!this._checkSeq(msg.mseq, null)) return;
    for (const state of msg.runs) {
      if (!isRunState(state)) continue;
      const cur = this.runs.get(state.id);
      if (!cur) {
        this._add(this._newRun(state));
      } else if (!(isFinalStatus(cur.status) && cur.inTrait)) {
        this._replace(cur, state, true);
        this.emit({ type: "run", id: cur.id });
      }
    }
    if (![...this.runs.values()].some((r) => r.stale)) this._setResync(false);
    this.emit({ type: "snapshot" });
  }

  /**
   * Make `state` the run's content. A field that only grew keeps its
   * generation (the view appends the difference); anything else bumps it.
   * @param {Run} run @param {RunState} state @param {boolean} fromTrait
   */
  _replace(run, state, fromTrait) {
    const text = str(state.text);
    if (text.length >= run.text.length && text.startsWith(run.text)) run.text = text;
    else (run.text = text), run.textGen++;
    const thinking = str(state.thinking);
    if (thinking.length >= run.thinking.length && thinking.startsWith(run.thinking)) run.thinking = thinking;
    else (run.thinking = thinking), run.thinkingGen++;
    const entries = Array.isArray(state.entries) ? state.entries : [];
    const n = run.entries.length;
    const prefixOk =
      entries.length >= n && (n === 0 || (sameEntry(entries[n - 1], run.entries[n - 1]) && sameEntry(entries[0], run.entries[0])));
    if (prefixOk) for (let i = n; i < entries.length; i++) run.entries.push(entries[i]);
    else (run.entries = entries.slice()), run.entriesGen++;
    if (typeof state.query === "string") run.query = state.query;
    if (state.status) run.status = state.status;
    run.error = state.error ?? null;
    run.result = state.result ?? null;
    if (Array.isArray(state.notices)) run.notices = strings(state.notices);
    if (state.prices !== undefined) run.prices = prices(state.prices);
    if (typeof state.currency === "string") run.currency = state.currency;
    if (state.started_at != null) run.started_at = state.started_at;
    run.ended_at = state.ended_at ?? null;
    if (state.stats) {
      run.stats = { ...state.stats };
      run.statsAt = this.now();
    }
    if (fromTrait) run.stale = false;
  }

  /**
   * Apply the synced `runs` trait. A run the trait reports finished replaces the
   * streamed state; a running one replaces it only when it holds all we streamed and more (or as
   * much, when ours is stale).
   * Runs the trait used to list and no longer does are removed; runs only
   * streamed so far (the trait lags) are kept after the trait's runs.
   * @param {unknown} trait
   */
  applyRuns(trait) {
    if (!Array.isArray(trait)) return;
    const seen = new Set();
    let orderChanged = false;
    for (const state of trait) {
      if (!isRunState(state) || seen.has(state.id)) continue;
      seen.add(state.id);
      const cur = this.runs.get(state.id);
      if (!cur) {
        const run = this._newRun(state);
        run.inTrait = true;
        this.runs.set(run.id, run);
        orderChanged = true;
        continue;
      }
      // A finished run the trait already gave us comes again in every later trait update (another
      // run changed): unchanged, it is neither replaced nor redrawn (a 10 MB answer was compared and
      // re-synced in one task per update of any run).
      if (cur.inTrait && isFinalStatus(cur.status) && sameFinalState(cur, state)) continue;
      const tText = str(state.text).length;
      const tThinking = str(state.thinking).length;
      const tEntries = Array.isArray(state.entries) ? state.entries.length : 0;
      // a running run's trait is a picture taken at some moment: it is taken only when it holds at
      // least all we have streamed (ours is behind, or stale after a lost message and not ahead of it).
      // An older picture would wipe streamed text (and the deltas after it would leave a hole): a
      // stale run then waits for the resync reply (applySnapshot) or the final state.
      const notOlder = tText >= cur.text.length && tThinking >= cur.thinking.length && tEntries >= cur.entries.length;
      const behind = notOlder && (tText > cur.text.length || tThinking > cur.thinking.length || tEntries > cur.entries.length);
      const take = isFinalStatus(state.status) || (notOlder && (cur.stale || behind));
      if (take || !cur.inTrait) {
        if (take) this._replace(cur, state, true);
        cur.inTrait = true;
        this.emit({ type: "run", id: cur.id });
      }
    }
    for (const id of [...this.runs.keys()]) {
      const run = /** @type {Run} */ (this.runs.get(id));
      if (!seen.has(id) && run.inTrait) {
        this.runs.delete(id);
        orderChanged = true;
      }
    }
    const order = [];
    for (const state of trait) if (isRunState(state) && this.runs.has(state.id) && !order.includes(state.id)) order.push(state.id);
    for (const id of this.order) if (this.runs.has(id) && !seen.has(id)) order.push(id);
    if (orderChanged || order.length !== this.order.length || order.some((id, i) => id !== this.order[i])) {
      this.order = order;
      this.emit({ type: "order" });
    }
    if (this.resyncNeeded && ![...this.runs.values()].some((r) => r.stale)) this._setResync(false);
  }
}
