// Shared test helpers: a fake anywidget model, a manual frame scheduler, a
// manual clock, and DOM normalization for comparing markdown renders.

/**
 * A fake anywidget model. `proxy()` returns a fresh object per call, like
 * anywidget does for initialize and for each view (so tests catch code that
 * relies on the identity of the model object).
 * @param {Record<string, any>} [state]
 */
export function createFakeModel(state = {}) {
  const attrs = { runs: [], layout: { id: "layout-model" }, ...state };
  /** @type {Map<string, Set<Function>>} */
  const listeners = new Map();
  const sent = [];
  const model = {
    sent,
    listeners,
    get: (k) => attrs[k],
    set: (k, v) => {
      attrs[k] = v;
      for (const fn of [...(listeners.get(`change:${k}`) ?? [])]) fn();
    },
    save_changes() {},
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(fn);
    },
    off(name, fn) {
      if (!name) return listeners.clear();
      if (!fn) return listeners.delete(name);
      listeners.get(name)?.delete(fn);
    },
    send(content) {
      sent.push(content);
    },
    /** kernel -> browser custom message */
    emitCustom(msg) {
      for (const fn of [...(listeners.get("msg:custom") ?? [])]) fn(msg, []);
    },
    /** the kernel sets the runs trait */
    setRuns(runs) {
      model.set("runs", runs);
    },
    listenerCount(name) {
      return listeners.get(name)?.size ?? 0;
    },
    proxy() {
      return {
        get: model.get,
        set: model.set,
        save_changes: model.save_changes,
        send: model.send,
        on: model.on,
        off: model.off,
        widget_manager: {},
      };
    },
  };
  return model;
}

/** requestAnimationFrame stand-in: callbacks run when the test calls run(). */
export function createManualFrames() {
  let queue = [];
  let id = 0;
  return {
    raf(fn) {
      queue.push({ id: ++id, fn });
      return id;
    },
    caf(handle) {
      queue = queue.filter((q) => q.id !== handle);
    },
    get pending() {
      return queue.length;
    },
    /** Run queued frames (and the frames they queue), up to `max` rounds. */
    run(max = 100) {
      for (let i = 0; i < max && queue.length; i++) {
        const q = queue;
        queue = [];
        for (const { fn } of q) fn(performance.now());
      }
    },
  };
}

/** Top-level nodes of a rendered markdown container, normalized to compare
 * the widget's DOM with a one-shot markdown-it render. */
export function normalizedBlocks(nodes) {
  const out = [];
  for (const node of nodes) {
    if (node.nodeType === 3) {
      if (node.textContent.trim()) out.push(node.textContent);
      continue;
    }
    if (node.nodeType !== 1) continue;
    const clone = node.cloneNode(true);
    const unwrap = (el) => el.replaceWith(...Array.from(el.childNodes));
    let root = clone;
    for (const bar of Array.from(root.querySelectorAll(".lsw-code-bar"))) bar.remove();
    if (root.classList.contains("lsw-code")) {
      root.querySelector(".lsw-code-bar")?.remove();
      root = root.querySelector("pre");
    }
    for (const box of Array.from(root.querySelectorAll(".lsw-code"))) unwrap(box);
    for (const code of Array.from(root.querySelectorAll("code"))) {
      code.textContent = code.textContent;
      code.classList.remove("hljs");
      if (!code.classList.length) code.removeAttribute("class");
    }
    for (const a of Array.from(root.querySelectorAll("a"))) {
      a.removeAttribute("target");
      a.removeAttribute("rel");
    }
    out.push(root.outerHTML);
  }
  return out;
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** CPU time of this test process in ms. Unlike the wall clock it does not run on while the machine's
 * other processes have the cores, so a cost comparison or a guard against a blow-up measures our code,
 * not the machine's load. (The process's other threads, e.g. V8's garbage collector, count too.) */
export function cpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
