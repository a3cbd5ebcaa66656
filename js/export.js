// "Save as HTML": one self-contained file with the run's answer and its interactive trace tree (no
// server, no network). The page is lazystream_widget/export_template.html, the same template that
// run.to_html(path) fills in Python: the widget's own bundle (base64), its CSS and the run's state.

import TEMPLATE from "../lazystream_widget/export_template.html";

/** @param {string} s */
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/** JSON that is safe inside <script type="application/json"> (no "</script", no "<!--"). */
export function scriptJson(value) {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** UTF-8 base64 of a string (the widget's bundle), in slices so a 1 MB bundle does not overflow the stack. */
export function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/**
 * The run as its saved state (what the `runs` trait holds).
 * @param {import("./store.js").Run} run
 * @returns {import("./protocol.js").RunState}
 */
export function runState(run) {
  const { id, query, status, text, thinking, entries, error, result, started_at, ended_at, stats, notices, prices, currency } = run;
  return { id, query, status, text, thinking, entries, error, result, started_at, ended_at, stats, notices, prices, currency };
}

/**
 * Fill the export template.
 * @param {{esm: string, css: string, runs: import("./protocol.js").RunState[], title?: string, note?: string}} parts
 * @returns {string}
 */
export function exportHtml(parts) {
  const title = parts.title || "lazystream-widget run";
  const fill = {
    __LSW_TITLE__: escapeHtml(title),
    __LSW_NOTE__: escapeHtml(parts.note ?? ""),
    __LSW_CSS__: parts.css.replace(/<\/style/gi, "<\\/style"),
    __LSW_STATE__: scriptJson({ runs: parts.runs, title: "" }),
    __LSW_ESM__: base64Utf8(parts.esm),
  };
  // split/join, not replace(): the filled-in text may contain "$&" and friends
  let html = TEMPLATE;
  for (const [key, value] of Object.entries(fill)) html = html.split(key).join(value);
  return html;
}

/** A file name from the question: "lazystream-what-s-the-weather.html". */
export function exportFileName(query) {
  const slug = String(query || "run").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40);
  return `lazystream-${slug || "run"}.html`;
}

/**
 * The widget's own code and styles, from its model (anywidget syncs `_esm` and `_css`), else by
 * fetching the module's own URL.
 * @param {{get(name: string): any}} model
 * @returns {Promise<{esm: string, css: string}>}
 */
export async function ownBundle(model) {
  let esm = model.get("_esm");
  let css = model.get("_css");
  if (typeof esm !== "string" || !esm.includes("export")) esm = await (await fetch(import.meta.url)).text();
  if (typeof css !== "string") css = "";
  return { esm, css };
}

/**
 * Offer the run as an HTML file download.
 * @param {{get(name: string): any}} model
 * @param {import("./store.js").Run} run
 * @param {Document} doc
 */
export async function downloadRunHtml(model, run, doc) {
  const { esm, css } = await ownBundle(model);
  const when = typeof run.started_at === "number" ? new Date(run.started_at * 1000).toISOString().slice(0, 16).replace("T", " ") : "";
  const html = exportHtml({
    esm, css, runs: [runState(run)], title: run.query || "lazystream-widget run",
    note: `Saved from lazystream-widget${when ? `, run of ${when} UTC` : ""}.`,
  });
  const url = URL.createObjectURL(new Blob([html], { type: "text/html" }));
  const a = doc.createElement("a");
  a.href = url;
  a.download = exportFileName(run.query);
  a.style.display = "none";
  doc.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return html.length;
}
