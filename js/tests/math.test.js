import { describe, expect, test } from "vitest";
import { createMarkdownRenderer, renderMarkdown } from "../markdown.js";
import { unclosedInline } from "../math.js";

function render(text) {
  const div = document.createElement("div");
  div.append(renderMarkdown(text, { highlight: false }));
  return div;
}

const texOf = (el) => Array.from(el.querySelectorAll(".lsw-math")).map((m) => [m.classList.contains("lsw-math-display"), m.dataset.tex]);

describe("math", () => {
  test("both inline delimiters and both display delimiters are typeset by KaTeX", () => {
    const el = render("Euler: $e^{i\\pi}+1=0$ and \\(a^2+b^2=c^2\\).\n\n$$\n\\int_0^1 x\\,dx = \\tfrac12\n$$\n\n\\[\n\\sum_{n=1}^\\infty \\frac1{n^2} = \\frac{\\pi^2}6\n\\]\n");
    expect(texOf(el)).toEqual([
      [false, "e^{i\\pi}+1=0"],
      [false, "a^2+b^2=c^2"],
      [true, "\\int_0^1 x\\,dx = \\tfrac12\n"],
      [true, "\\sum_{n=1}^\\infty \\frac1{n^2} = \\frac{\\pi^2}6\n"],
    ]);
    expect(el.querySelectorAll(".katex").length).toBe(4);
    expect(el.querySelectorAll(".katex-display").length).toBe(2);
    // MathML for screen readers, the visual HTML hidden from them
    expect(el.querySelectorAll(".lsw-math math").length).toBe(4);
    expect(el.querySelector(".katex-html").getAttribute("aria-hidden")).toBe("true");
  });

  test("\\[...\\] inside a sentence is typeset where it stands (it lost its backslashes as text before)", () => {
    const el = render("So \\[E = mc^2\\] holds, and \\\\[not math] neither is \\[ \\].");
    expect(texOf(el)).toEqual([[false, "E = mc^2"]]);
    expect(el.querySelectorAll("p").length).toBe(1); // one paragraph still
    expect(el.querySelector("p").textContent).toMatch(/^So .+ holds, and \\\[not math\] neither is \[ \]\.$/);
    expect(unclosedInline("So \\[E = mc")).toBe(3); // pending while it streams, never shown as "[E = mc"
    expect(unclosedInline("So \\[E\\] and")).toBe(-1);
  });

  test("prices are not math, code is not math, an escaped dollar stays a dollar", () => {
    const el = render("It costs $5 and $10 a month.\n\nCode: `$x$` stays code.\n\nEscaped: \\$y\\$ is text.");
    expect(el.querySelector(".katex")).toBeNull();
    expect(el.textContent).toContain("$5 and $10 a month");
    expect(el.querySelector("code").textContent).toBe("$x$");
    expect(el.textContent).toContain("$y$");
  });

  test("TeX errors show as KaTeX's error text, never as a thrown exception", () => {
    const el = render("$\\frac{1}{$ and $\\notacommand{x}$ end");
    expect(el.textContent).toContain("end");
    expect(el.querySelector(".katex-error, .katex")).not.toBeNull();
  });

  test("untrusted TeX makes no link, no image and no raw HTML", () => {
    const el = render("$\\href{javascript:alert(1)}{x}$ $\\url{https://evil.example}$ $\\includegraphics{https://evil.example/a.png}$ $\\htmlId{i}{x}$");
    expect(el.querySelector("a, img, [id='i']")).toBeNull();
  });
});

describe("math while streaming: no flicker", () => {
  const DOC = "Energy is $E = m_1 c^2$ here.\n\nThen \\(a_i + b_i\\) too.\n\n$$\nx_1 + y_1 = \\frac{a_1}{b_1}\n$$\n\n\\[\nz_1 = w_2\n\\]\n\nDone.\n";

  test("each formula goes from absent to its muted source to typeset, never through markdown", () => {
    for (const step of [1, 2, 3, 7]) {
      const el = document.createElement("div");
      const r = createMarkdownRenderer(el, { highlight: false });
      let typeset = 0;
      for (let i = 0; i < DOC.length; i += step) {
        r.append(DOC.slice(i, i + step));
        // the subscripts "_1 ... _1" of a half-written formula would be italics in markdown
        expect(el.querySelector("em"), `prefix ${i + step}: ${el.innerHTML}`).toBeNull();
        const now = el.querySelectorAll(".katex").length;
        expect(now, `typeset formulas never disappear (prefix ${i + step})`).toBeGreaterThanOrEqual(typeset);
        typeset = now;
      }
      r.finish();
      expect(el.querySelectorAll(".katex").length).toBe(4);
      expect(el.querySelector(".lsw-math-pending")).toBeNull();
    }
  });

  test("an open display formula shows as pending source until its closing delimiter", () => {
    const el = document.createElement("div");
    const r = createMarkdownRenderer(el, { highlight: false });
    r.append("Intro.\n\n$$\n\\int_0^1 f_1(x)\\,dx");
    const pending = el.querySelector("div.lsw-math-pending");
    expect(pending).not.toBeNull();
    expect(pending.textContent).toBe("$$\n\\int_0^1 f_1(x)\\,dx");
    expect(el.querySelector(".katex")).toBeNull();
    r.append("\n$$\n");
    expect(el.querySelector(".lsw-math-pending")).toBeNull();
    expect(el.querySelector(".lsw-math-display .katex")).not.toBeNull();
    expect(el.textContent).toContain("Intro.");
  });

  test("an open inline formula stays inside its paragraph as pending source", () => {
    const el = document.createElement("div");
    const r = createMarkdownRenderer(el, { highlight: false });
    r.append("The sum $a_1 + a_2");
    const p = el.querySelector(".lsw-md-live p");
    expect(p.querySelector("span.lsw-math-pending").textContent).toBe("$a_1 + a_2");
    expect(p.textContent).toBe("The sum $a_1 + a_2");
    r.append("$ grows.");
    expect(el.querySelector(".lsw-math-pending")).toBeNull();
    expect(el.querySelector(".lsw-md-live p .katex")).not.toBeNull();
  });

  test("a stray dollar is held back at most a short while", () => {
    const el = document.createElement("div");
    const r = createMarkdownRenderer(el, { highlight: false });
    r.append("It costs $5 per month, which is " + "very ".repeat(20) + "cheap");
    expect(el.querySelector(".lsw-math-pending")).toBeNull(); // past MAX_PENDING_INLINE: plain text again
    expect(el.textContent).toContain("$5 per month");
  });

  test("unclosedInline finds the opener of an unclosed formula, ignoring code, escapes and pairs", () => {
    expect(unclosedInline("a $x")).toBe(2);
    expect(unclosedInline("a $x$ b")).toBe(-1);
    expect(unclosedInline("a $x$ b $y")).toBe(8);
    expect(unclosedInline("code `$x` only")).toBe(-1);
    expect(unclosedInline("open `code")).toBe(-1);
    expect(unclosedInline("esc \\$ sign")).toBe(-1);
    expect(unclosedInline("a \\(x")).toBe(2);
    expect(unclosedInline("a \\(x\\) b")).toBe(-1);
    expect(unclosedInline("$ alone")).toBe(-1); // "$ " cannot open
  });
});
