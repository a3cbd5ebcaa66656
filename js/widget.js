// lazystream-widget front end: the anywidget entry point.
//
// Data flow: kernel messages (msg:custom: run_start, delta, snapshot) and the
// synced `runs` trait feed ONE RunStore per model, set up in initialize() so
// nothing sent before the first view is lost. A gap in the message numbers
// makes the model's resyncer ask the kernel to catch the store up (control.js). Every view renders from that store,
// batching DOM work to one update per animation frame.
//
// DOM / class contract (browser tests rely on it; keep it stable):
//   .lsw-root                         the widget root (one per view)
//   .lsw-title                        the view's `title` trait (hidden when empty)
//   .lsw-live[role=status]            the view's one polite status region: "Run started",
//                                     "Tool X failed", "Answer complete" (never each token)
//   .lsw-run[data-run-id][data-status] one run; status running|done|error|cancelled
//     [data-flowing]                  text came within the last second: its spinners stand still
//   .lsw-query                        the run's query (header)
//   .lsw-status[data-status]          status line (spinner, elapsed, ttft, tokens, tok/s)
//   .lsw-stop                         Stop button (only while running) -> {type:"cancel", run} (js/control.js)
//   .lsw-stop-note                    why a Stop has no effect yet (kernel busy without subshells, no kernel)
//   .lsw-copy                         "Copy answer" (the result where there is one, else the text)
//   .lsw-copy-md / .lsw-save-html     "Copy as Markdown" / "Save as HTML" (once the run ended)
//   .lsw-thinking                     <details> thinking block (collapsed by default)
//   .lsw-scroll[aria-busy]            the answer's scroll region (busy while streaming or drawing)
//   .lsw-answer                       rendered markdown container
//     .lsw-md-frozen / .lsw-md-live   completed blocks / re-rendered tail
//     .lsw-code > .lsw-code-bar > .lsw-code-copy, pre > code   code blocks
//     .lsw-math[data-tex] > .katex    typeset formulas; .lsw-math-pending: one still streaming
//     .lsw-linked                     blocks written by the selected span
//   .lsw-result                       the run's result as "Final answer" (when it differs from the text)
//   .lsw-more                         "Show more" of a long answer
//   .lsw-error                        error message of a failed run (status error only; a
//                                     cancelled run's reason is the .lsw-status title)
//   .lsw-notices > .lsw-notice        one-line remarks about a run from the kernel (run.add_notice)
//   .lsw-resync                       "live updates were missed" notice
//   .lsw-trace                        <details> holding the trace (summary: spans and roll-ups)
//   .lsw-tree                         the trace: toolbar, tree, detail panel
//     .lsw-expand-all / .lsw-collapse-all / input.lsw-filter / .lsw-filter-status
//     .lsw-tree-viewport > .lsw-tree-list[role=tree]   the virtualised rows
//     .lsw-node[role=treeitem][data-span][data-kind][data-status][data-depth]  one row
//       [aria-level][aria-setsize][aria-posinset][aria-expanded (parents)][aria-selected]
//       (data-status running|ok|error|cancelled|requested; data-call="true": a tool call the
//       model is still writing or that has not run; data-orphan="true" when its parent never
//       arrived; foreign text lines: data-kind="text")
//       .lsw-toggle, .lsw-kind, .lsw-node-name, .lsw-node-meta, .lsw-events-badge,
//       .lsw-errors-below, .lsw-node-status, .lsw-duration, .lsw-bar > .lsw-bar-fill
//     .lsw-span-detail                 details of the selected span (.lsw-detail-content[data-span]):
//       .lsw-raw-toggle, .lsw-copy-span, .lsw-msg[data-role], .lsw-tool-call, table.lsw-kv,
//       .lsw-show-all, .lsw-cut-note

import { createAnnouncer } from "./announcer.js";
import { createResyncer } from "./control.js";
import { createFrameScheduler } from "./frame.js";
import { createRunView } from "./run-view.js";
import { RunStore } from "./store.js";

/**
 * @typedef {{
 *   get(name: string): any, set(name: string, value: any): void, save_changes(): void,
 *   on(name: string, cb: (...args: any[]) => void): void, off(name?: string|null, cb?: Function|null): void,
 *   send(content: any, callbacks?: any, buffers?: any[]): void,
 * }} AnyModel
 */

// anywidget hands initialize() and each render() a different proxy object of
// the same model, so the store cannot be keyed on the model object. It is
// keyed on the model's `layout` (a LayoutModel instance, unique per widget
// and shared by the proxies), and as a fallback on the current `runs` trait
// value (also shared: the listener below records every new value).
/** @type {WeakMap<object, RunStore>} */
const BY_LAYOUT = new WeakMap();
/** @type {WeakMap<object, RunStore>} */
const BY_RUNS = new WeakMap();

function layoutKey(model) {
  try {
    const layout = model.get("layout");
    return layout && typeof layout === "object" ? layout : null;
  } catch {
    return null;
  }
}

/**
 * Create the model's store and feed it from the model.
 * @param {AnyModel} model
 * @returns {{store: RunStore, cleanup: () => void}}
 */
export function attachStore(model) {
  const store = new RunStore();
  const onMessage = (msg) => {
    try {
      store.applyMessage(msg);
    } catch (err) {
      console.error("[lazystream-widget] bad message", err, msg);
    }
  };
  const onRuns = () => {
    const runs = model.get("runs");
    if (runs && typeof runs === "object") BY_RUNS.set(runs, store);
    try {
      store.applyRuns(runs);
    } catch (err) {
      console.error("[lazystream-widget] bad runs state", err);
    }
  };
  model.on("msg:custom", onMessage);
  model.on("change:runs", onRuns);
  const key = layoutKey(model);
  if (key) BY_LAYOUT.set(key, store);
  onRuns();
  const resyncer = createResyncer(model, store);
  return {
    store,
    cleanup() {
      resyncer.dispose();
      model.off("msg:custom", onMessage);
      model.off("change:runs", onRuns);
      if (key && BY_LAYOUT.get(key) === store) BY_LAYOUT.delete(key);
    },
  };
}

/** @param {AnyModel} model @returns {RunStore|undefined} */
export function findStore(model) {
  const key = layoutKey(model);
  const runs = model.get("runs");
  return (key && BY_LAYOUT.get(key)) || (runs && typeof runs === "object" ? BY_RUNS.get(runs) : undefined);
}

/**
 * Build a view of `store` into `el`.
 *
 * When to draw: a message that arrives while the view is idle (no frame pending, nothing drawn
 * since the last frame) is drawn in its own task, at the end of it (a microtask: every store
 * change of that task, e.g. a delta and the trait, in one draw), so it shows in the very next
 * frame; waiting for the next animation frame instead cost ~8 ms on average at 60 Hz (up to a
 * frame) on every token of a 50 tokens/s stream, where messages come farther apart than frames.
 * After a draw the view holds one animation frame: what arrives meanwhile is drawn once in that
 * frame, and while frames keep bringing work it stays on animation frames (one draw per frame
 * however many messages, as before), going idle again after a frame with nothing to draw.
 * @param {{store: RunStore, model: AnyModel, el: HTMLElement,
 *   raf?: (fn: FrameRequestCallback) => any, caf?: (h: any) => void,
 *   immediate?: boolean,
 *   now?: () => number, treeOptions?: any, answerOptions?: any}} opts
 *   immediate: draw a message that finds the view idle in its own task (default true; false: every
 *   draw waits for an animation frame, which tests with manual frames rely on)
 * @returns {{root: HTMLElement, frame(): void, destroy(): void}}
 */
export function createView(opts) {
  const { store, model, el } = opts;
  const doc = el.ownerDocument;
  const root = doc.createElement("div");
  root.className = "lsw-root";
  const title = doc.createElement("div");
  title.className = "lsw-title";
  const runsEl = doc.createElement("div");
  runsEl.className = "lsw-runs";
  const empty = doc.createElement("div");
  empty.className = "lsw-empty";
  empty.textContent = "No runs yet.";
  const announcer = createAnnouncer(doc, { now: opts.now });
  root.append(title, runsEl, empty, announcer.el);
  el.append(root);
  const onTitle = () => {
    const text = model.get("title");
    title.textContent = typeof text === "string" ? text : "";
    title.hidden = !title.textContent;
  };
  model.on("change:title", onTitle);
  onTitle();

  /** @type {Map<string, import("./run-view.js").RunView>} */
  const views = new Map();
  const dirty = new Set();
  let orderDirty = true;
  let destroyed = false;

  const immediate = opts.immediate ?? true;
  let work = false; // something to draw (a store change, a view asking, text left from the last draw)
  let soon = false; // a draw is queued at the end of the current task
  const scheduler = createFrameScheduler(
    () => {
      // a frame held after a draw with nothing new: idle again (the next message draws at once);
      // with work, draw it and hold the next frame too (a steady stream stays one draw per frame)
      if (!work) return;
      frame();
      if (immediate) scheduler.request();
    },
    { raf: opts.raf, caf: opts.caf },
  );
  /** Draw in the next animation frame (a view asking: "show more", a trace section opened, ...). */
  const request = () => {
    work = true;
    if (!destroyed) scheduler.request();
  };
  /** A store change: drawn at the end of this task when the view is idle, else in the frame held. */
  const onChange = () => {
    work = true;
    if (destroyed || soon || scheduler.pending) return;
    if (!immediate) {
      scheduler.request();
      return;
    }
    soon = true;
    queueMicrotask(() => {
      soon = false;
      if (destroyed || scheduler.pending) return;
      frame();
      scheduler.request(); // hold the next frame: a burst that follows is drawn there, once
    });
  };

  function reconcileOrder() {
    const ids = store.order;
    for (const [id, view] of views) {
      if (!store.runs.has(id)) {
        view.destroy();
        view.el.remove();
        views.delete(id);
      }
    }
    let cursor = runsEl.firstChild;
    ids.forEach((id, i) => {
      let view = views.get(id);
      if (!view) {
        const run = /** @type {import("./store.js").Run} */ (store.get(id));
        view = createRunView({
          run, model, doc, onNeedsFlush: request, now: opts.now, announce: announcer.announce,
          treeOptions: opts.treeOptions, answerOptions: opts.answerOptions,
        });
        views.set(id, view);
        dirty.delete(id);
      }
      view.setNewest(i === ids.length - 1);
      if (cursor === view.el) cursor = cursor.nextSibling;
      else runsEl.insertBefore(view.el, cursor);
    });
    empty.hidden = ids.length > 0;
  }

  function frame() {
    if (destroyed) return;
    work = false;
    if (orderDirty) {
      orderDirty = false;
      reconcileOrder();
    }
    for (const id of dirty) {
      const run = store.get(id);
      if (run) views.get(id)?.sync(run);
    }
    dirty.clear();
    let more = false;
    for (const view of views.values()) if (view.flush()) more = true;
    root.dataset.resync = String(store.resyncNeeded);
    if (more) request();
  }

  const unsubscribe = store.subscribe((event) => {
    if (event.type === "run") dirty.add(event.id);
    else orderDirty = true;
    onChange();
  });

  frame(); // what the store already has shows at once (saved state, second view)

  return {
    root,
    frame,
    destroy() {
      destroyed = true;
      unsubscribe();
      model.off("change:title", onTitle);
      scheduler.cancel();
      for (const view of views.values()) view.destroy();
      views.clear();
      root.remove();
    },
  };
}

export default {
  /** @param {{model: AnyModel}} ctx */
  initialize({ model }) {
    return attachStore(model).cleanup;
  },

  /** @param {{model: AnyModel, el: HTMLElement}} ctx */
  render({ model, el }) {
    let own = null;
    let store = findStore(model);
    if (!store) {
      // No initialize() ran for this model (another host): a view-owned store.
      own = attachStore(model);
      store = own.store;
    }
    const view = createView({ store, model, el });
    return () => {
      view.destroy();
      own?.cleanup();
    };
  },
};
