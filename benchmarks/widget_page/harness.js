// Browser benchmark harness (driven by benchmarks/widget_browser.py through Playwright).
//
// A fake anywidget host around the REAL bundle: a model with get/set/on/off/send/
// save_changes that emits `msg:custom` (listeners get (content, buffers)) and
// `change:<name>` like anywidget / Backbone do, initialize() + render() into a div,
// and a fake kernel that sends what StreamView sends: a `run_start` message, the
// `runs` trait with the running state, `delta` messages (mseq-numbered, stats about
// once a second), then the `runs` trait with the final state.
//
// Every kernel message is delivered in its own task (as a websocket message would
// be). Timing: each synchronous delivery and each animation-frame callback of the
// widget is timed here; `longtask` entries are observed; the Python side adds CDP
// Performance.getMetrics (TaskDuration) around the scenarios.

const params = new URLSearchParams(location.search);
const BUNDLE = params.get("bundle") || "/static/widget.js";

// ------------------------------------------------------------------ timing

const stats = { feedMs: 0, feedMax: 0, feedCount: 0, frameMs: 0, frameMax: 0, frameCount: 0 };
/** Widget frames over 50 ms: [ms, deliveries since the previous widget frame]. */
let slowFrames = [];
let deliveredSinceFrame = 0;
function resetStats() {
  for (const k of Object.keys(stats)) stats[k] = 0;
  slowFrames = [];
}
function record(kind, ms) {
  stats[`${kind}Ms`] += ms;
  stats[`${kind}Count`] += 1;
  if (ms > stats[`${kind}Max`]) stats[`${kind}Max`] = ms;
  if (kind === "feed") deliveredSinceFrame++;
  else {
    if (ms > 50) slowFrames.push([Math.round(ms), deliveredSinceFrame]);
    deliveredSinceFrame = 0;
  }
}

/** @type {{start: number, duration: number}[]} */
const longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true });
} catch (err) {
  console.warn("no longtask observer", err);
}

// The widget's animation-frame callbacks are timed; the harness uses the native
// requestAnimationFrame so that `liveFrames` counts the widget's pending frames only.
const nativeRaf = window.requestAnimationFrame.bind(window);
const nativeCaf = window.cancelAnimationFrame.bind(window);
const liveFrames = new Set();
window.requestAnimationFrame = (fn) => {
  const handle = nativeRaf((t) => {
    liveFrames.delete(handle);
    const t0 = performance.now();
    try {
      fn(t);
    } finally {
      record("frame", performance.now() - t0);
    }
  });
  liveFrames.add(handle);
  return handle;
};
window.cancelAnimationFrame = (handle) => {
  liveFrames.delete(handle);
  nativeCaf(handle);
};

const nextFrame = () => new Promise((resolve) => nativeRaf(() => resolve()));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Wait until the widget has no animation frame pending for two frames in a row. */
async function settle(maxMs = 60000) {
  const end = performance.now() + maxMs;
  let quiet = 0;
  while (quiet < 2 && performance.now() < end) {
    await nextFrame();
    quiet = liveFrames.size === 0 ? quiet + 1 : 0;
  }
  // and let the frame's rendering finish
  await sleep(0);
}

// One task per delivery (MessageChannel: not clamped like nested setTimeout).
const channel = new MessageChannel();
const taskQueue = [];
channel.port1.onmessage = () => {
  const job = taskQueue.shift();
  if (job) job();
};
function inTask(fn) {
  return new Promise((resolve, reject) => {
    taskQueue.push(() => {
      const t0 = performance.now();
      try {
        fn();
      } catch (err) {
        reject(err);
      } finally {
        // after the microtasks the delivery queued (the widget draws a message that finds it idle
        // at the end of the message's task): they are the delivery's work too
        queueMicrotask(() => {
          record("feed", performance.now() - t0);
          resolve();
        });
      }
    });
    channel.port2.postMessage(0);
  });
}

// ------------------------------------------------------------------ fake anywidget model

class FakeModel {
  constructor(state) {
    this.state = { ...state };
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map();
    this.sent = [];
  }
  get(name) {
    return this.state[name];
  }
  set(name, value) {
    const old = this.state[name];
    this.state[name] = value;
    if (old !== value) {
      this._emit(`change:${name}`, this, value);
      this._emit("change", this);
    }
  }
  on(name, cb) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(cb);
  }
  off(name, cb) {
    if (!name) this.listeners.clear();
    else if (!cb) this.listeners.delete(name);
    else this.listeners.get(name)?.delete(cb);
  }
  send(content, _callbacks, _buffers) {
    this.sent.push(content);
  }
  save_changes() {}
  _emit(name, ...args) {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const cb of [...set]) cb(...args);
  }
  // --- what the kernel side does
  kernelMessage(content) {
    this._emit("msg:custom", content, []);
  }
  kernelState(name, value) {
    this.set(name, value);
  }
}

/** anywidget hands initialize() and each render() their own proxy of the model. */
function proxy(model) {
  return {
    get: (n) => model.get(n),
    set: (n, v) => model.set(n, v),
    on: (n, cb) => model.on(n, cb),
    off: (n, cb) => model.off(n, cb),
    send: (c, cbs, bufs) => model.send(c, cbs, bufs),
    save_changes: () => model.save_changes(),
  };
}

// ------------------------------------------------------------------ markdown-ish token source

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  "the model stream token answer widget render browser frame delta kernel trace span agent tool query result " +
  "value buffer queue reader writer latency budget linear block paragraph list code fence table quote python " +
  "function return index array object string number markdown parser incremental frozen live tail update " +
  "message comm notebook session runner thread process cache memory layout style paint script task"
).split(" ");

/** Markdown-ish text (headings, paragraphs, lists, code fences, quotes, tables) cut into ~4-character tokens. */
class TokenSource {
  /**
   * @param {number} seed
   * @param {"mixed"|"separated"} text "separated": a paragraph between two lists or two quotes
   *   that would otherwise be adjacent (a diagnostic variant; the figures use "mixed")
   */
  constructor(seed = 1, text = "mixed") {
    this.rand = mulberry32(seed);
    this.buf = [];
    this.pos = 0;
    this.blocks = 0;
    this.separated = text === "separated";
    this.lastFamily = "";
  }
  int(lo, hi) {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }
  word() {
    return WORDS[Math.floor(this.rand() * WORDS.length)];
  }
  words(lo, hi) {
    const n = this.int(lo, hi);
    const out = [];
    for (let i = 0; i < n; i++) out.push(this.word());
    return out.join(" ");
  }
  sentence() {
    const parts = [];
    const n = this.int(6, 16);
    for (let i = 0; i < n; i++) {
      const r = this.rand();
      if (r < 0.05) parts.push(`**${this.word()} ${this.word()}**`);
      else if (r < 0.1) parts.push(`\`${this.word()}_${this.word()}()\``);
      else if (r < 0.12) parts.push(`[${this.word()}](https://example.com/${this.word()}/${this.int(1, 999)})`);
      else if (r < 0.14) parts.push(`*${this.word()}*`);
      else parts.push(this.word());
    }
    const s = parts.join(" ");
    return s[0].toUpperCase() + s.slice(1) + (this.rand() < 0.1 ? "?" : ".");
  }
  block() {
    this.blocks++;
    const r = this.rand();
    if (this.blocks % 12 === 1 || r < 0.1) return `## ${this.words(2, 5)}\n\n`;
    if (r < 0.45) {
      const n = this.int(2, 6);
      const out = [];
      for (let i = 0; i < n; i++) out.push(this.sentence());
      return out.join(" ") + "\n\n";
    }
    if (r < 0.6) {
      const n = this.int(3, 7);
      let out = "";
      for (let i = 0; i < n; i++) out += `- ${this.sentence()}\n`;
      return out + "\n";
    }
    if (r < 0.68) {
      const n = this.int(3, 6);
      let out = "";
      for (let i = 0; i < n; i++) out += `${i + 1}. ${this.words(3, 12)}\n`;
      return out + "\n";
    }
    if (r < 0.85) {
      const lang = ["python", "js", "bash", ""][this.int(0, 3)];
      const n = this.int(3, 14);
      let out = "```" + lang + "\n";
      for (let i = 0; i < n; i++) {
        const indent = "    ".repeat(this.int(0, 2));
        out += `${indent}${this.word()}_${this.word()} = ${this.word()}(${this.word()}, ${this.int(0, 99)})  # ${this.words(1, 4)}\n`;
      }
      return out + "```\n\n";
    }
    if (r < 0.92) return `> ${this.sentence()} ${this.sentence()}\n\n`;
    const rows = this.int(2, 5);
    let out = `| ${this.word()} | ${this.word()} | ${this.word()} |\n|---|---|---|\n`;
    for (let i = 0; i < rows; i++) out += `| ${this.word()} | ${this.int(0, 999)} | ${this.words(1, 3)} |\n`;
    return out + "\n";
  }
  familyBlock() {
    let b = this.block();
    const fam = /^(- |\d+\. )/.test(b) ? "list" : b.startsWith("> ") ? "quote" : "";
    if (this.separated && fam && fam === this.lastFamily) b = `${this.sentence()}\n\n${b}`;
    this.lastFamily = fam;
    return b;
  }
  next() {
    while (this.pos >= this.buf.length) {
      this.buf = this.familyBlock().match(/\n+|[ \t]*[^\s]{1,5}|[ \t]+/g) || [];
      this.pos = 0;
    }
    return this.buf[this.pos++];
  }
  take(n) {
    let s = "";
    for (let i = 0; i < n; i++) s += this.next();
    return s;
  }
}

// ------------------------------------------------------------------ fake kernel

let runCounter = 0;

class FakeKernel {
  constructor(model, query) {
    this.model = model;
    this.mseq = 0;
    this.id = `bench${++runCounter}`;
    this.query = query;
    this.parts = [];
    this.tokens = 0;
    this.startedAt = Date.now() / 1000;
    this.statsAt = 0;
  }
  runStats() {
    return { tokens: this.tokens, ttft_ms: 120.5, elapsed_ms: Math.round(Date.now() - this.startedAt * 1000) };
  }
  state(status, text) {
    return {
      id: this.id, query: this.query, status, text: text ?? this.parts.join(""), thinking: "", entries: [],
      error: null, result: null, started_at: this.startedAt, ended_at: status === "running" ? null : Date.now() / 1000,
      stats: this.runStats(),
    };
  }
  start() {
    this.model.kernelMessage({ type: "run_start", mseq: ++this.mseq, run: this.state("running", "") });
    this.model.kernelState("runs", [this.state("running", "")]);
  }
  delta(text, tokens) {
    this.parts.push(text);
    this.tokens += tokens;
    const msg = { type: "delta", mseq: ++this.mseq, run: this.id, text };
    const now = performance.now();
    if (now - this.statsAt >= 1000) {
      msg.stats = this.runStats();
      this.statsAt = now;
    }
    this.model.kernelMessage(msg);
  }
  /** The final `runs` trait value, built outside the timed delivery (that is the kernel's work). */
  finalRuns() {
    return [this.state("done")];
  }
  finish(runs = this.finalRuns()) {
    this.model.kernelState("runs", runs);
  }
}

// ------------------------------------------------------------------ mounting

let widget = null;
let mounted = null;

async function loadBundle() {
  if (!widget) widget = (await import(BUNDLE)).default;
  return widget;
}

async function mount(initial = {}) {
  const w = await loadBundle();
  const host = document.getElementById("host");
  const el = document.createElement("div");
  host.append(el);
  const model = new FakeModel({ runs: [], title: "", layout: { id: `layout${runCounter}` }, ...initial });
  const cleanupInit = w.initialize ? await w.initialize({ model: proxy(model) }) : null;
  const cleanupRender = await w.render({ model: proxy(model), el });
  mounted = { model, el, cleanupInit, cleanupRender };
  return mounted;
}

function unmount() {
  if (!mounted) return;
  if (typeof mounted.cleanupRender === "function") mounted.cleanupRender();
  if (typeof mounted.cleanupInit === "function") mounted.cleanupInit();
  mounted.el.remove();
  mounted = null;
}

function snapshot(since) {
  const lt = longTasks.filter((t) => t.start >= since);
  return {
    ...stats,
    longTaskMax: lt.reduce((m, t) => Math.max(m, t.duration), 0),
    longTaskCount: lt.length,
    longTaskMs: lt.reduce((s, t) => s + t.duration, 0),
    slowFrames: slowFrames.slice(0, 50),
    heapMB: performance.memory ? performance.memory.usedJSHeapSize / 1e6 : null,
  };
}

function answerInfo() {
  const root = mounted?.el;
  return {
    chars: root?.querySelector(".lsw-answer")?.textContent.length ?? 0,
    status: root?.querySelector(".lsw-run")?.dataset.status ?? null,
    frozen: root?.querySelectorAll(".lsw-md-frozen > *").length ?? 0,
    more: !(root?.querySelector(".lsw-more")?.hidden ?? true),
    nodes: root?.querySelectorAll(".lsw-node").length ?? 0,
    domNodes: root?.getElementsByTagName("*").length ?? 0,
  };
}

// ------------------------------------------------------------------ scenarios

/** A warm-up stream on a throw-away view, so the measured streams do not start with cold JIT. */
async function warmup(tokens = 3000) {
  const { model } = await mount();
  const src = new TokenSource(99);
  const k = new FakeKernel(model, "warm-up");
  await inTask(() => k.start());
  for (let i = 0; i < tokens; i += 100) {
    for (let j = 0; j < 10; j++) {
      const text = src.take(10);
      await inTask(() => k.delta(text, 10));
    }
    await nextFrame();
  }
  await inTask(() => k.finish());
  await settle();
  unmount();
  await sleep(50);
}

let stream = null;

/** Mount a view, start a run, and pre-generate `deltas` deltas of `perDelta` tokens. */
async function streamPrepare({ deltas, perDelta = 10, seed = 1, query = "benchmark", text = "mixed" }) {
  const { model } = await mount();
  const src = new TokenSource(seed, text);
  const texts = new Array(deltas);
  for (let i = 0; i < deltas; i++) texts[i] = src.take(perDelta);
  const kernel = new FakeKernel(model, query);
  await inTask(() => kernel.start());
  await settle();
  stream = { kernel, texts, perDelta, next: 0 };
  return { chars: texts.reduce((s, t) => s + t.length, 0) };
}

/** Feed deltas [from, to) as fast as the page takes them: `perFrame` deltas (one task each) per frame. */
async function streamFeed({ from, to, perFrame = 10 }) {
  const { kernel, texts, perDelta } = stream;
  const since = performance.now();
  resetStats();
  for (let i = from; i < to; i += perFrame) {
    const end = Math.min(to, i + perFrame);
    for (let j = i; j < end; j++) {
      const text = texts[j];
      await inTask(() => kernel.delta(text, perDelta));
    }
    await nextFrame();
  }
  await settle();
  return { ...snapshot(since), wallMs: performance.now() - since };
}

/** Feed deltas [from, to) paced at `intervalMs` per message (a model at a fixed rate, coalesced by the runner). */
async function streamPaced({ from, to, intervalMs }) {
  const { kernel, texts, perDelta } = stream;
  const since = performance.now();
  resetStats();
  let late = 0;
  for (let i = from; i < to; i++) {
    const due = since + (i - from) * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else late++;
    const text = texts[i];
    await inTask(() => kernel.delta(text, perDelta));
  }
  await settle();
  return { ...snapshot(since), wallMs: performance.now() - since, late };
}

async function streamFinish() {
  const since = performance.now();
  resetStats();
  const runs = stream.kernel.finalRuns();
  await inTask(() => stream.kernel.finish(runs));
  await settle();
  return { ...snapshot(since), wallMs: performance.now() - since, info: answerInfo() };
}

/** A big answer (`chars` characters in `messages` deltas at `rate` msg/s), then its final state. */
async function bigAnswer({ chars, messages, rate = 30, seed = 7, text = "mixed" }) {
  const { model } = await mount();
  const src = new TokenSource(seed, text);
  const per = Math.ceil(chars / messages);
  const texts = [];
  const counts = [];
  let total = 0;
  while (total < chars) {
    let s = "";
    let n = 0;
    while (s.length < per) {
      s += src.next();
      n++;
    }
    texts.push(s);
    counts.push(n);
    total += s.length;
  }
  const kernel = new FakeKernel(model, "a 10 MB answer");
  await inTask(() => kernel.start());
  await settle();
  await sleep(100);
  const since = performance.now();
  resetStats();
  const interval = 1000 / rate;
  for (let i = 0; i < texts.length; i++) {
    const wait = since + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    const text = texts[i];
    await inTask(() => kernel.delta(text, counts[i]));
  }
  await settle();
  const streamed = snapshot(since);
  const streamInfo = answerInfo();
  const runs = kernel.finalRuns();
  const since2 = performance.now();
  resetStats();
  await inTask(() => kernel.finish(runs));
  await settle();
  const final = snapshot(since2);
  return {
    chars: total, messages: texts.length, stream: streamed, final, wallMs: performance.now() - since,
    streamInfo, info: answerInfo(),
  };
}

/** Entries of a realistic trace: an agent, flow steps, llm / tool leaves, a few events. */
function traceEntries(n, t0) {
  const entries = [];
  let seq = 0;
  let ts = t0;
  let spanNo = 0;
  const id = () => (++spanNo).toString(16).padStart(16, "0");
  const push = (e) => entries.push({ v: 1, seq: ++seq, ts: (ts += 0.0005), ...e });
  const root = id();
  push({ event: "start", span: root, parent: null, name: "ReactAgent", kind: "agent", input: "plan a trip", attrs: {} });
  let step = 0;
  while (entries.length < n - 1) {
    const flow = id();
    step++;
    push({ event: "start", span: flow, parent: root, name: `step ${step}`, kind: "flow", input: { step } });
    for (let i = 0; i < 24 && entries.length < n - 3; i++) {
      const leaf = id();
      if (i % 2 === 0) {
        push({ event: "start", span: leaf, parent: flow, name: "gpt-4o-mini", kind: "llm", input: [{ role: "user", content: `question ${i}` }], attrs: { model: "gpt-4o-mini" } });
        if (i % 8 === 0) push({ event: "event", span: leaf, name: "retry", attrs: { attempt: 2 } });
        push({ event: "end", span: leaf, name: "gpt-4o-mini", kind: "llm", status: "ok", output: `answer ${i}`, duration_ms: 420.5, usage: { prompt_tokens: 120, completion_tokens: 30, total_tokens: 150 } });
      } else {
        push({ event: "start", span: leaf, parent: flow, name: "search", kind: "tool", input: { query: `q${i}` } });
        push({ event: "end", span: leaf, name: "search", kind: "tool", status: "ok", output: { hits: i }, duration_ms: 12.5 });
      }
    }
    push({ event: "end", span: flow, name: `step ${step}`, kind: "flow", status: "ok", output: null, duration_ms: 5000 });
  }
  push({ event: "end", span: root, name: "ReactAgent", kind: "agent", status: "ok", output: "done", duration_ms: 60000 });
  return entries.slice(0, n);
}

/** Load a final state holding an `entries`-entry trace into a mounted view. */
async function bigTrace({ entries }) {
  const { model } = await mount();
  const t0 = Date.now() / 1000 - 60;
  const state = {
    id: `trace${++runCounter}`, query: "a 100,000-entry trace", status: "done", text: "The agent finished.",
    thinking: "", entries: traceEntries(entries, t0), error: null, result: null, started_at: t0, ended_at: t0 + 60,
    stats: { tokens: 4, ttft_ms: 300, elapsed_ms: 60000 },
  };
  // what Jupyter would do first: parse the message (not the widget's cost; reported apart)
  const json = JSON.stringify({ runs: [state] });
  const p0 = performance.now();
  const parsed = JSON.parse(json);
  const parseMs = performance.now() - p0;
  await sleep(100);
  const since = performance.now();
  resetStats();
  await inTask(() => model.kernelState("runs", parsed.runs));
  await settle();
  return {
    ...snapshot(since), wallMs: performance.now() - since, parseMs, jsonMB: json.length / 1e6,
    entries: state.entries.length, info: answerInfo(),
  };
}

/**
 * The trace filter (benchmarks/trace_filter.py): a final state with `entries` trace entries, the
 * filter box focused (its search index builds in the background), then each query typed one
 * keystroke at a time. Per keystroke: the widget's work (the input handler plus its frames until
 * idle) and the wall time until the filtered rows are drawn.
 */
async function filterKeystrokes({ entries, queries }) {
  await bigTrace({ entries });
  const el = mounted.el;
  const input = el.querySelector(".lsw-filter");
  const t0 = performance.now();
  input.focus();
  await settle();
  const indexMs = performance.now() - t0;
  const keys = [];
  for (const query of queries) {
    for (let i = 1; i <= query.length; i++) {
      resetStats();
      const since = performance.now();
      input.value = query.slice(0, i);
      const h0 = performance.now();
      input.dispatchEvent(new Event("input"));
      const handlerMs = performance.now() - h0;
      await settle();
      const lt = longTasks.filter((t) => t.start >= since);
      keys.push({
        query: input.value, handlerMs, workMs: handlerMs + stats.frameMs, frameMax: stats.frameMax,
        wallMs: performance.now() - since, longTaskMax: lt.reduce((m, t) => Math.max(m, t.duration), 0),
        rows: el.querySelectorAll(".lsw-node").length,
        status: el.querySelector(".lsw-filter-status")?.textContent ?? "",
      });
    }
    input.value = "";
    input.dispatchEvent(new Event("input"));
    await settle();
  }
  return { indexMs, keys };
}

async function idle(ms) {
  const since = performance.now();
  resetStats();
  await sleep(ms);
  return { ...snapshot(since), wallMs: performance.now() - since };
}

window.harness = {
  ready: loadBundle().then(() => true),
  mount, unmount, warmup, streamPrepare, streamFeed, streamPaced, streamFinish, bigAnswer, bigTrace, idle,
  filterKeystrokes,
  answerInfo, TokenSource,
};
