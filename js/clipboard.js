// Copy text: the async Clipboard API where allowed (secure context, focused
// document), else the old hidden-textarea + execCommand("copy") path, which
// still works in iframes/VS Code webviews that deny the permission.

/**
 * @param {string} text
 * @param {Document} [doc]
 * @returns {Promise<boolean>} whether the copy (probably) succeeded
 */
export async function copyText(text, doc = document) {
  const nav = doc.defaultView?.navigator;
  if (nav?.clipboard?.writeText) {
    try {
      await nav.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the textarea path
    }
  }
  return copyWithTextarea(text, doc);
}

/**
 * @param {string} text
 * @param {Document} doc
 * @returns {boolean}
 */
export function copyWithTextarea(text, doc) {
  const ta = doc.createElement("textarea");
  ta.value = text;
  ta.setAttribute("readonly", "");
  ta.style.position = "fixed";
  ta.style.top = "-1000px";
  ta.style.opacity = "0";
  const active = doc.activeElement;
  doc.body.appendChild(ta);
  ta.focus();
  ta.select();
  let ok = false;
  try {
    ok = typeof doc.execCommand === "function" && doc.execCommand("copy");
  } catch {
    ok = false;
  }
  ta.remove();
  if (active && typeof active.focus === "function") active.focus();
  return ok;
}

/**
 * Show "Copied" (or "Copy failed") on a button for a moment.
 * @param {HTMLButtonElement} button
 * @param {boolean} ok
 * @param {string} label the button's normal text
 * @returns {number} the timer id (clear it on teardown)
 */
export function flashCopied(button, ok, label) {
  button.textContent = ok ? "Copied" : "Copy failed";
  button.dataset.copied = ok ? "true" : "false";
  const win = button.ownerDocument.defaultView ?? globalThis;
  return win.setTimeout(() => {
    button.textContent = label;
    delete button.dataset.copied;
  }, 1500);
}
