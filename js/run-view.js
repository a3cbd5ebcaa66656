// The view of one run: the query as a header, the answer box, and the trace
// tree in a collapsible section. It consumes the store's run incrementally
// (see the generation counters in store.js).

import { createAnswerBox } from "./answer.js";
import { isFinalStatus } from "./protocol.js";
import { TraceTree } from "./trace-tree.js";

/** @typedef {import("./store.js").Run} Run */

/**
 * @typedef {{
 *   el: HTMLElement,
 *   sync(run: Run): void,
 *   flush(): boolean,
 *   setNewest(newest: boolean): void,
 *   destroy(): void,
 *   tree: TraceTree,
 * }} RunView
 */

/**
 * @param {{
 *   run: Run,
 *   model: {send(content: any): void},
 *   doc?: Document,
 *   onNeedsFlush: () => void,
 *   now?: () => number,
 *   treeOptions?: ConstructorParameters<typeof TraceTree>[0],
 *   answerOptions?: {maxChars?: number, highlight?: boolean},
 * }} opts
 * @returns {RunView}
 */
export function createRunView(opts) {
  const doc = opts.doc ?? document;
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

  const answer = createAnswerBox({ run, model: opts.model, doc, now: opts.now, ...opts.answerOptions });

  const trace = /** @type {HTMLDetailsElement} */ (doc.createElement("details"));
  trace.className = "lsw-trace";
  trace.open = true;
  const summary = doc.createElement("summary");
  summary.className = "lsw-trace-summary";
  const tree = new TraceTree({ doc, now: opts.now, onNeedsFlush: opts.onNeedsFlush, ...opts.treeOptions });
  trace.append(summary, tree.el);
  trace.hidden = true;
  // The tree's DOM is only kept up to date while its section is open.
  const onToggle = () => {
    if (trace.open) opts.onNeedsFlush();
  };
  trace.addEventListener("toggle", onToggle);

  el.append(header, notices, answer.el, trace);

  let entriesGen = -1;
  let entriesLen = 0;
  let newest = true;

  function sync(next) {
    run = next;
    el.dataset.status = run.status;
    query.textContent = run.query || "(no query)";
    query.title = run.query || "";
    const key = run.notices.join("\n");
    if (key !== noticesShown) {
      noticesShown = key;
      notices.replaceChildren(
        ...run.notices.map((text) => {
          const li = doc.createElement("li");
          li.className = "lsw-notice";
          li.textContent = text;
          return li;
        }),
      );
      notices.hidden = run.notices.length === 0;
    }
    answer.sync(run);
    if (run.entriesGen !== entriesGen) {
      tree.reset();
      entriesGen = run.entriesGen;
      entriesLen = 0;
    }
    if (run.entries.length > entriesLen) {
      tree.addEntries(run.entries.slice(entriesLen));
      entriesLen = run.entries.length;
    }
    tree.setFinal(isFinalStatus(run.status));
    trace.hidden = run.entries.length === 0;
    const spans = tree.spanCount;
    summary.textContent = `Trace · ${spans.toLocaleString("en-US")} span${spans === 1 ? "" : "s"}`;
  }

  sync(run);

  return {
    el,
    sync,
    tree,
    flush() {
      return trace.open && !trace.hidden ? tree.flush() : false;
    },
    setNewest(isNewest) {
      if (newest && !isNewest) {
        // An older run: fold its trace section away. Its nodes keep their
        // default expansion (top-level spans with children open), so reopening
        // the section shows the same tree as the newest run's.
        trace.open = false;
      }
      newest = isNewest;
    },
    destroy() {
      trace.removeEventListener("toggle", onToggle);
      answer.destroy();
      tree.destroy();
    },
  };
}
