// DOM writes that happen only when the value changes. The answer box and the run view sync on every
// message of a stream (about 30 a second): a write of the same value still invalidates style (and
// a textContent write replaces the text node, so layout too) for that frame.

/** @param {Element} el @param {string} text */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** @param {HTMLElement} el @param {boolean} hidden */
export function setHidden(el, hidden) {
  if (el.hidden !== hidden) el.hidden = hidden;
}
