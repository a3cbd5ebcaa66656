// The trace's filter box: the input and its "3 of 5,000 match" status, its keys (Escape clears,
// Down / Enter go to the first match), and the search index built in the background once the box
// has the focus, so the first keystroke costs no more than the others. The matching itself is in
// trace-filter.js; the tree redraws in trace-view.js.

import { searchText } from "./trace-filter.js";

export class FilterBox {
  /**
   * @param {import("./trace-view.js").TraceView} view
   * @param {{budgetMs: number}} opts budgetMs: index work per frame
   */
  constructor(view, opts) {
    const doc = view.doc;
    this.view = view;
    this.budgetMs = opts.budgetMs;
    this.input = doc.createElement("input");
    this.input.type = "search";
    this.input.className = "lsw-filter";
    this.input.placeholder = "Filter: name, text, kind:tool, status:error";
    this.input.setAttribute("aria-label", "Filter the trace (name, text, kind:tool, status:error)");
    this.input.setAttribute("aria-controls", `${view.uid}-list`);
    this.status = doc.createElement("span");
    this.status.className = "lsw-filter-status";
    this.status.id = `${view.uid}-fstatus`;
    this.input.setAttribute("aria-describedby", this.status.id);
    this.indexing = false;
    this._iter = null;
    this._onInput = () => this.changed();
    this._onKey = (ev) => this.key(ev);
    this._onFocus = () => {
      this.indexing = true;
      view.onNeedsFlush();
    };
    this.input.addEventListener("input", this._onInput);
    this.input.addEventListener("keydown", this._onKey);
    this.input.addEventListener("focus", this._onFocus);
  }

  /** The tree's model was replaced. */
  reset() {
    this._iter = null;
  }

  changed() {
    if (!this.view.filter.setQuery(this.input.value)) return;
    if (!this.view.filter.active) this.render();
    this.view.filterChanged();
  }

  /** @param {KeyboardEvent} ev */
  key(ev) {
    const view = this.view;
    if (ev.key === "Escape" && this.input.value) {
      ev.preventDefault();
      ev.stopPropagation();
      this.input.value = "";
      this.changed();
    } else if (ev.key === "ArrowDown" || ev.key === "Enter") {
      const first = view.filter.active ? view.rows.find((n) => view.filter.matched.has(n)) : view.rows[0];
      if (first) {
        ev.preventDefault();
        view.select(first, { focus: true });
      }
    }
  }

  /** "3 of 5,000 match", or "searching… 40 %" while a pass is incomplete. */
  render() {
    const f = this.view.filter;
    if (!f.active) {
      this.status.textContent = "";
      return;
    }
    const total = this.view.model.nodes.size;
    this.status.textContent = f.done
      ? `${f.matched.size.toLocaleString("en-US")} of ${total.toLocaleString("en-US")} match`
      : `searching… ${Math.round(f.progress * 100)} %`;
  }

  /** Build search texts within the budget. @returns {boolean} whether some remain */
  buildIndex() {
    if (!this.indexing || this.view.filter.active) return false;
    const start = this.view.clock();
    if (!this._iter) this._iter = this.view.model.nodes.values();
    for (let n = 0; ; n++) {
      const next = this._iter.next();
      if (next.done) {
        this._iter = null;
        this.indexing = this.view.inbox.length > 0; // entries still coming in: index them too, later
        return this.indexing;
      }
      searchText(next.value);
      if ((n & 255) === 255 && this.view.clock() - start > this.budgetMs) return true;
    }
  }

  destroy() {
    this.input.removeEventListener("input", this._onInput);
    this.input.removeEventListener("keydown", this._onKey);
    this.input.removeEventListener("focus", this._onFocus);
  }
}
