// Keeping a piece of a big string without keeping the big string.
//
// V8 makes `big.slice(a, b)` (13 characters or more) a "sliced string": a view that keeps all of
// `big` alive. The answer box slices each new piece off the run's whole text, and the store's text
// grows by `+=`, so every slice first flattens the text into a new full-length copy and then points
// into it. A renderer that keeps those pieces (the text past the display bound, waiting behind
// "Show more") kept one full copy of the answer per delta: about 1.3 GB of heap for a 10 MB answer
// in 300 deltas (docs/benchmarks.md, browser section).

/**
 * `text` as a string of its own: a copy when it may be a view into a bigger string.
 * Costs one copy of `text` (not of what it was sliced from).
 * @param {string} text
 * @returns {string}
 */
export function ownText(text) {
  // " " + text is a fresh two-part string; slicing it flattens it into a new string of
  // text.length + 1 characters, and the result points into that one (never into text's parent).
  return text.length < 13 ? text : (" " + text).slice(1);
}
