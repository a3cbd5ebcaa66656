// Readable views of trace values: key/value tables for objects, text for strings, long values
// folded, and a clear note where the kernel cut a value (protocol: TRUNCATION_MARKER). A string
// that holds JSON (tool-call arguments arrive as JSON text) is shown parsed, never double-escaped.
// Untrusted text only ever goes through textContent.

import { WIDGET_VALUE_FOLD_CHARS } from "./protocol.js";

/** "…[truncated, 1048576 bytes in all]" at the end of a value the kernel cut (limits.TRUNCATION_MARKER). */
const CUT_MARKER = /…\[truncated, (\d+) bytes in all\]$/;

/**
 * Split a value the kernel cut into the part kept and the original size.
 * @param {string} text
 * @returns {{kept: string, totalBytes: number|null}}
 */
export function splitCut(text) {
  const m = CUT_MARKER.exec(text);
  if (!m) return { kept: text, totalBytes: null };
  return { kept: text.slice(0, m.index), totalBytes: Number(m[1]) };
}

/** A string holding a JSON object or array, parsed; else undefined. */
export function parseJsonText(text) {
  if (typeof text !== "string") return undefined;
  const t = text.trim();
  if (!((t.startsWith("{") && t.endsWith("}")) || (t.startsWith("[") && t.endsWith("]")))) return undefined;
  try {
    const v = JSON.parse(t);
    return v && typeof v === "object" ? v : undefined;
  } catch {
    return undefined;
  }
}

const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isScalar = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);

/** One-line summary of a value (row meta, markdown): JSON text of structures, strings as they are. */
export function summarize(value, max = 80) {
  if (value === undefined || value === null) return "";
  let text;
  if (typeof value === "string") text = splitCut(value).kept;
  else {
    try {
      text = JSON.stringify(value);
    } catch {
      text = String(value);
    }
  }
  text = (text ?? "").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** "8,192 characters" / "1.0 MB" */
function sizeText(bytes) {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 10_000) return `${(bytes / 1000).toFixed(0)} kB`;
  return `${bytes.toLocaleString("en-US")} bytes`;
}

/**
 * @typedef {{doc: Document, foldChars?: number, ui?: Record<string, any>, key?: string, depth?: number}} ViewCtx
 *   ui/key: where "Show all" state is kept (so a re-render keeps it)
 */

/**
 * A text block, folded past `foldChars` with a "Show all" button, with a note when the kernel
 * cut the value (so a 1 MB input never looks like its first 8 KiB is all of it).
 * @param {string} text
 * @param {ViewCtx} ctx
 * @returns {HTMLElement}
 */
export function textBlock(text, ctx) {
  const { doc } = ctx;
  const fold = ctx.foldChars ?? WIDGET_VALUE_FOLD_CHARS;
  const { kept, totalBytes } = splitCut(text);
  const box = doc.createElement("div");
  box.className = "lsw-text";
  const pre = doc.createElement("pre");
  pre.className = "lsw-value";
  const key = ctx.key ?? "";
  const open = !!ctx.ui?.showAll?.[key];
  const long = kept.length > fold;
  pre.textContent = long && !open ? `${kept.slice(0, fold)}…` : kept;
  box.append(pre);
  if (long && !open) {
    const btn = doc.createElement("button");
    btn.type = "button";
    btn.className = "lsw-btn lsw-show-all";
    btn.textContent = `Show all ${kept.length.toLocaleString("en-US")} characters`;
    btn.addEventListener("click", () => {
      if (ctx.ui) (ctx.ui.showAll ??= {})[key] = true;
      pre.textContent = kept;
      btn.remove();
    });
    box.append(btn);
  }
  if (totalBytes !== null) {
    const note = doc.createElement("div");
    note.className = "lsw-cut-note";
    note.textContent = `The trace keeps the first ${kept.length.toLocaleString("en-US")} characters of this value (${sizeText(totalBytes)} in all).`;
    box.append(note);
  }
  return box;
}

/**
 * A readable view of any trace value.
 * @param {unknown} value
 * @param {ViewCtx} ctx
 * @returns {HTMLElement}
 */
export function valueView(value, ctx) {
  const { doc } = ctx;
  const depth = ctx.depth ?? 0;
  if (typeof value === "string") {
    const parsed = parseJsonText(value);
    if (parsed !== undefined) return valueView(parsed, ctx);
    // a short one-line string inside a table reads best as plain text
    if (depth > 0 && value.length <= 120 && !value.includes("\n") && !splitCut(value).totalBytes) {
      const span = doc.createElement("span");
      span.className = "lsw-scalar";
      span.dataset.type = "string";
      span.textContent = value;
      return span;
    }
    return textBlock(value, ctx);
  }
  if (isScalar(value)) {
    const span = doc.createElement("span");
    span.className = "lsw-scalar";
    span.dataset.type = value === null ? "null" : typeof value;
    span.textContent = value === null ? "null" : String(value);
    return span;
  }
  if (isPlainObject(value) && depth < 4) {
    const keys = Object.keys(value);
    if (keys.length === 0) return emptyNote(doc, "{}");
    if (keys.length <= 60) return kvTable(value, ctx);
  }
  if (Array.isArray(value) && depth < 4) {
    if (value.length === 0) return emptyNote(doc, "[]");
    if (value.length <= 60 && value.every(isScalar) && value.every((v) => typeof v !== "string" || v.length < 80)) {
      const span = doc.createElement("span");
      span.className = "lsw-scalar lsw-list";
      span.textContent = value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(", ");
      return span;
    }
    if (value.length <= 60) {
      const list = doc.createElement("ol");
      list.className = "lsw-value-list";
      list.start = 0;
      value.forEach((item, i) => {
        const li = doc.createElement("li");
        li.append(valueView(item, { ...ctx, depth: depth + 1, key: `${ctx.key ?? ""}[${i}]` }));
        list.append(li);
      });
      return list;
    }
  }
  // large or deep: its JSON text, folded
  let text;
  try {
    text = JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    text = String(value);
  }
  return textBlock(text, ctx);
}

function emptyNote(doc, text) {
  const span = doc.createElement("span");
  span.className = "lsw-scalar lsw-empty-value";
  span.textContent = text;
  return span;
}

/**
 * A key/value table (keys as row headers; values as readable views, nested objects as nested tables).
 * @param {Record<string, unknown>} obj
 * @param {ViewCtx} ctx
 * @returns {HTMLTableElement}
 */
export function kvTable(obj, ctx) {
  const { doc } = ctx;
  const table = doc.createElement("table");
  table.className = "lsw-kv";
  const body = doc.createElement("tbody");
  for (const [k, v] of Object.entries(obj)) {
    const tr = doc.createElement("tr");
    const th = doc.createElement("th");
    th.scope = "row";
    th.textContent = k;
    const td = doc.createElement("td");
    td.append(valueView(v, { ...ctx, depth: (ctx.depth ?? 0) + 1, key: `${ctx.key ?? ""}.${k}` }));
    tr.append(th, td);
    body.append(tr);
  }
  table.append(body);
  return table;
}

/**
 * Pretty JSON of anything (the "Raw JSON" view), folded like text.
 * @param {unknown} value
 * @param {ViewCtx} ctx
 */
export function rawJson(value, ctx) {
  let text;
  try {
    text = JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    text = String(value);
  }
  return textBlock(text, { ...ctx, foldChars: Math.max(ctx.foldChars ?? WIDGET_VALUE_FOLD_CHARS, 20_000) });
}
