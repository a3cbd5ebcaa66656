// The view of one run: the query as a header, its notices, the answer box, and the trace (tree,
// filter, details) in a collapsible section, the answer and the trace linked. It consumes the
// store's run incrementally (see the generation counters in store.js).

import { createAnswerBox } from "./answer.js";
import { setHidden } from "./dom-write.js";
import { linkAnswerAndTrace } from "./linking.js";
import { isFinalStatus } from "./protocol.js";
import { formatCount, formatRollup } from "./rollups.js";
import { TraceView } from "./trace-view.js";
import { interleavedNotice, interleavedWriters } from "./writers.js";

/** @typedef {import("./store.js").Run} Run */

/** The accessible name of a run's trace tree: "Trace of: <query>" (several runs' trees told apart). */
export function traceLabel(query) {
  const q = String(query ?? "").replace(/\s+/g, " ").trim();
  if (!q) return "Trace";
  return `Trace of: ${q.length > 80 ? `${q.slice(0, 79)}…` : q}`;
}

/**
 * @typedef {{
 *   el: HTMLElement,
 *   sync(run: Run): void,
 *   flush(): boolean,
 *   setNewest(newest: boolean): void,
 *   destroy(): void,
 *   tree: TraceView,
 * }} RunView
 */

/**
 * @param {{
 *   run: Run,
 *   model: {send(content: any): void, get(name: string): any},
 *   doc?: Document,
 *   onNeedsFlush: () => void,
 *   now?: () => number,
 *   announce?: (text: string) => void,
 *   treeOptions?: ConstructorParameters<typeof TraceView>[0],
 *   answerOptions?: {maxChars?: number, highlight?: boolean},
 * }} opts
 * @returns {RunView}
 */
export function createRunView(opts) {
  const doc = opts.doc ?? document;
  const announce = opts.announce ?? (() => {});
  let run = opts.run;

  const el = doc.createElement("section");
  el.className = "lsw-run";
  el.dataset.runId = run.id;
  const header = doc.createElement("div");
  header.className = "lsw-run-header";
  const query = doc.createElement("div");
  query.className = "lsw-query";
  header.append(query);
  // One-line remarks about the run (e.g. why nothing streamed), from the kernel.
  const notices = doc.createElement("ul");
  notices.className = "lsw-notices";
  notices.hidden = true;
  let noticesShown = "";

  const answer = createAnswerBox({
    run, model: opts.model, doc, now: opts.now, announce, onNeedsFlush: opts.onNeedsFlush, ...opts.answerOptions,
    onFlowing: (flowing) => el.toggleAttribute("data-flowing", flowing), // its spinners stand still (CSS)
  });

  const trace = /** @type {HTMLDetailsElement} */ (doc.createElement("details"));
  trace.className = "lsw-trace";
  trace.open = true;
  const summary = doc.createElement("summary");
  summary.className = "lsw-trace-summary";
  const tree = new TraceView({
    label: traceLabel(run.query), doc, now: opts.now, onNeedsFlush: opts.onNeedsFlush, ...opts.treeOptions,
    onSelect: (node) => links.show(node),
    onFailures: (nodes) => {
      if (!answer.sawRunning) return; // saved state: nothing is happening now
      for (const n of nodes) if (n.kind === "tool" || n.kind === "llm") announce(`${n.kind === "tool" ? "Tool" : "Model call"} ${n.name} failed`);
    },
  });
  trace.append(summary, tree.el);
  trace.hidden = true;
  const links = linkAnswerAndTrace({
    tree, renderer: answer.renderer, answerEl: answer.answerEl, scrollEl: answer.scrollEl, thinking: answer.thinking,
    getRun: () => run,
  });
  // The tree's DOM is only kept up to date while its section is open.
  const onToggle = () => {
    if (trace.open) opts.onNeedsFlush();
  };
  trace.addEventListener("toggle", onToggle);

  el.append(header, notices, answer.el, trace);

  let entriesGen = -1;
  let entriesLen = 0;
  let newest = true;
  /** @type {string|undefined} */
  let shownQuery;

  function sync(next) {
    run = next;
    // called for every message of a stream: DOM written only where it changes (each write, even of
    // the same value, costs the frame a style pass)
    if (el.dataset.status !== run.status) el.dataset.status = run.status;
    if (run.query !== shownQuery) {
      shownQuery = run.query;
      query.textContent = run.query || "(no query)";
      query.title = run.query || "";
      tree.listEl.setAttribute("aria-label", traceLabel(run.query));
    }
    renderNotices();
    answer.sync(run);
    if (run.entriesGen !== entriesGen) {
      tree.reset();
      entriesGen = run.entriesGen;
      entriesLen = 0;
    }
    tree.setPrices(run.prices, run.currency);
    tree.setOrigin(typeof run.started_at === "number" ? run.started_at : null);
    if (run.entries.length > entriesLen) {
      tree.addEntries(run.entries.slice(entriesLen));
      entriesLen = run.entries.length;
    }
    tree.setFinal(isFinalStatus(run.status));
    setHidden(trace, run.entries.length === 0);
  }

  // the kernel's notices, and one of ours when parallel model calls interleaved in the answer
  // (checked once the run has ended and its trace is all in: a walk over its spans)
  let interleaved = "";
  let interleavedAt = -1;
  function renderNotices() {
    if (isFinalStatus(run.status) && tree.model.spanCount !== interleavedAt && !tree.inbox.length) {
      interleavedAt = tree.model.spanCount;
      const n = interleavedWriters(tree.model);
      interleaved = n > 1 ? interleavedNotice(n) : "";
    }
    const all = interleaved ? [...run.notices, interleaved] : run.notices;
    const key = all.join("\n");
    if (key === noticesShown) return;
    noticesShown = key;
    notices.replaceChildren(
      ...all.map((text) => {
        const li = doc.createElement("li");
        li.className = "lsw-notice";
        li.textContent = text;
        return li;
      }),
    );
    setHidden(notices, all.length === 0);
  }

  function renderSummary() {
    const t = tree.model.totals;
    const parts = [`Trace · ${formatCount(t.spans)} span${t.spans === 1 ? "" : "s"}`];
    const roll = formatRollup(t, run.currency);
    if (roll) parts.push(roll);
    if (t.errors) parts.push(`${t.errors} error${t.errors === 1 ? "" : "s"}`);
    const text = parts.join(" · ");
    if (summary.textContent !== text) summary.textContent = text; // called every frame: write only changes
    summary.classList.toggle("lsw-has-errors", t.errors > 0);
  }

  sync(run);

  return {
    el,
    sync,
    tree,
    flush() {
      // the answer's text past this frame's share, then the trace; a folded trace still takes its
      // entries in (its summary counts them), but draws nothing
      if (answer.behind) answer.sync(run);
      const more = trace.hidden || !trace.open ? tree.ingestOnly() : tree.flush();
      renderSummary();
      renderNotices();
      return more || answer.behind;
    },
    setNewest(isNewest) {
      if (newest && !isNewest) {
        // An older run: fold its trace section away. Its nodes keep their
        // default expansion, so reopening the section shows the same tree.
        trace.open = false;
      }
      newest = isNewest;
    },
    destroy() {
      trace.removeEventListener("toggle", onToggle);
      links.destroy();
      answer.destroy();
      tree.destroy();
    },
  };
}
