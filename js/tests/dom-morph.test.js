import { describe, expect, test } from "vitest";
import { morphChildren } from "../dom-morph.js";
import { createMarkdownRenderer } from "../markdown.js";

/** A fragment from HTML (test input only: the widget morphs sanitized fragments). */
function frag(html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  return t.content;
}

describe("dom morph", () => {
  test("ends equal to the rendered side; unchanged elements are the same objects, text grows in place", () => {
    const target = document.createElement("div");
    target.append(frag('<p>Hello <strong>wor</strong></p><ul><li>a</li></ul>'));
    const [p, ul] = target.children;
    const strong = p.querySelector("strong");
    const kept = new Map();
    const next = frag('<p>Hello <strong>world</strong> and</p><ul class="x"><li>a</li><li>b</li></ul><blockquote>q</blockquote>');
    const tops = [...next.childNodes];
    morphChildren(target, next, kept);
    expect(target.innerHTML).toBe('<p>Hello <strong>world</strong> and</p><ul class="x"><li>a</li><li>b</li></ul><blockquote>q</blockquote>');
    expect(target.children[0]).toBe(p);
    expect(target.children[1]).toBe(ul);
    expect(p.querySelector("strong")).toBe(strong);
    expect(kept.get(tops[0])).toBe(p);
    expect(kept.get(tops[2])).toBe(target.children[2]);
  });

  test("a changed tag is replaced; extra nodes and attributes go", () => {
    const target = document.createElement("div");
    target.append(frag('<p title="t">one</p><p>two</p><p>three</p>'));
    const [, second] = target.children;
    morphChildren(target, frag("<h1>one</h1><p>two!</p>"));
    expect(target.innerHTML).toBe("<h1>one</h1><p>two!</p>");
    // the h1 went in before the old first <p>, which then took the second place's content
    expect(target.children[1]).not.toBe(second);
  });

  test("the live markdown block keeps its element while its paragraph grows", () => {
    const el = document.createElement("div");
    document.body.append(el);
    const r = createMarkdownRenderer(el, { highlight: false });
    r.append("Some **bold");
    const live = el.querySelector(".lsw-md-live");
    const p = live.querySelector("p");
    r.append(" text** and more");
    expect(live.querySelector("p")).toBe(p);
    expect(p.innerHTML).toBe("Some <strong>bold text</strong> and more");
    r.append("\n\nNext paragraph");
    expect([...el.querySelectorAll("p")].map((x) => x.textContent)).toEqual(["Some bold text and more", "Next paragraph"]);
    el.remove();
  });
});
