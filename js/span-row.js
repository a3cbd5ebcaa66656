// One row of the trace tree (a treeitem): disclosure triangle, kind, name, facts, roll-ups,
// status, duration and the waterfall bar. Rows have one fixed height so the tree can be
// virtualised; everything longer lives in the detail panel (span-detail.js).

import { errorText, formatDuration } from "./format.js";
import { formatCalls, formatCost, formatSubtreeCost, formatTokens, modelOf, rollsUp } from "./rollups.js";
import { durationOf } from "./span-detail.js";
import { summarize } from "./value-view.js";

/**
 * @typedef {{li: HTMLElement, toggle: HTMLElement, kind: HTMLElement, name: HTMLElement,
 *   spinner: HTMLElement, meta: HTMLElement, events: HTMLElement, below: HTMLElement,
 *   status: HTMLElement, dur: HTMLElement, fill: HTMLElement, node: any, v: number, key: string}} RowDom
 */

/** @param {Document} doc @returns {RowDom} */
export function createRow(doc) {
  const span = (cls) => {
    const e = doc.createElement("span");
    e.className = cls;
    return e;
  };
  const li = doc.createElement("div");
  li.className = "lsw-node";
  li.setAttribute("role", "treeitem");
  li.tabIndex = -1;
  const toggle = span("lsw-toggle");
  toggle.setAttribute("aria-hidden", "true");
  const kind = span("lsw-kind");
  const name = span("lsw-node-name");
  const spinner = span("lsw-spinner");
  spinner.setAttribute("aria-hidden", "true");
  const meta = span("lsw-node-meta");
  const spacer = span("lsw-row-spacer");
  const events = span("lsw-events-badge");
  const below = span("lsw-errors-below");
  const status = span("lsw-node-status");
  const dur = span("lsw-duration");
  const bar = span("lsw-bar");
  bar.setAttribute("aria-hidden", "true");
  const fill = span("lsw-bar-fill");
  bar.append(fill);
  li.append(toggle, kind, name, spinner, meta, spacer, events, below, status, dur, bar);
  return { li, toggle, kind, name, spinner, meta, events, below, status, dur, fill, node: null, v: -1, key: "" };
}

/** The short facts after a row's name. @returns {string[]} */
export function rowFacts(node, currency) {
  const parts = [];
  const a = node.attrs && typeof node.attrs === "object" ? node.attrs : {};
  if (node.isText) return parts;
  if (node.isCall) {
    parts.push(summarize(node.argsText, 80) || "…");
  } else if (node.kind === "llm") {
    const model = modelOf(node);
    if (model && model !== node.name) parts.push(model); // never "scripted scripted"
    const tok = formatTokens(node.own, "tok");
    if (tok) parts.push(tok);
    if (node.own.priced) parts.push(formatCost(node.own.cost, currency));
    if (typeof a.ttft_ms === "number") parts.push(`ttft ${formatDuration(a.ttft_ms)}`);
  } else if (node.kind === "tool") {
    const args = summarize(a.arguments ?? node.input);
    if (args) parts.push(args);
  }
  if (rollsUp(node)) {
    const calls = formatCalls(node.sub);
    if (calls) parts.push(calls);
    const tok = formatTokens(node.sub, "tok");
    if (tok) parts.push(tok);
    if (node.sub.priced) parts.push(formatSubtreeCost(node.sub, currency));
  }
  return parts;
}

function statusText(node) {
  if (node.status === "ok") return "OK";
  if (node.status === "running") return node.isCall ? "writing…" : "";
  return node.status;
}

/**
 * Bring a row up to date with its node.
 * @param {RowDom} row
 * @param {any} node
 * @param {{expanded: boolean, parent: boolean, selected: boolean, active: boolean, origin: number,
 *   currency: string, match: boolean, context: boolean}} s
 */
export function renderRow(row, node, s) {
  const li = row.li;
  row.node = node;
  row.v = node.v;
  li.dataset.span = node.id;
  li.dataset.kind = node.isText ? "text" : node.kind || "span";
  li.dataset.status = node.status;
  // the depth shown (folded internal spans above it are not counted)
  const depth = node.row.level - 1;
  li.dataset.depth = String(depth);
  li.style.setProperty("--d", String(depth));
  li.setAttribute("aria-level", String(node.row.level));
  li.setAttribute("aria-setsize", String(node.row.size));
  li.setAttribute("aria-posinset", String(node.row.pos));
  if (s.parent) li.setAttribute("aria-expanded", String(s.expanded));
  else li.removeAttribute("aria-expanded");
  li.setAttribute("aria-selected", String(s.selected));
  li.tabIndex = s.active ? 0 : -1;
  li.classList.toggle("lsw-open", s.parent && s.expanded);
  li.classList.toggle("lsw-match", s.match);
  li.classList.toggle("lsw-context", s.context);
  if (node.orphan) li.dataset.orphan = "true";
  else delete li.dataset.orphan;
  if (node.isCall) li.dataset.call = "true";
  else delete li.dataset.call;

  const kind = node.isText ? "text" : node.kind || "span";
  row.kind.textContent = kind;
  const name = node.isText ? node.text || "" : node.name || node.id.slice(0, 8);
  row.name.textContent = name;
  row.name.title = name;
  row.toggle.hidden = !s.parent;
  row.spinner.hidden = node.status !== "running";
  const facts = rowFacts(node, s.currency);
  row.meta.textContent = facts.join(" · ");
  row.meta.title = row.meta.textContent;
  row.meta.hidden = facts.length === 0;
  const evs = node.isText ? [] : node.events.filter((e) => e.name !== "tool_call");
  row.events.hidden = evs.length === 0;
  if (evs.length) {
    const names = [...new Set(evs.map((e) => e.name))];
    row.events.textContent = names.length === 1 ? `${names[0]} ×${evs.length}` : `${evs.length} events`;
    row.events.title = names.join(", ");
  }
  // an error anywhere below a collapsed node shows on it, so a folded tree still says where it failed
  const below = node.isText ? 0 : node.sub.errors - node.own.errors;
  row.below.hidden = !(below > 0 && s.parent && !s.expanded);
  if (!row.below.hidden) {
    row.below.textContent = `${below} error${below === 1 ? "" : "s"} below`;
  }
  row.status.textContent = node.isText ? "" : statusText(node);
  row.status.hidden = node.isText || (node.status === "running" && !node.isCall);
  const reason = node.status === "error" ? errorText(node.error) || "failed" : node.status === "cancelled" ? errorText(node.error) : "";
  if (reason) row.status.title = reason;
  else row.status.removeAttribute("title");
  const ms = durationOf(node);
  row.dur.textContent = ms !== null ? formatDuration(ms) : "";
  // waterfall, relative to the tree's origin (the run's start)
  const start = typeof node.startTs === "number" ? Math.max(0, node.startTs - s.origin) : 0;
  row.fill.style.setProperty("--s", String(start));
  if (node.hasEnd && typeof node.endTs === "number") row.fill.style.setProperty("--e", String(Math.max(start, node.endTs - s.origin)));
  else row.fill.style.setProperty("--e", "var(--lsw-now)");
  // what a screen reader says for the row: short, no ellipsis, no bar
  const said = [kind, name, statusText(node) || "running"];
  if (ms !== null) said.push(formatDuration(ms));
  if (facts.length) said.push(facts.join(", "));
  if (!row.below.hidden) said.push(row.below.textContent);
  li.setAttribute("aria-label", said.join(", "));
}
