// One polite live region per view: "Run started", "Tool get_weather failed", "Answer complete".
// Never each token: runs announce their milestones only, and bursts within a moment are joined
// into one message so a screen reader is not flooded.

/** Messages within this many ms are joined into one announcement. */
export const JOIN_MS = 600;

/**
 * @param {Document} doc
 * @param {{now?: () => number}} [opts]
 * @returns {{el: HTMLElement, announce(text: string): void, readonly text: string}}
 */
export function createAnnouncer(doc, opts = {}) {
  const now = opts.now ?? (() => Date.now());
  const el = doc.createElement("div");
  el.className = "lsw-live lsw-visually-hidden";
  el.setAttribute("role", "status");
  el.setAttribute("aria-live", "polite");
  el.setAttribute("aria-atomic", "true");
  let last = -Infinity;
  return {
    el,
    announce(text) {
      if (!text) return;
      const t = now();
      const recent = t - last < JOIN_MS && el.textContent;
      el.textContent = recent ? `${el.textContent}. ${text}` : text;
      last = t;
    },
    get text() {
      return el.textContent ?? "";
    },
  };
}
