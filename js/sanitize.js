// The single gate between generated HTML and the DOM.
//
// Everything the widget inserts as HTML (markdown-it output, highlight.js
// output) goes through sanitizeToFragment(); untrusted plain text (trace
// names, inputs, outputs, thinking) never becomes HTML: it is set with
// textContent. The policy, stricter than DOMPurify's default:
// - an allow-list of markdown tags (no img, svg, math, form, iframe, style...);
// - href only with http:, https:, mailto: or no scheme (relative / #anchor);
//   javascript:, vbscript:, data:, file: ... are dropped, whatever the case,
//   whitespace or control characters around them;
// - every link opens in a new tab with rel="noopener noreferrer";
// - class only for highlight/language classes; style only text-align (tables).
// Images are never loaded: markdown images become links (see markdown.js),
// because a zero-click remote image is a classic data exfiltration channel for
// prompt-injected model output.

import createDOMPurify from "dompurify";

const ALLOWED_TAGS = [
  "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
  "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup",
  "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
];
const ALLOWED_ATTR = ["href", "title", "class", "start", "style", "colspan", "rowspan"];
const SAFE_SCHEMES = new Set(["http", "https", "mailto"]);
const SAFE_CLASS = /^(language-[\w+#.-]{1,40}|hljs(-[\w-]{1,40})?|[a-z]{1,20}_{1,3}|lsw-img-link|lsw-math|lsw-math-display|lsw-sep)$/;
const SAFE_STYLE = /^text-align:\s*(left|right|center);?$/i;

/**
 * Whether an href may stay on a link: http(s), mailto, or scheme-less.
 * Browsers ignore ASCII whitespace and control characters inside a scheme
 * ("java\tscript:"), so those are removed before looking at it.
 * @param {string|null|undefined} href
 * @returns {boolean}
 */
export function isSafeHref(href) {
  if (typeof href !== "string") return false;
  // eslint-disable-next-line no-control-regex
  const squashed = href.replace(/[\u0000-\u0020\u007f-\u009f\u00a0\u2028\u2029\ufeff]/g, "").toLowerCase();
  const m = /^([a-z][a-z0-9+.-]*):/.exec(squashed);
  if (m) return SAFE_SCHEMES.has(m[1]);
  // No scheme: relative URL. Refuse anything that still looks like a scheme
  // after entity/percent tricks ("javascript&colon;", "%6aavascript:").
  return !/^[^/?#]*(:|&colon;|%3a)/i.test(squashed);
}

/** @param {string|null|undefined} url @returns {boolean} an absolute http(s) URL */
export function isHttpUrl(url) {
  return typeof url === "string" && /^https?:\/\/[^\s]+$/i.test(url.trim());
}

let purifier = null;

function getPurifier() {
  if (purifier) return purifier;
  purifier = createDOMPurify(window);
  purifier.addHook("uponSanitizeAttribute", (_node, data) => {
    if (data.attrName === "class") {
      const kept = data.attrValue.split(/\s+/).filter((c) => SAFE_CLASS.test(c));
      if (kept.length) data.attrValue = kept.join(" ");
      else data.keepAttr = false;
    } else if (data.attrName === "style" && !SAFE_STYLE.test(data.attrValue.trim())) {
      data.keepAttr = false;
    }
  });
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName !== "A") return;
    if (node.hasAttribute("href") && !isSafeHref(node.getAttribute("href"))) node.removeAttribute("href");
    if (node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
  return purifier;
}

let mathPurifier = null;

/**
 * Sanitize KaTeX's output (HTML with inline styles, MathML for screen readers, SVG for some
 * glyphs) into a DocumentFragment. KaTeX already escapes its input and, with trust off, makes no
 * links or images; this second gate (DOMPurify's HTML + MathML + SVG profiles, its own instance
 * without the markdown policy's hooks) still removes scripts, handlers and foreign elements.
 * @param {string} html
 * @returns {DocumentFragment}
 */
export function sanitizeMathToFragment(html) {
  mathPurifier ??= createDOMPurify(window);
  return mathPurifier.sanitize(html, {
    USE_PROFILES: { html: true, mathMl: true, svg: true },
    FORBID_TAGS: ["style", "foreignobject", "a", "img", "image", "use", "form", "input"],
    FORBID_ATTR: ["href", "xlink:href", "src", "action"],
    RETURN_DOM_FRAGMENT: true,
  });
}

/**
 * Sanitize an HTML string into a DocumentFragment (never a string: the result
 * cannot be re-parsed differently by a later innerHTML).
 * @param {string} html
 * @returns {DocumentFragment}
 */
export function sanitizeToFragment(html) {
  return getPurifier().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  });
}
