// Small text formatters shared by the answer box and the trace tree.

/**
 * @param {number|null|undefined} ms
 * @param {{whole?: boolean}} [opts] whole: whole seconds (a ticking clock)
 * @returns {string}
 */
export function formatDuration(ms, opts = {}) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return "";
  if (ms < 999.5 && !opts.whole) return `${Math.floor(ms + 0.5)} ms`;
  const s = ms / 1000;
  if (s < 60) return opts.whole ? `${Math.floor(s)} s` : `${s < 9.995 ? halfUp(s, 2) : halfUp(s, 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** `x` rounded half up at `digits` decimals, as text (Python's lazystream_widget/rollups.py does the same). */
function halfUp(x, digits) {
  const f = 10 ** digits;
  return (Math.floor(x * f + 0.5) / f).toFixed(digits);
}

/** @param {any} error @returns {string} "ValueError: bad input" */
export function errorText(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  const msg = error.message || "";
  return error.type && error.type !== msg ? `${error.type}: ${msg}` : msg || String(error.type || "error");
}
