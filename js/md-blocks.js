// Which top-level blocks of the live tail are complete for good, so markdown.js can freeze them.
//
// When is block i certainly complete? CommonMark decides block structure line
// by line: once a complete line has closed a top-level block, later text cannot
// reopen it. Top-level block i is closed for good when block i+1 exists AND
// the first line of block i+1 is complete (ends with "\n"): a partial line can
// still change meaning ("para\n#" is paragraph + heading, "para\n#x" is one
// paragraph; "```" may still become "```x`"). An unclosed ``` fence runs to the
// end of the text, so it is always the last block and never frozen. Lists,
// blockquotes and indented code may continue after a blank line: they stay live
// while the next block is of the same family (e.g. "1. a\n\n2" could become the
// second item of the same list).

// Block families that may continue after a blank line.
const FAMILY = {
  bullet_list_open: "list",
  ordered_list_open: "list",
  blockquote_open: "quote",
  code_block: "code",
};

/**
 * Split a token stream into top-level blocks.
 * @param {any[]} tokens
 * @returns {{start: number, end: number, type: string, map: number[]|null}[]}
 */
export function topLevelBlocks(tokens) {
  const blocks = [];
  let i = 0;
  while (i < tokens.length) {
    const t = tokens[i];
    if (t.level !== 0) {
      i++;
      continue;
    }
    let end = i + 1;
    if (t.nesting === 1) {
      while (end < tokens.length && !(tokens[end].level === 0 && tokens[end].nesting === -1)) end++;
      end++;
    }
    blocks.push({ start: i, end: Math.min(end, tokens.length), type: t.type, map: t.map || null });
    i = end;
  }
  return blocks;
}

/**
 * How many leading blocks of `tail` are certainly complete (see the header).
 * @param {ReturnType<typeof topLevelBlocks>} blocks
 * @param {number} completeLines number of "\n"-terminated lines in the tail
 * @returns {number}
 */
export function completeBlockCount(blocks, completeLines) {
  let n = 0;
  for (let i = 0; i + 1 < blocks.length; i++) {
    const b = blocks[i];
    const next = blocks[i + 1];
    if (!b.map || !next.map) break;
    if (next.map[0] >= completeLines) break; // next block's first line still partial
    const fam = FAMILY[b.type];
    // Two adjacent lists (or quotes): hold the pair while the second is the last, still growing
    // block, to be safe; once another block follows, both are final. (Holding any longer made the
    // live tail, and so every frame's work, grow with the whole answer: quadratic time.)
    if (fam && FAMILY[next.type] === fam && i + 2 >= blocks.length) break;
    n = i + 1;
  }
  return n;
}

/** Offsets of the first `count` line starts after line 0 ("\n" positions + 1). */
export function newlineOffsets(text) {
  const out = [];
  let i = text.indexOf("\n");
  while (i !== -1) {
    out.push(i + 1);
    i = text.indexOf("\n", i + 1);
  }
  return out;
}
