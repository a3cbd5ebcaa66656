// Model calls that streamed into one answer at the same time (parallel branches of a flow each with
// an LLM): their words arrive interleaved in the answer. Each llm span's attrs.text_ranges says where
// its text sits in run.text; two calls whose stretches overlap wrote at the same time. The run view
// then says so above the answer, and where each call's own text is (its span's output).

import { ATTR_TEXT_RANGES } from "./protocol.js";
import { rangesOf } from "./trace-model.js";

/**
 * How many llm spans wrote into the answer while another one did (0 when none did).
 * @param {{nodes: Map<string, any>}} model
 * @returns {number}
 */
export function interleavedWriters(model) {
  /** @type {[number, number][]} each writer's stretch of the answer: [first start, last end] */
  const extents = [];
  for (const node of model.nodes.values()) {
    if (node.kind !== "llm" || !node.attrs || typeof node.attrs !== "object") continue;
    const ranges = rangesOf(node.attrs[ATTR_TEXT_RANGES]);
    if (!ranges) continue;
    let lo = Infinity;
    let hi = -Infinity;
    for (const [a, b] of ranges) {
      if (a < lo) lo = a;
      if (b > hi) hi = b;
    }
    extents.push([lo, hi]);
  }
  extents.sort((x, y) => x[0] - y[0]);
  const mixed = new Set();
  let reach = -Infinity; // the furthest end so far, and whose it is
  let reachBy = -1;
  extents.forEach(([lo, hi], i) => {
    if (lo < reach) {
      mixed.add(i);
      mixed.add(reachBy);
    }
    if (hi > reach) (reach = hi), (reachBy = i);
  });
  return mixed.size;
}

/** The remark above an answer that `n` model calls wrote at the same time. */
export function interleavedNotice(n) {
  return `${n} model calls streamed into this answer at the same time, so their words are interleaved: ` +
    "each call's own text is its span's output in the trace.";
}
