import { test } from "vitest";
import { createMarkdownRenderer } from "../markdown.js";
test("prof", () => {
  const el = document.createElement("div"); document.body.appendChild(el);
  const r = createMarkdownRenderer(el, {highlight: false});
  const para = "the agent calls a tool and streams **fast** tokens into `code` markdown ".repeat(4) + "\n\n";
  let t = performance.now();
  for (let k = 0; k < 40; k++) {
    for (let i = 0; i < 100; i++) for (let j = 0; j < para.length; j += 40) r.append(para.slice(j, j + 40));
    const now = performance.now();
    console.log(k, (now - t).toFixed(0), el.querySelector(".lsw-md-live").textContent.length, r.frozenBlockCount);
    t = now;
  }
});
