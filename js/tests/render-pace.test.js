import { describe, expect, test } from "vitest";
import { createRenderPace } from "../render-pace.js";

describe("render pace", () => {
  test("the piece follows the measured cost per character, within its bounds", () => {
    const pace = createRenderPace({ budgetMs: 10, minChars: 256, maxChars: 16_000, startMsPerChar: 0.001 });
    expect(pace.piece(0)).toBe(10_000);
    // a slow machine: 4,000 characters took 80 ms (0.02 ms per character)
    for (let i = 0; i < 6; i++) pace.record(4000, 80);
    expect(pace.piece(0)).toBeLessThanOrEqual(600);
    expect(pace.piece(0)).toBeGreaterThanOrEqual(256);
    // the budget already spent leaves the smallest piece, never zero
    expect(pace.piece(9.9)).toBe(256);
    expect(pace.piece(50)).toBe(256);
    // faster again: the estimate falls back, never past maxChars
    for (let i = 0; i < 40; i++) pace.record(4000, 0.4);
    expect(pace.piece(0)).toBe(16_000);
  });

  test("one slow piece shrinks the next at once; tiny and invalid samples are ignored", () => {
    const pace = createRenderPace({ budgetMs: 10, startMsPerChar: 0.002 });
    const before = pace.piece(0);
    pace.record(2000, 100);
    expect(pace.piece(0)).toBeLessThan(before / 4);
    const est = pace.msPerChar;
    pace.record(10, 500);
    pace.record(1000, Number.NaN);
    expect(pace.msPerChar).toBe(est);
  });
});
