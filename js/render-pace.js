// How much new text one frame can render: the piece size follows the measured cost per character,
// so a frame catching up on a big delta (a 33 KB message of a 10 MB answer, a saved answer) stays
// near its budget on a fast machine and on a busy one. A fixed piece size cannot: 4,000 characters
// of markdown cost 5 ms on a quiet laptop and 90 ms on a loaded 2-core machine.
//
// Each piece also re-parses the live tail (the last, still open block: markdown-it is not
// incremental within a block), so the cost model is msPerChar * (tail + piece), and a piece is
// never under a quarter of the tail: the tail then grows geometrically between parses and a
// single 1 MB paragraph costs a few parses of itself, not one per small piece (quadratic).

/**
 * @param {{budgetMs: number, minChars?: number, maxChars?: number, startMsPerChar?: number}} opts
 *   startMsPerChar: the guess before the first measurement (markdown with code and tables
 *   costs ~3-10 µs per character in chromium)
 */
export function createRenderPace(opts) {
  const budgetMs = opts.budgetMs;
  const minChars = opts.minChars ?? 256;
  const maxChars = opts.maxChars ?? 16_000;
  let msPerChar = opts.startMsPerChar ?? 0.01;
  return {
    /**
     * Characters to render next, with `spentMs` of this frame's budget already used and a live
     * tail of `liveChars` characters that the piece will re-parse.
     */
    piece(spentMs = 0, liveChars = 0) {
      const room = Math.max(0, budgetMs - spentMs);
      const fits = Math.min(maxChars, Math.floor(room / msPerChar) - liveChars);
      return Math.max(minChars, Math.ceil(liveChars / 4), fits);
    },
    /**
     * A piece of `chars` characters, parsed with a live tail of `liveChars`, took `ms`: update the
     * cost estimate (quick to rise, slow to fall).
     */
    record(chars, ms, liveChars = 0) {
      if (chars < 64 || !(ms >= 0)) return; // tiny pieces are mostly fixed overhead
      const sample = ms / (chars + liveChars);
      msPerChar = sample > msPerChar ? 0.5 * msPerChar + 0.5 * sample : 0.8 * msPerChar + 0.2 * sample;
    },
    get msPerChar() {
      return msPerChar;
    },
  };
}
