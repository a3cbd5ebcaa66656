import { describe, expect, test, vi } from "vitest";
import { grownText } from "../grown-text.js";
import { createMarkdownIt, createMarkdownRenderer, completeBlockCount, topLevelBlocks } from "../markdown.js";
import { sanitizeToFragment } from "../sanitize.js";
import { cpuMs, normalizedBlocks, rng } from "./helpers.js";

const mdRef = createMarkdownIt();

/** One-shot reference: markdown-it over the full text, then the sanitizer. */
function reference(text) {
  return normalizedBlocks(Array.from(sanitizeToFragment(mdRef.render(text)).childNodes));
}

function rendered(container) {
  const [frozen, live] = container.children;
  // frozen blocks sit in groups (div.lsw-md-group)
  const frozenBlocks = [...frozen.children].flatMap((group) => [...group.childNodes]);
  return normalizedBlocks([...frozenBlocks, ...live.childNodes]);
}

function setup(opts = { highlight: false }) {
  const el = document.createElement("div");
  document.body.appendChild(el);
  const r = createMarkdownRenderer(el, opts);
  return { el, r };
}

// Documents chosen for the places where a partial line changes meaning or a
// block continues after a blank line.
const CORPUS = [
  "# Title\n\nFirst paragraph with **bold** and `code`.\n\nSecond one\nwith a lazy line.\n",
  "para\n#x not a heading\n\npara\n# heading\ntext after\n",
  "1. one\n2. two\n\n3. three (same list, loose)\n\nafter the list\n",
  "- a\n\n  continued in item a\n\n- b\n  - nested\n\n    deep\n\nend\n",
  "- a\n\n* other list\n\n+ third\n\ndone\n",
  "> quote\nlazy continuation\n\n> second quote\n\nafter\n",
  "| a | b |\n|---|:-:|\n| 1 | 2 |\n| 3 | 4 |\n\nafter table\n",
  "text\n| a | b |\n| - | - |\n| x | y |\n",
  "```python\ndef f(x):\n    return x * 2\n```\nright after the fence\n\n~~~\ntilde fence\n~~~\n",
  "````\n```\nnested backticks\n```\n````\n\n```js\nunclosed fence at the end\nconst x = 1;\n",
  "    indented code\n\n    more of it\n\nparagraph\n\n    again\n",
  "Setext\n===\n\nAnother\n---\n\n***\n\n- - -\n",
  "Links: https://example.com and [md](https://example.org \"t\") <https://auto.link>\n\n[ref]: https://example.net\n\nuse [ref] later\n",
  "Line one\r\nline two\r\n\r\n- item\r\n",
  "para\n\n1\n\n2) other delimiter\n\n10. ten\n",
  "<div>html is text</div>\n\n<script>alert(1)</script>\n\n**bold\n\nunfinished *emphasis\n",
];

describe("incremental markdown", () => {
  test.each(CORPUS.map((d, i) => [i, d]))("doc %i: every prefix renders like a one-shot render", (_i, doc) => {
    const { el, r } = setup();
    for (let i = 0; i < doc.length; i++) {
      r.append(doc[i]);
      const prefix = doc.slice(0, i + 1);
      // A "\r" is held back until we know whether "\n" follows; compare with
      // the text as markdown-it would see it at this point.
      const visible = prefix.endsWith("\r") ? prefix.slice(0, -1) : prefix;
      expect(rendered(el), `after ${JSON.stringify(visible)}`).toEqual(reference(visible));
    }
    r.finish();
    expect(rendered(el)).toEqual(reference(doc));
    r.destroy();
  });

  test("random chunkings end equal to the one-shot render", () => {
    const all = CORPUS.join("\n");
    const rand = rng(42);
    for (let round = 0; round < 5; round++) {
      const { el, r } = setup();
      let i = 0;
      while (i < all.length) {
        const n = 1 + Math.floor(rand() * 40);
        r.append(all.slice(i, i + n));
        i += n;
        expect(rendered(el)).toEqual(reference(all.slice(0, i).replace(/\r$/, "")));
      }
      r.finish();
      expect(rendered(el)).toEqual(reference(all));
    }
  });

  test("pieces with the live tail deferred, then renderLive(), render like a one-shot render", () => {
    const all = CORPUS.join("\n");
    const rand = rng(7);
    const { el, r } = setup();
    let i = 0;
    while (i < all.length) {
      // a frame: a few pieces, only the last one draws the live tail
      const pieces = 1 + Math.floor(rand() * 4);
      for (let p = 0; p < pieces && i < all.length; p++) {
        const n = 1 + Math.floor(rand() * 60);
        r.append(all.slice(i, i + n), { live: false });
        i += n;
      }
      r.renderLive();
      const visible = all.slice(0, i).replace(/\r$/, "");
      expect(rendered(el), `after ${i} chars`).toEqual(reference(visible));
      r.renderLive(); // nothing left behind: a second call changes nothing
      expect(rendered(el)).toEqual(reference(visible));
    }
    r.finish();
    expect(rendered(el)).toEqual(reference(all));
    r.destroy();
  });

  test("words added to the last paragraph grow its text node in place; anything else is drawn in full", () => {
    const { el, r } = setup();
    const live = () => el.querySelector(".lsw-md-live");
    r.append("Hello");
    const node = live().querySelector("p").firstChild;
    // a full draw morphs the paragraph to the fresh render, which drops an attribute it does not have
    live().querySelector("p").setAttribute("data-mark", "1");
    r.append(" wide");
    r.append(" world");
    expect(live().querySelector("p").firstChild).toBe(node); // the same text node, grown...
    expect(node.data).toBe("Hello wide world");
    expect(live().querySelector("p").hasAttribute("data-mark")).toBe(true); // ...and nothing drawn in full
    r.append(" **bold**");
    expect(live().querySelector("p strong").textContent).toBe("bold"); // emphasis formed: drawn in full
    expect(live().querySelector("p").hasAttribute("data-mark")).toBe(false);
    r.append(" and");
    expect(live().querySelector("p").lastChild.data).toBe(" and"); // after the <strong>, not inside it
    expect(live().querySelector("p strong").textContent).toBe("bold");
    r.append(" see https://example.com");
    const a = live().querySelector("p a");
    expect(a.getAttribute("href")).toBe("https://example.com"); // a link formed: through the sanitizer
    expect(a.getAttribute("rel")).toBe("noopener noreferrer");
    r.append(" &lt");
    r.append(";b");
    expect(live().querySelector("p").lastChild.data).toBe(" <b"); // an entity completed: drawn in full
    expect(live().querySelector("p b")).toBeNull();
    expect(rendered(el)).toEqual(reference("Hello wide world **bold** and see https://example.com &lt;b"));
  });

  test("grownText: only the last text growing at its end", () => {
    const p = (s) => mdRef.parse(s, {});
    expect(grownText(p("a b"), p("a b c"))).toEqual({ before: "a b", added: " c" });
    expect(grownText(p("- x\n- y"), p("- x\n- yz"))).toEqual({ before: "y", added: "z" });
    expect(grownText(p("a *b"), p("a *b*"))).toBeNull(); // emphasis
    expect(grownText(p("a"), p("a\n\nb"))).toBeNull(); // a new block
    expect(grownText(p("a"), p("a\nb"))).toBeNull(); // a soft break
    expect(grownText(p("x http"), p("x http://a.io"))).toBeNull(); // a link
    expect(grownText(p("**a**"), p("**a** b"))).toBeNull(); // the empty text after ** has no node
    expect(grownText(p("```\na"), p("```\nab"))).toBeNull(); // code: drawn in full
  });

  test("frozen block count grows and frozen DOM nodes are never replaced", () => {
    const { el, r } = setup({ highlight: true });
    const frozen = el.querySelector(".lsw-md-frozen");
    const blocks = () => [...frozen.children].flatMap((group) => [...group.children]); // in their groups
    r.append("# Heading\n\nFirst paragraph.\n\n");
    r.append("Second paragraph.\n\n");
    const count1 = r.frozenBlockCount;
    const nodes1 = blocks();
    expect(count1).toBeGreaterThanOrEqual(2);
    expect(nodes1.length).toBeGreaterThanOrEqual(2);
    r.append("```python\nprint('hi')\n```\n\nThird paragraph.\n\n- a\n- b\n\nfourth");
    const count2 = r.frozenBlockCount;
    expect(count2).toBeGreaterThan(count1);
    const nodes2 = blocks();
    nodes1.forEach((node, i) => expect(nodes2[i]).toBe(node));
    // The list is frozen (a paragraph with a complete first line would follow it
    // only after "fourth\n"); the paragraph "fourth" is live.
    expect(el.querySelector(".lsw-md-live").textContent).toContain("fourth");
    r.append(" more\n\nfifth\n");
    const nodes3 = blocks();
    nodes2.forEach((node, i) => expect(nodes3[i]).toBe(node));
    expect(r.frozenBlockCount).toBeGreaterThan(count2);
  });

  test("an unfinished fence renders as a code block while it streams, then highlighted", () => {
    const { el, r } = setup({ highlight: true });
    r.append("Intro\n\n```python\ndef f(");
    const live = el.querySelector(".lsw-md-live");
    const code = live.querySelector(".lsw-code pre code");
    expect(code).not.toBeNull();
    expect(code.textContent).toBe("def f(");
    expect(code.querySelector("span")).toBeNull(); // plain while streaming
    r.append("x):\n    return x\n");
    expect(live.querySelector("code").textContent).toBe("def f(x):\n    return x\n");
    r.append("```\n");
    r.finish();
    const final = el.querySelector(".lsw-md-frozen .lsw-code code");
    expect(final.textContent).toBe("def f(x):\n    return x\n");
    expect(final.querySelector(".hljs-keyword")).not.toBeNull();
    expect(el.querySelector(".lsw-code-lang").textContent).toBe("python");
  });

  test("unfinished list and table render without throwing", () => {
    const { el, r } = setup();
    expect(() => {
      for (const ch of "- a\n- b\n  - c\n| x | y |\n|--") r.append(ch);
      for (const ch of "-|---|\n| 1 | 2") r.append(ch);
    }).not.toThrow();
    expect(el.querySelector("li")).not.toBeNull();
  });

  test("a partial line does not freeze the block before it", () => {
    const md = createMarkdownIt();
    const blocks = (s) => topLevelBlocks(md.parse(s, {}));
    const lines = (s) => (s.match(/\n/g) || []).length;
    // "para\n#" is paragraph + empty heading, but "#x" would merge back.
    expect(completeBlockCount(blocks("para\n#"), lines("para\n#"))).toBe(0);
    expect(completeBlockCount(blocks("para\n# h\n"), lines("para\n# h\n"))).toBe(1);
    // A list stays live while a list follows.
    expect(completeBlockCount(blocks("- a\n\n1. b\n"), 2)).toBe(0);
    expect(completeBlockCount(blocks("- a\n\npara\n"), 3)).toBe(1);
  });

  test("forward reference links are fixed by finish()", () => {
    const { el, r } = setup();
    const doc = "see [the docs][d]\n\nmore text\n\n[d]: https://example.com/docs\n";
    for (const ch of doc) r.append(ch);
    r.finish();
    expect(rendered(el)).toEqual(reference(doc));
    expect(el.querySelector("a").getAttribute("href")).toBe("https://example.com/docs");
  });

  test("display bound: only maxChars rendered, then 'show more' renders the next slice", () => {
    const { el, r } = setup({ maxChars: 100, highlight: false });
    el.after(r.moreButton);
    const para = "word ".repeat(19) + "\n\n"; // 97 chars
    r.append(para + para + para);
    expect(el.textContent.length).toBeLessThanOrEqual(100);
    expect(r.moreButton.hidden).toBe(false);
    expect(r.hiddenChars).toBe(3 * 97 - 100);
    expect(r.moreButton.textContent).toContain("191");
    r.moreButton.click();
    expect(r.hiddenChars).toBe(91);
    r.append(para);
    expect(r.hiddenChars).toBe(91 + 97);
    r.showMore();
    r.showMore();
    expect(r.hiddenChars).toBe(0);
    expect(r.moreButton.hidden).toBe(true);
    r.finish();
    expect(rendered(el)).toEqual(reference(para.repeat(4)));
  });

  test("with a host (onBacklog), 'show more' queues its slice; drain() feeds it in pieces, in order", () => {
    let asked = 0;
    const { el, r } = setup({ maxChars: 100, highlight: false, onBacklog: () => asked++ });
    const para = "word ".repeat(19) + "\n\n"; // 97 chars
    r.append(para + para + para);
    const shown = el.textContent;
    r.moreButton.click();
    expect(asked).toBe(1);
    expect(el.textContent).toBe(shown); // nothing drawn in the click itself
    expect(r.backlogChars).toBe(3 * 97 - 100);
    r.append("tail text\n"); // arrives while the backlog drains: goes after it
    let pieces = 0;
    while (r.backlogChars > 0) {
      expect(r.drain(40, { live: pieces % 2 === 0 })).toBeGreaterThan(0);
      pieces++;
    }
    r.renderLive();
    expect(pieces).toBeGreaterThan(3);
    expect(r.hiddenChars).toBe(3 * 97 + 10 - 200);
    r.showMore();
    while (r.backlogChars > 0) r.drain(1000);
    r.finish();
    expect(rendered(el)).toEqual(reference(para + para + para + "tail text\n"));
  });

  test("with a host, 'show more' after finish() re-renders through the backlog, then finish() again", () => {
    const { el, r } = setup({ maxChars: 100, highlight: false, onBacklog: () => {} });
    const doc = "- one\n- two\n\n" + "word ".repeat(30) + "\n\n```js\nconst x = 1;\n```\n";
    r.append(doc);
    r.finish();
    expect(r.hiddenChars).toBeGreaterThan(0);
    r.showMore();
    expect(r.backlogChars).toBe(doc.length);
    while (r.backlogChars > 0) r.drain(17, { live: false });
    r.renderLive();
    r.finish();
    expect(r.hiddenChars).toBe(0);
    expect(rendered(el)).toEqual(reference(doc));
    expect(r.text()).toBe(doc);
  });

  test("text arriving after finish() continues the cut-short block", () => {
    const { el, r } = setup();
    r.append("First.\n\nStill writ");
    r.finish();
    r.append("ing this.\n");
    r.finish();
    expect(rendered(el)).toEqual(reference("First.\n\nStill writing this.\n"));
  });

  test("show more after finish() renders the cut block whole", () => {
    const { el, r } = setup({ maxChars: 30, highlight: false });
    const doc = "A paragraph that is longer than thirty characters.\n\nNext.";
    r.append(doc);
    r.finish();
    expect(el.textContent.trim()).toBe(doc.slice(0, 30));
    r.showMore();
    expect(r.hiddenChars).toBe(0);
    expect(rendered(el)).toEqual(reference(doc));
  });

  test("update(full) appends when the text grew and re-renders when it changed", () => {
    const { el, r } = setup();
    r.update("# a\n\nb\n\n");
    const first = el.querySelector(".lsw-md-frozen").firstElementChild;
    r.update("# a\n\nb\n\nc");
    expect(el.querySelector(".lsw-md-frozen").firstElementChild).toBe(first);
    r.update("something else");
    expect(el.textContent.trim()).toBe("something else");
    expect(r.text()).toBe("something else");
  });

  test("a \\r\\n split across chunks is one line break", () => {
    const { el, r } = setup();
    r.append("a\r");
    r.append("\n\r");
    r.append("\nb\r");
    r.finish();
    expect(rendered(el)).toEqual(reference("a\n\nb\n"));
  });

  test("code block copy button copies the code text", async () => {
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(window.navigator, "clipboard", { value: { writeText }, configurable: true });
    const { el, r } = setup({ highlight: true });
    r.append("```bash\necho hi\n```\n\nafter\n");
    el.querySelector(".lsw-code-copy").click();
    await new Promise((res) => setTimeout(res, 0));
    expect(writeText).toHaveBeenCalledWith("echo hi\n");
    expect(el.querySelector(".lsw-code-copy").textContent).toBe("Copied");
    r.destroy();
    delete window.navigator.clipboard;
  });
});

// ---------------------------------------------------------------------------
// Linear time: 50,000 tokens as 10-token deltas. A renderer that re-parsed
// the whole answer on each delta would be ~25x slower per token at the end
// than at the start; ours only re-parses the unfinished tail.

function syntheticAnswer(tokens) {
  const rand = rng(7);
  const words = ["the", "agent", "calls", "a", "tool", "and", "streams", "tokens", "**fast**", "`code`", "into", "markdown"];
  const out = [];
  let count = 0;
  const word = () => words[Math.floor(rand() * words.length)];
  while (count < tokens) {
    const kind = Math.floor(rand() * 6);
    if (kind === 0) {
      out.push(`## Section ${count}\n\n`);
      count += 3;
    } else if (kind === 1) {
      const lines = [];
      for (let i = 0; i < 8; i++) lines.push(`    x_${i} = compute(${i}, "${word()}")`);
      out.push("```python\n" + lines.join("\n") + "\n```\n\n");
      count += 80;
    } else if (kind === 2) {
      for (let i = 0; i < 5; i++) out.push(`- item ${i}: ${word()} ${word()} ${word()}\n`);
      out.push("\n");
      count += 30;
    } else if (kind === 3) {
      out.push("| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n");
      count += 20;
    } else {
      const n = 30 + Math.floor(rand() * 40);
      const ws = [];
      for (let i = 0; i < n; i++) ws.push(word());
      out.push(ws.join(" ") + ".\n\n");
      count += n;
    }
  }
  // Split into exactly `tokens` pieces (~4-5 characters each).
  const text = out.join("");
  const pieces = [];
  for (let i = 0; i < tokens; i++) pieces.push(text.slice(Math.floor((i * text.length) / tokens), Math.floor(((i + 1) * text.length) / tokens)));
  return pieces;
}

test("50k tokens as 10-token deltas: late cost per 1k tokens is not much above early cost", () => {
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const pieces = syntheticAnswer(50_000);
  const { el, r } = setup({ highlight: true });
  const perThousand = [];
  // CPU time, not wall time: on a loaded machine the wall clock mostly measures the other processes.
  const tStart = cpuMs();
  let t0 = tStart;
  for (let i = 0; i < pieces.length; i += 10) {
    r.append(pieces.slice(i, i + 10).join(""));
    if ((i + 10) % 1000 === 0) {
      const t = cpuMs();
      perThousand.push(t - t0);
      t0 = t;
      // Fail fast when it is clearly superlinear (a quadratic renderer would
      // otherwise take minutes and run out of memory before the end).
      if (perThousand.length > 6) {
        const early = median(perThousand.slice(1, 6));
        const last = perThousand[perThousand.length - 1];
        if ((last > 10 * early && last > 500) || t - tStart > 60_000) {
          expect.fail(`1k tokens at ${perThousand.length}k took ${last.toFixed(0)} ms vs ${early.toFixed(0)} ms early`);
        }
      }
    }
  }
  r.finish();
  expect(perThousand.length).toBe(50);
  const early = median(perThousand.slice(2, 12)); // skip JIT warm-up
  const late = median(perThousand.slice(-10));
  const ratio = late / early;
  console.log(perThousand.map((x) => x.toFixed(0)).join(" "));
  console.log(`markdown: early ${early.toFixed(1)} ms CPU/1k tokens, late ${late.toFixed(1)} ms CPU/1k tokens, ratio ${ratio.toFixed(2)}`);
  expect(ratio).toBeLessThan(3);
  expect(r.frozenBlockCount).toBeGreaterThan(1000);
  expect(el.querySelector(".lsw-md-live").childNodes.length).toBe(0);
});

describe("adjacent lists do not stop freezing", () => {
  test("a bullet list then a numbered list are frozen once a later block follows", () => {
    const blocks = topLevelBlocks(mdRef.parse("- a\n- b\n\n1. one\n2. two\n\nafter\n\nmore\n", {}));
    // bullet list, ordered list, two paragraphs: the first three are certainly complete
    expect(completeBlockCount(blocks, 9)).toBe(3);
  });

  test("while the second list is the last block, the pair stays live", () => {
    const blocks = topLevelBlocks(mdRef.parse("- a\n\n1. one\n", {}));
    expect(completeBlockCount(blocks, 3)).toBe(0);
  });

  test("the live tail stays small over a long answer made of list pairs", () => {
    const { el, r } = setup();
    const unit = "- item\n- item\n\n1. first\n2. second\n\n> quote\n\n> another\n\nA paragraph.\n\n";
    for (let i = 0; i < 200; i++) {
      for (const piece of unit.match(/.{1,7}/gs)) r.append(piece);
      r.flush?.();
    }
    const live = el.children[1];
    // without the fix the live tail held everything after the first list pair (~12,000 chars)
    expect(live.textContent.length).toBeLessThan(400);
    expect(r.frozenBlockCount).toBeGreaterThan(900);
  });
});
