// What keeps the widget's JS heap small (docs/benchmarks.md, browser section): the measured
// figures are in benchmarks/; these pin the invariants behind them.
import { describe, expect, test } from "vitest";
import { createMarkdownRenderer } from "../markdown.js";
import { ownText } from "../own-text.js";
import { addTotals, zeroTotals } from "../rollups.js";

describe("ownText", () => {
  test("the same text, short or long, surrogate pairs intact", () => {
    const big = "# title\n\n" + "ab😀cd ".repeat(10_000);
    for (const s of ["", "x", "exactly13char", big, big.slice(5, 40_000)]) expect(ownText(s)).toBe(s);
  });

  test("text past the display bound comes back whole from Show more", () => {
    const r = createMarkdownRenderer(document.createElement("div"), { maxChars: 1000 });
    let whole = "";
    for (let i = 0; i < 50; i++) {
      const from = whole.length;
      whole += `para ${i} ${"word ".repeat(20)}\n\n`;
      r.append(whole.slice(from)); // a view into the whole text, as the answer box hands it over
    }
    expect(r.hiddenChars).toBeGreaterThan(0);
    expect(r.text()).toBe(whole);
  });
});

describe("roll-up totals (added and subtracted without multiplying: see rollups.js)", () => {
  test("adding and subtracting are exact inverses", () => {
    const t = { ...zeroTotals(), inTok: 7, outTok: 3, cost: 0.25, llm: 2, spans: 4 };
    const d = { ...zeroTotals(), inTok: 5, outTok: 1, cost: 0.125, llm: 1, spans: 1 };
    addTotals(t, d);
    expect(t).toMatchObject({ inTok: 12, outTok: 4, cost: 0.375, llm: 3, spans: 5 });
    addTotals(t, d, -1);
    expect(t).toMatchObject({ inTok: 7, outTok: 3, cost: 0.25, llm: 2, spans: 4 });
  });
});
