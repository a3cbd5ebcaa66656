// The panel beside the tree that shows the selected span's details (span-detail.js builds them).
// A span that keeps changing (a streaming agent) is redrawn a few times a second, not every frame,
// and a redraw of the same span keeps the panel's scroll position.

import { copyText, flashCopied } from "./clipboard.js";
import { renderSpanDetail } from "./span-detail.js";
import { spanToMarkdown } from "./span-markdown.js";

/** The details of a span that keeps changing are redrawn at most this often (ms). */
export const DETAIL_REFRESH_MS = 250;

export class DetailPanel {
  /** @param {Document} doc @param {() => number} clock */
  constructor(doc, clock) {
    this.doc = doc;
    this.clock = clock;
    this.el = doc.createElement("div");
    this.el.className = "lsw-span-detail";
    this.el.setAttribute("role", "region");
    this.el.setAttribute("aria-label", "Span details");
    this.el.hidden = true;
    this.key = "";
    this.at = -Infinity;
    this.scroll = 0; // kept from scroll events: reading it while drawing would force a layout
    this._onScroll = () => {
      this.scroll = this.el.scrollTop;
    };
    this.el.addEventListener("scroll", this._onScroll, { passive: true });
  }

  clear() {
    this.key = "";
    this.el.replaceChildren();
    this.el.hidden = true;
  }

  /**
   * Show `node`'s details (null: none).
   * @param {any|null} node
   * @param {{origin: number, currency: string}} ctx
   * @returns {boolean} whether a redraw is due later (the span changed too recently)
   */
  show(node, ctx) {
    if (!node) {
      if (this.key) this.clear();
      return false;
    }
    const key = `${node.id}|${node.v}|${node.ui.raw ? 1 : 0}|${ctx.currency}`;
    if (key === this.key) return false;
    const now = this.clock();
    const same = this.key.startsWith(`${node.id}|`);
    if (same && now - this.at < DETAIL_REFRESH_MS) return true;
    this.key = key;
    this.at = now;
    const scroll = same ? this.scroll : 0;
    this.el.hidden = false;
    this.el.replaceChildren(renderSpanDetail(node, {
      doc: this.doc, origin: ctx.origin, currency: ctx.currency,
      onCopyMarkdown: async (n, btn) => {
        const ok = await copyText(spanToMarkdown(n, { currency: ctx.currency }), this.doc);
        flashCopied(btn, ok, "Copy as Markdown");
      },
      onRawToggle: (n) => {
        n.ui.raw = !n.ui.raw;
        this.key = "";
        this.at = -Infinity;
        this.show(n, ctx);
      },
    }));
    if (scroll) this.el.scrollTop = scroll;
    return false;
  }

  destroy() {
    this.el.removeEventListener("scroll", this._onScroll);
  }
}
