// Roll-ups of a trace: tokens in/out, cost, LLM and tool call counts and errors, per span and
// summed over each subtree. Pure functions; the tree model keeps the sums up to date as spans
// arrive (trace-model.js). The same numbers and formats are produced on the Python side
// (lazystream_widget/rollups.py) for run.to_markdown(): keep the two in step.

/**
 * @typedef {{inTok: number, outTok: number, cost: number, priced: number, unpriced: number, llm: number,
 *   tool: number, errors: number, spans: number}} Totals
 *   priced: LLM calls whose cost is known (a price for their model); cost sums only those.
 *   unpriced: LLM calls that reported usage but whose model has no price (a call still running has
 *   no usage yet: it is neither, so a running run's cost is not a lower bound).
 *   errors: failures counted where they happened: a span that failed because a child failed with
 *   the same error (the exception propagating up) does not count again.
 */

/** @returns {Totals} */
export function zeroTotals() {
  return { inTok: 0, outTok: 0, cost: 0, priced: 0, unpriced: 0, llm: 0, tool: 0, errors: 0, spans: 0 };
}

// Written out field by field: these run for every span and every ancestor of it (hot on a 100,000-span trace).

/**
 * `into += sign * add`, field by field. @param {Totals} into @param {Totals} add @param {number} [sign]
 *
 * Adds or subtracts, never multiplies: `sign * x` makes doubles (`-1 * 0` is -0), and once doubles
 * are stored in the counts V8 keeps every count field of every Totals object as a boxed number (two
 * Totals per span: ~10 MB more JS heap on a 100,000-entry trace; docs/benchmarks.md, browser section).
 */
export function addTotals(into, add, sign = 1) {
  if (sign < 0) {
    into.inTok -= add.inTok;
    into.outTok -= add.outTok;
    into.cost -= add.cost;
    into.priced -= add.priced;
    into.unpriced -= add.unpriced;
    into.llm -= add.llm;
    into.tool -= add.tool;
    into.errors -= add.errors;
    into.spans -= add.spans;
    return;
  }
  into.inTok += add.inTok;
  into.outTok += add.outTok;
  into.cost += add.cost;
  into.priced += add.priced;
  into.unpriced += add.unpriced;
  into.llm += add.llm;
  into.tool += add.tool;
  into.errors += add.errors;
  into.spans += add.spans;
}

/** @param {Totals} into @param {Totals} from */
export function copyTotals(into, from) {
  into.inTok = from.inTok;
  into.outTok = from.outTok;
  into.cost = from.cost;
  into.priced = from.priced;
  into.unpriced = from.unpriced;
  into.llm = from.llm;
  into.tool = from.tool;
  into.errors = from.errors;
  into.spans = from.spans;
}

/** @param {Totals} a @param {Totals} b */
export function sameTotals(a, b) {
  return a.inTok === b.inTok && a.outTok === b.outTok && a.cost === b.cost && a.priced === b.priced &&
    a.unpriced === b.unpriced && a.llm === b.llm && a.tool === b.tool && a.errors === b.errors && a.spans === b.spans;
}

/**
 * The model name of a span, for pricing: our attrs.model, OpenTelemetry GenAI attributes, else
 * an llm span's name.
 * @param {{kind?: string, name?: string, attrs?: any}} span
 * @returns {string}
 */
export function modelOf(span) {
  const a = span.attrs && typeof span.attrs === "object" ? span.attrs : {};
  const m = a.model ?? a["gen_ai.response.model"] ?? a["gen_ai.request.model"] ?? a["llm.model_name"];
  if (typeof m === "string" && m) return m;
  return span.kind === "llm" && span.name ? span.name : "";
}

/**
 * Cost of one llm span from its usage and the run's prices ({model: [input, output]} per 1M tokens).
 * @param {{prompt_tokens?: number, completion_tokens?: number}|null|undefined} usage
 * @param {string} model
 * @param {Record<string, [number, number]>|null|undefined} prices
 * @returns {number|null} null when the model has no price or there is no usage
 */
export function costOf(usage, model, prices) {
  if (!prices || !usage || !model) return null;
  const price = prices[model];
  if (!price) return null;
  const inTok = num(usage.prompt_tokens);
  const outTok = num(usage.completion_tokens);
  if (inTok === 0 && outTok === 0) return null;
  return (inTok * price[0] + outTok * price[1]) / 1e6;
}

const num = (x) => (typeof x === "number" && Number.isFinite(x) && x > 0 ? x : 0);

/**
 * Did `error` come from a child that failed with the same error (the exception propagating up)?
 * Same type, and one message contains the other (a wrapper may add a prefix or a note).
 * @param {{error?: any, children?: any[]}} span
 */
export function errorFromChild(span) {
  const e = span.error;
  if (!span.children || !span.children.length) return false;
  const type = e && typeof e === "object" ? e.type : undefined;
  const msg = e && typeof e === "object" ? String(e.message ?? "") : String(e ?? "");
  return span.children.some((c) => {
    if (c.status !== "error") return false;
    const ce = c.error;
    const ctype = ce && typeof ce === "object" ? ce.type : undefined;
    const cmsg = ce && typeof ce === "object" ? String(ce.message ?? "") : String(ce ?? "");
    return ctype === type && (cmsg === msg || (!!cmsg && msg.includes(cmsg)) || (!!msg && cmsg.includes(msg)));
  });
}

/**
 * Own (not summed) totals of one span.
 * @param {{kind?: string, status?: string, usage?: any, isCall?: boolean, isText?: boolean, name?: string,
 *   attrs?: any, error?: any, children?: any[]}} span
 * @param {Record<string, [number, number]>|null} prices
 * @param {Totals} [t] filled in place (no allocation) when given
 * @returns {Totals}
 */
export function ownTotals(span, prices, t = zeroTotals()) {
  t.inTok = t.outTok = t.cost = t.priced = t.unpriced = t.llm = t.tool = t.errors = t.spans = 0;
  if (span.isText) return t;
  t.spans = span.isCall ? 0 : 1;
  if (span.kind === "llm") {
    t.llm = 1;
    // usage only on llm spans: a parent that reports its children's sum again would count twice
    const u = span.usage;
    if (u && typeof u === "object") {
      t.inTok = num(u.prompt_tokens);
      t.outTok = num(u.completion_tokens);
      if (!t.inTok && !t.outTok) t.outTok = num(u.total_tokens);
    }
    const cost = costOf(u, modelOf(span), prices);
    if (cost !== null) {
      t.cost = cost;
      t.priced = 1;
    } else if (t.inTok || t.outTok) t.unpriced = 1;
  } else if (span.kind === "tool") t.tool = 1;
  if (span.status === "error" && !errorFromChild(span)) t.errors = 1;
  return t;
}

// ------------------------------------------------------------------ formats (same as rollups.py)

/** Round half up at `digits` decimals, as text (the same in Python and JS: no ties-to-even). */
export function fixed(x, digits) {
  const f = 10 ** digits;
  return (Math.floor(x * f + 0.5) / f).toFixed(digits);
}

const COUNT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** @param {number} n @returns {string} "1,234" (one shared formatter: toLocaleString makes one per call) */
export function formatCount(n) {
  return COUNT.format(Math.round(n));
}

/** "1,234 → 56 tokens" (or "" when none). @param {Totals} t @param {string} [unit] */
export function formatTokens(t, unit = "tokens") {
  if (!t.inTok && !t.outTok) return "";
  return `${formatCount(t.inTok)} → ${formatCount(t.outTok)} ${unit}`;
}

/**
 * "$0.0123": 4 decimals below 1, 2 from 1 on; "<$0.0001" for tiny non-zero costs.
 * @param {number} cost @param {string} [currency]
 */
export function formatCost(cost, currency = "$") {
  if (!(cost > 0)) return `${currency}0`;
  if (cost < 0.0001) return `<${currency}0.0001`;
  return `${currency}${fixed(cost, cost < 1 ? 4 : 2)}`;
}

/** "2 LLM calls · 3 tool calls" (only the non-zero ones). @param {Totals} t */
export function formatCalls(t) {
  const parts = [];
  if (t.llm) parts.push(`${formatCount(t.llm)} LLM call${t.llm === 1 ? "" : "s"}`);
  if (t.tool) parts.push(`${formatCount(t.tool)} tool call${t.tool === 1 ? "" : "s"}`);
  return parts.join(" · ");
}

/**
 * The cost of a subtree: "$0.0123", or "≥$0.0123" when some of its calls have no price (then the
 * sum is a lower bound, and "≥$0" where that bound is below the smallest amount shown).
 * @param {Totals} t @param {string} [currency]
 */
export function formatSubtreeCost(t, currency = "$") {
  if (!t.unpriced) return formatCost(t.cost, currency);
  return t.cost >= 0.0001 ? `≥${formatCost(t.cost, currency)}` : `≥${currency}0`;
}

/**
 * One line of a subtree's roll-ups: "2 LLM calls · 1 tool call · 1,234 → 56 tokens · $0.0012".
 * Cost appears only when at least one LLM call was priced (and says so when some were not).
 * @param {Totals} t @param {string} [currency] @param {{calls?: boolean}} [opts]
 */
export function formatRollup(t, currency = "$", opts = {}) {
  const parts = [];
  if (opts.calls !== false) {
    const calls = formatCalls(t);
    if (calls) parts.push(calls);
  }
  const tok = formatTokens(t);
  if (tok) parts.push(tok);
  if (t.priced) parts.push(formatSubtreeCost(t, currency));
  return parts.join(" · ");
}

/**
 * Does a span's row (and its details) sum what is below it? Not an llm span (its own tokens say it),
 * nor a tool whose subtree holds no other call (LazyLLM's sandbox under each tool: "1 tool call" on a
 * tool says nothing).
 */
export function rollsUp(node) {
  if (node.isCall || node.kind === "llm" || !node.children.length) return false;
  return node.kind !== "tool" || node.sub.llm + node.sub.tool > node.own.llm + node.own.tool;
}
