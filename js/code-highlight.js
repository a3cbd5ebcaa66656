// highlight.js core with a handful of common languages (the full build would
// triple the bundle). Languages bring their own aliases (py, js, ts, sh, yml,
// html, ...).

import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

const LANGUAGES = { bash, css, diff, javascript, json, markdown, python, shell, sql, typescript, xml, yaml };
for (const [name, def] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, def);

/** Code longer than this stays plain: highlighting it would stall the page. */
export const MAX_HIGHLIGHT_CHARS = 100_000;

/**
 * Highlight `code` as `lang`. Returns an HTML string (to be sanitized by the
 * caller) or null when the language is unknown or the code too long.
 * @param {string} code
 * @param {string} lang
 * @returns {string|null}
 */
export function highlightCode(code, lang) {
  if (!lang || code.length > MAX_HIGHLIGHT_CHARS) return null;
  const name = lang.toLowerCase();
  if (!hljs.getLanguage(name)) return null;
  try {
    return hljs.highlight(code, { language: name, ignoreIllegals: true }).value;
  } catch {
    return null;
  }
}

/** @param {string} lang @returns {boolean} */
export function isKnownLanguage(lang) {
  return !!lang && !!hljs.getLanguage(lang.toLowerCase());
}
