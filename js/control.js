// Browser -> kernel requests that must work while a notebook cell is busy:
// Stop (cancel one run) and resync (catch up after lost messages).
//
// Transport: the widget's own comm (model.send). The kernel routes these two
// message types to a kernel subshell (lazystream_widget/control.py), a thread
// of its own that answers while the main shell runs a cell; the synced
// `control_route` trait says whether it could:
//   "subshell"  handled at once, also while a cell is busy;
//   "frontend"  while busy only if the frontend sends widget messages to a
//               subshell (ipykernel 7.0-7.3 routes by the frontend's choice);
//   "shell"     the request waits for the running cell (no subshells);
//   "none"      not in a kernel.
// The kernel acknowledges a Stop with a control_reply. With no reply after
// STOP_NO_REPLY_MS the Stop button says why instead of looking dead.
//
// Bounds mirror lazystream_widget/limits.py (STOP_NO_REPLY_MS, RESYNC_*).

import { cancelMessage, MSG_CANCEL, MSG_CONTROL_REPLY, MSG_RESYNC } from "./protocol.js";

/** With no reply to Stop after this long, the button explains the wait. */
export const STOP_NO_REPLY_MS = 1500;
/** First resync request after a gap goes after this long (lets a burst of gaps settle into one request)... */
export const RESYNC_MIN_INTERVAL_MS = 250;
/** ...each further one of the same episode waits twice as long as the last, up to this... */
export const RESYNC_MAX_INTERVAL_MS = 4000;
/** ...a request with no reply is repeated after this long... */
export const RESYNC_RETRY_MS = 2000;
/** ...at most this many times in a row (then the run's final state, sent last, catches up). */
export const RESYNC_MAX_ATTEMPTS = 5;

/**
 * @typedef {{get(name: string): any, send(content: any): void,
 *   on(name: string, cb: Function): void, off(name?: string|null, cb?: Function|null): void}} ControlModel
 * @typedef {{type: "control_reply", request: "cancel", run: string, ok: boolean, status: string, thread: string}}
 *   ControlReply
 */

/** @param {ControlModel} model @returns {"subshell"|"frontend"|"shell"|"none"|string} */
export function controlRoute(model) {
  try {
    const route = model.get("control_route");
    return typeof route === "string" && route ? route : "none";
  } catch {
    return "none";
  }
}

/** @returns {boolean} whether the message left (false: no kernel connection, e.g. a static page) */
function send(model, content) {
  try {
    model.send(content);
    return true;
  } catch (err) {
    console.warn("[lazystream-widget] could not reach the kernel", err);
    return false;
  }
}

/**
 * Ask the kernel to stop a run.
 * @param {ControlModel} model
 * @param {string} runId
 * @param {{onReply?: (reply: ControlReply) => void, onNoReply?: () => void, onNotSent?: () => void,
 *   win?: {setTimeout: typeof setTimeout, clearTimeout: typeof clearTimeout}}} [hooks]
 *   onNoReply: no acknowledgement after STOP_NO_REPLY_MS (the request may still arrive later);
 *   onNotSent: the page has no kernel connection.
 * @returns {{dispose(): void}} stops listening (call when the run ended or the view goes)
 */
export function requestCancel(model, runId, hooks = {}) {
  const win = hooks.win ?? globalThis;
  let timer = null;
  let listening = true;
  const onMessage = (msg) => {
    if (msg && msg.type === MSG_CONTROL_REPLY && msg.request === MSG_CANCEL && msg.run === runId) {
      dispose();
      hooks.onReply?.(msg);
    }
  };
  function dispose() {
    if (timer !== null) win.clearTimeout(timer);
    timer = null;
    if (listening) model.off("msg:custom", onMessage);
    listening = false;
  }
  model.on("msg:custom", onMessage);
  if (!send(model, cancelMessage(runId))) {
    dispose();
    hooks.onNotSent?.();
  } else {
    timer = win.setTimeout(() => {
      timer = null;
      hooks.onNoReply?.();
    }, STOP_NO_REPLY_MS);
  }
  return { dispose };
}

/**
 * The resync request for what `store` holds: every run with the status it shows, and the stale ones.
 * @param {import("./store.js").RunStore} store
 */
export function resyncMessage(store) {
  /** @type {Record<string, string>} */
  const runs = {};
  const stale = [];
  for (const run of store.list()) {
    runs[run.id] = run.status;
    if (run.stale) stale.push(run.id);
  }
  return { type: MSG_RESYNC, runs, stale };
}

/**
 * While the store reports a gap (resyncNeeded), ask the kernel for what was lost: the first request soon
 * after the gap, further ones backing off, and at most RESYNC_MAX_ATTEMPTS unanswered in a row.
 * @param {ControlModel} model
 * @param {import("./store.js").RunStore} store
 * @param {{win?: {setTimeout: typeof setTimeout, clearTimeout: typeof clearTimeout}}} [opts]
 * @returns {{dispose(): void, readonly requests: number}}
 */
export function createResyncer(model, store, opts = {}) {
  const win = opts.win ?? globalThis;
  let timer = null;
  let unanswered = 0;
  let interval = RESYNC_MIN_INTERVAL_MS;
  let requests = 0;

  function schedule(ms) {
    if (timer !== null) return; // one request pending at a time
    timer = win.setTimeout(fire, ms);
  }
  function cancelTimer() {
    if (timer !== null) win.clearTimeout(timer);
    timer = null;
  }
  function fire() {
    timer = null;
    if (!store.resyncNeeded || unanswered >= RESYNC_MAX_ATTEMPTS) return;
    if (!send(model, resyncMessage(store))) return; // no kernel: only the saved state can help
    requests++;
    unanswered++;
    schedule(RESYNC_RETRY_MS);
  }
  const unsubscribe = store.subscribe((event) => {
    if (event.type === "resync" && event.needed) {
      schedule(interval);
    } else if (event.type === "resync") {
      cancelTimer(); // caught up
      unanswered = 0;
      interval = RESYNC_MIN_INTERVAL_MS;
    } else if (event.type === "snapshot") {
      unanswered = 0;
      cancelTimer();
      if (store.resyncNeeded) {
        // more was lost meanwhile: ask again, backing off (a snapshot can be large)
        interval = Math.min(interval * 2, RESYNC_MAX_INTERVAL_MS);
        schedule(interval);
      }
    }
  });
  if (store.resyncNeeded) schedule(interval);
  return {
    dispose() {
      cancelTimer();
      unsubscribe();
    },
    get requests() {
      return requests;
    },
  };
}
