// The details of the selected span, beside (or below) the tree: what it is, its roll-ups, its
// error, its input and output made readable (chat messages for llm spans, argument tables for
// tools), its attributes and events; "Raw JSON" one click away, and "Copy as Markdown".

import { conversationView, isAssistantTurn, isMessageList, messageView } from "./chat-view.js";
import { errorText, formatDuration } from "./format.js";
import { ATTR_TEXT_RANGES, ATTR_THINKING_RANGES } from "./protocol.js";
import { formatCost, formatRollup, formatTokens, modelOf, rollsUp } from "./rollups.js";
import { parseJsonText, rawJson, summarize, textBlock, valueView } from "./value-view.js";

/** Attributes shown elsewhere (or only useful to the widget itself). */
const HIDDEN_ATTRS = new Set([ATTR_TEXT_RANGES, ATTR_THINKING_RANGES, "model", "ttft_ms", "call_id"]);

const isEmpty = (v) =>
  v === undefined || v === null || (typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 0);

function el(doc, tag, className, text) {
  const e = doc.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * @typedef {{doc: Document, origin: number, currency: string, onCopyMarkdown: (node: any) => void,
 *   onRawToggle: (node: any) => void, foldChars?: number}} DetailCtx
 */

/**
 * The facts line: model, tokens, cost, time to first token, start offset, roll-ups of a subtree.
 * @param {any} node @param {DetailCtx} ctx @returns {string[]}
 */
export function factsOf(node, ctx) {
  const facts = [];
  const a = node.attrs && typeof node.attrs === "object" ? node.attrs : {};
  if (node.kind === "llm") {
    const model = modelOf(node);
    if (model && model !== node.name) facts.push(`model ${model}`);
    const tok = formatTokens(node.own);
    if (tok) facts.push(tok);
    if (node.own.priced) facts.push(formatCost(node.own.cost, ctx.currency));
    if (typeof a.ttft_ms === "number") facts.push(`first token ${formatDuration(a.ttft_ms)}`);
  } else if (rollsUp(node) && node.children.some((c) => !c.isCall)) {
    const roll = formatRollup(node.sub, ctx.currency);
    if (roll) facts.push(roll);
    const below = node.sub.errors - node.own.errors;
    if (below > 0) facts.push(`${below} error${below === 1 ? "" : "s"} below`);
  }
  if (typeof node.startTs === "number" && Number.isFinite(ctx.origin)) {
    facts.push(`started +${formatDuration(Math.max(0, (node.startTs - ctx.origin) * 1000))}`);
  }
  return facts;
}

function section(doc, label, content, cls = "") {
  const sec = el(doc, "section", `lsw-section ${cls}`.trim());
  const h = el(doc, "h4", "lsw-section-label", label);
  sec.append(h, content);
  return sec;
}

/**
 * Build the detail panel's content for `node`.
 * @param {any} node
 * @param {DetailCtx} ctx
 * @returns {HTMLElement}
 */
export function renderSpanDetail(node, ctx) {
  const { doc } = ctx;
  const box = el(doc, "div", "lsw-detail-content");
  box.dataset.span = node.id;
  const vctx = { doc, ui: node.ui, foldChars: ctx.foldChars };

  // header: kind, name, status, duration; actions
  const head = el(doc, "div", "lsw-detail-head");
  head.dataset.kind = node.isText ? "text" : node.kind || "span";
  const kind = el(doc, "span", "lsw-kind", node.isText ? "text" : node.kind || "span");
  const name = el(doc, "span", "lsw-detail-name", node.isText ? "Trace line" : node.name || node.id);
  const status = el(doc, "span", "lsw-detail-status", statusLabel(node));
  status.dataset.status = node.status;
  head.append(kind, name, status);
  const ms = durationOf(node);
  if (ms !== null) head.append(el(doc, "span", "lsw-duration", formatDuration(ms)));
  if (!node.isText) {
    const actions = el(doc, "span", "lsw-detail-actions");
    const raw = el(doc, "button", "lsw-btn lsw-raw-toggle", "Raw JSON");
    raw.type = "button";
    raw.setAttribute("aria-pressed", String(!!node.ui.raw));
    raw.addEventListener("click", () => ctx.onRawToggle(node));
    const copy = el(doc, "button", "lsw-btn lsw-copy-span", "Copy as Markdown");
    copy.type = "button";
    copy.setAttribute("aria-label", `Copy as Markdown: ${node.kind || "span"} ${node.name || ""} and everything below it`);
    copy.addEventListener("click", () => ctx.onCopyMarkdown(node, copy));
    actions.append(raw, copy);
    head.append(actions);
  }
  box.append(head);

  const facts = node.isText ? [] : factsOf(node, ctx);
  if (facts.length) box.append(el(doc, "div", "lsw-detail-facts", facts.join(" · ")));

  if (node.isText) {
    box.append(textBlock(node.text || "", { ...vctx, key: "text" }));
    return box;
  }
  if (node.ui.raw) {
    box.append(section(doc, "Raw trace entries", rawJson(node.raw, { ...vctx, key: "raw" })));
    return box;
  }
  if (node.error) {
    const cancelled = node.status === "cancelled";
    const sec = section(doc, cancelled ? "Cancelled" : "Error", el(doc, "div", "lsw-error-text", errorText(node.error) || node.status),
      cancelled ? "lsw-section-cancelled" : "lsw-section-error");
    if (node.error.detail) {
      const tb = el(doc, "details", "lsw-traceback");
      tb.append(el(doc, "summary", "", "Traceback"), textBlock(node.error.detail, { ...vctx, key: "traceback", foldChars: 20_000 }));
      sec.append(tb);
    }
    box.append(sec);
  }
  if (node.isCall) box.append(...callSections(node, vctx));
  else if (node.kind === "llm") box.append(...llmSections(node, vctx));
  else if (node.kind === "tool") {
    if (node.hasStart) box.append(section(doc, "Arguments", argumentsView(node.input, { ...vctx, key: "in" })));
    if (node.hasEnd && !isEmpty(node.output)) box.append(section(doc, "Result", valueView(node.output, { ...vctx, key: "out" })));
  } else {
    if (node.hasStart && !isEmpty(node.input)) box.append(section(doc, "Input", ioView(node.input, { ...vctx, key: "in" })));
    if (node.hasEnd && !isEmpty(node.output)) box.append(section(doc, "Output", ioView(node.output, { ...vctx, key: "out" })));
  }
  if (node.usage && node.kind !== "llm") box.append(section(doc, "Usage", valueView(node.usage, { ...vctx, key: "usage" })));
  const attrs = visibleAttrs(node.attrs);
  if (attrs !== null) box.append(section(doc, "Attributes", attributesView(node, attrs, vctx)));
  const events = node.events.filter((e) => e.name !== "tool_call");
  if (events.length) box.append(section(doc, "Events", eventsView(events, node, doc)));
  if (box.querySelectorAll(".lsw-section").length === 0) {
    box.append(el(doc, "div", "lsw-section-empty", node.status === "running" ? "Running…" : "No details."));
  }
  return box;
}

function statusLabel(node) {
  if (node.isCall && node.status === "running") return "writing arguments…";
  if (node.status === "requested") return "requested";
  if (node.status === "running") return "running";
  return node.status === "ok" ? "OK" : node.status;
}

export function durationOf(node) {
  if (!node.hasEnd) return null;
  if (typeof node.durationMs === "number") return node.durationMs;
  if (typeof node.startTs === "number" && typeof node.endTs === "number") return (node.endTs - node.startTs) * 1000;
  return null;
}

/** Tool arguments: a table (JSON text parsed: never shown double-escaped). */
function argumentsView(input, ctx) {
  if (isEmpty(input)) return el(ctx.doc, "span", "lsw-muted", "(no arguments)");
  return valueView(input, ctx);
}

/** Input / output of any span: a conversation when it is one, else a readable value. */
function ioView(value, ctx) {
  if (isMessageList(value)) return conversationView(value, ctx);
  return valueView(value, ctx);
}

function llmSections(node, ctx) {
  const { doc } = ctx;
  const out = [];
  if (node.hasStart && !isEmpty(node.input)) {
    const input = isMessageList(node.input) ? conversationView(node.input, { ...ctx, key: "in" }) : valueView(node.input, { ...ctx, key: "in" });
    out.push(section(doc, "Input", input));
  }
  if (node.hasEnd && !isEmpty(node.output)) {
    const o = node.output;
    const view = isAssistantTurn(o) ? messageView({ role: "assistant", ...o }, { ...ctx, key: "out" }) : valueView(o, { ...ctx, key: "out" });
    out.push(section(doc, "Output", view));
  }
  if (node.usage) out.push(section(doc, "Usage", valueView(node.usage, { ...ctx, key: "usage" })));
  return out;
}

function callSections(node, ctx) {
  const { doc } = ctx;
  const parsed = parseJsonText(node.argsText);
  const label = node.argsDone ? "Arguments" : "Arguments (streaming…)";
  let view;
  if (parsed !== undefined) view = valueView(parsed, { ...ctx, key: "args" });
  else view = textBlock(node.argsText || "…", { ...ctx, key: "args" });
  const sec = section(doc, label, view);
  if (node.argsCut) {
    sec.append(el(doc, "div", "lsw-cut-note", `The trace streamed the first ${node.argsText.length.toLocaleString("en-US")} characters of ${node.argsTotal?.toLocaleString("en-US") ?? "more"}; the tool span shows them all.`));
  }
  if (node.argsGap) sec.append(el(doc, "div", "lsw-cut-note", "Part of the streamed arguments was missed; the tool span will show them whole."));
  const note = node.status === "requested"
    ? "The model asked for this call; it shows as a tool span once it runs."
    : "The model is still writing this call.";
  return [sec, el(doc, "div", "lsw-muted lsw-call-note", note)];
}

/**
 * Attributes folded under a disclosure naming their keys, open only when the user opens it (kept
 * per span): a producer's dump (LazyLLM's lazyllm.entity.id, trace ids...) never pushes the span's
 * input and output out of sight.
 */
function attributesView(node, attrs, ctx) {
  const { doc } = ctx;
  const box = el(doc, "details", "lsw-attrs");
  box.open = !!node.ui.attrsOpen;
  const keys = typeof attrs === "string" ? [] : Object.keys(attrs);
  const label = keys.length ? `${keys.length} attribute${keys.length === 1 ? "" : "s"}: ${summarize(keys.join(", "), 100)}` : "Show";
  box.append(el(doc, "summary", "", label));
  box.addEventListener("toggle", () => {
    node.ui.attrsOpen = box.open;
    if (box.open && box.childElementCount === 1) box.append(valueView(attrs, { ...ctx, key: "attrs" }));
  });
  if (box.open) box.append(valueView(attrs, { ...ctx, key: "attrs" }));
  return box;
}

function visibleAttrs(attrs) {
  if (typeof attrs === "string") return attrs;
  if (!attrs || typeof attrs !== "object") return null;
  const out = {};
  for (const [k, v] of Object.entries(attrs)) if (!HIDDEN_ATTRS.has(k)) out[k] = v;
  return Object.keys(out).length ? out : null;
}

function eventsView(events, node, doc) {
  const list = el(doc, "ul", "lsw-events");
  for (const ev of events.slice(0, 200)) {
    const at = ev.ts !== null && typeof node.startTs === "number" ? `+${formatDuration(Math.max(0, (ev.ts - node.startTs) * 1000))} ` : "";
    list.append(el(doc, "li", "lsw-event", `${at}${ev.name}${isEmpty(ev.attrs) ? "" : ` ${summarize(ev.attrs, 200)}`}`));
  }
  if (events.length > 200) list.append(el(doc, "li", "lsw-muted", `… ${events.length - 200} more`));
  return list;
}
