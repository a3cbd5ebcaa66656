// The trace tree's toolbar: Expand all, Collapse all, "Show internal (N)", the filter box and the
// span count. Its buttons are handled by the tree view's click handler (trace-view.js); this builds
// them and keeps their text, written only when it changes (each write costs a style pass).

import { formatCount } from "./rollups.js";

function button(doc, className, text, label) {
  const b = doc.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  return b;
}

export class TreeToolbar {
  /**
   * @param {Document} doc
   * @param {{input: HTMLElement, status: HTMLElement}} filterBox the filter's input and status line
   */
  constructor(doc, filterBox) {
    this.el = doc.createElement("div");
    this.el.className = "lsw-tree-toolbar";
    this.expandBtn = button(doc, "lsw-btn lsw-expand-all", "Expand all", "Expand all trace nodes");
    this.collapseBtn = button(doc, "lsw-btn lsw-collapse-all", "Collapse all", "Collapse all trace nodes");
    this.internalBtn = button(doc, "lsw-btn lsw-show-internal", "Show internal");
    this.internalBtn.setAttribute("aria-pressed", "false");
    this.internalBtn.title = "Show the spans the producer marks internal (its plumbing, e.g. LazyLLM's Loop and ToolManager)";
    this.internalBtn.hidden = true;
    this.summaryEl = doc.createElement("span");
    this.summaryEl.className = "lsw-tree-summary";
    this.el.append(this.expandBtn, this.collapseBtn, this.internalBtn, filterBox.input, filterBox.status, this.summaryEl);
    this._internalKey = "";
  }

  /**
   * @param {number} spans the tree's span count
   * @param {number} internal spans marked internal
   * @param {boolean} showInternal whether they show as rows
   */
  render(spans, internal, showInternal) {
    const text = `${formatCount(spans)} span${spans === 1 ? "" : "s"}`;
    if (this.summaryEl.textContent !== text) this.summaryEl.textContent = text;
    const key = `${internal}|${showInternal}`;
    if (key === this._internalKey) return;
    this._internalKey = key;
    this.internalBtn.hidden = internal === 0 && !showInternal;
    this.internalBtn.textContent = `Show internal (${formatCount(internal)})`;
    this.internalBtn.setAttribute("aria-pressed", String(showInternal));
  }
}
