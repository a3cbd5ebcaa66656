// A span (with everything below it), or a whole run, as readable Markdown: "Copy as Markdown" in
// the widget. lazystream_widget/export.py writes the same format for run.to_markdown(); a shared
// fixture (tests/fixtures/markdown_run.json) keeps the two in step.

import { formatDuration } from "./format.js";
import { formatRollup, formatTokens, formatCost } from "./rollups.js";
import { TraceModel } from "./trace-model.js";
import { isFolded, shownChildren } from "./trace-rows.js";
import { summarize } from "./value-view.js";

const INPUT_CHARS = 200;
const VALUE_CHARS = 300;

/** Inline code that survives backticks in the text. */
export function code(text) {
  const s = String(text);
  if (!s.includes("`")) return `\`${s}\``;
  return `\`\` ${s} \`\``;
}

function errorLine(error) {
  if (!error) return "";
  if (typeof error === "string") return error;
  const msg = error.message || "";
  return error.type && error.type !== msg ? `${error.type}: ${msg}` : msg || String(error.type || "error");
}

/** The " · 120 → 30 tokens · $0.01" or " · 2 LLM calls · …" part of a span's line. */
function rollupText(node, currency) {
  if (node.kind === "llm") {
    const parts = [];
    const tok = formatTokens(node.own);
    if (tok) parts.push(tok);
    if (node.own.priced) parts.push(formatCost(node.own.cost, currency));
    return parts.join(" · ");
  }
  if (node.children.some((c) => !c.isCall)) return formatRollup(node.sub, currency);
  return "";
}

/**
 * @param {any} node a TraceModel node
 * @param {{currency?: string}} [opts]
 * @param {number} [indent]
 * @returns {string[]} lines
 */
export function spanLines(node, opts = {}, indent = 0) {
  const pad = "  ".repeat(indent);
  const sub = `${pad}  - `;
  if (node.isText) return [`${pad}- ${summarize(node.text, VALUE_CHARS)}`];
  if (node.isCall) return [];
  let line = `${pad}- **${node.kind || "span"}** ${code(node.name || node.id)} — ${node.status}`;
  if (node.hasEnd && typeof node.durationMs === "number") line += `, ${formatDuration(node.durationMs)}`;
  const roll = rollupText(node, opts.currency ?? "$");
  if (roll) line += ` · ${roll}`;
  const lines = [line];
  const out = node.output;
  if (node.kind === "tool") {
    if (node.hasStart) lines.push(`${sub}arguments: ${code(summarize(node.input, VALUE_CHARS) || "{}")}`);
    if (node.hasEnd && node.status === "ok") lines.push(`${sub}result: ${code(summarize(out, VALUE_CHARS))}`);
  } else if (node.kind === "llm") {
    const calls = out && typeof out === "object" && Array.isArray(out.tool_calls) ? out.tool_calls : [];
    if (calls.length) {
      const text = calls.map((c) => `${c?.function?.name ?? "?"}(${summarize(c?.function?.arguments, 80)})`).join(", ");
      lines.push(`${sub}tool calls: ${code(text)}`);
    }
    const content = out && typeof out === "object" ? out.content : out;
    if (typeof content === "string" && content.trim()) lines.push(`${sub}output: ${code(summarize(content, VALUE_CHARS))}`);
  } else {
    if (node.hasStart && node.input !== undefined && node.input !== null && indent === 0) {
      lines.push(`${sub}input: ${code(summarize(node.input, INPUT_CHARS))}`);
    }
    if (node.hasEnd && node.status === "ok" && out !== undefined && out !== null && summarize(out)) {
      lines.push(`${sub}output: ${code(summarize(out, VALUE_CHARS))}`);
    }
  }
  if (node.error) lines.push(`${sub}${node.status === "cancelled" ? "cancelled" : "error"}: ${errorLine(node.error)}`);
  // a producer's plumbing (internal spans, folded in the tree too) is not listed: what it holds is, in its place
  for (const child of shownChildren(node, true)) lines.push(...spanLines(child, opts, indent + 1));
  return lines;
}

/** A span and everything below it. @param {any} node @param {{currency?: string}} [opts] */
export function spanToMarkdown(node, opts = {}) {
  return `${spanLines(node, opts).join("\n")}\n`;
}

/**
 * A whole run: question, answer, final answer where it differs, error, and the trace.
 * @param {import("./protocol.js").RunState} run
 * @returns {string}
 */
export function runToMarkdown(run) {
  const model = new TraceModel();
  model.setPrices(run.prices ?? null);
  model.add(Array.isArray(run.entries) ? run.entries : []);
  model.setFinal(true);
  const currency = typeof run.currency === "string" ? run.currency : "$";
  const out = [];
  const query = String(run.query ?? "").split("\n")[0].slice(0, 200);
  out.push(`## ${query || "(no query)"}`, "");
  const text = String(run.text ?? "");
  if (text.trim()) out.push(text.replace(/\s+$/, ""), "");
  if (run.result && !text.includes(String(run.result).trim())) out.push("**Final answer:**", "", String(run.result), "");
  if (run.status === "error" && run.error) out.push(`**Error:** ${errorLine(run.error)}`, "");
  if (run.status === "cancelled") out.push("**Cancelled.**", "");
  const spans = shownChildren(model.root, true).filter((n) => !n.isText && !n.isCall);
  const textLines = (Array.isArray(run.entries) ? run.entries : []).filter((e) => typeof e === "string");
  if (spans.length || textLines.length) {
    out.push("### Trace", "");
    const t = model.totals;
    const head = [`${t.spans.toLocaleString("en-US")} span${t.spans === 1 ? "" : "s"}`];
    const roll = formatRollup(t, currency);
    if (roll) head.push(roll);
    if (t.errors) head.push(`${t.errors} error${t.errors === 1 ? "" : "s"}`);
    let folded = 0;
    for (const node of model.nodes.values()) if (isFolded(node)) folded += 1;
    if (folded) head.push(`${folded} internal span${folded === 1 ? "" : "s"} not listed`);
    out.push(head.join(" · "), "");
    for (const node of spans) out.push(...spanLines(node, { currency }));
    if (textLines.length) {
      out.push("", "Other trace lines:", "");
      for (const line of textLines) out.push(`- ${summarize(line, VALUE_CHARS)}`);
    }
    out.push("");
  }
  return `${out.join("\n").replace(/\n+$/, "")}\n`;
}
