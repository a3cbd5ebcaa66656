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

  test("a long live tail: the cost counts its re-parse, and a piece is never under a quarter of it", () => {
    const pace = createRenderPace({ budgetMs: 10, minChars: 256, maxChars: 16_000, startMsPerChar: 0.001 });
    expect(pace.piece(0, 4000)).toBe(6000); // 10,000 fit, the tail takes 4,000 of them
    expect(pace.piece(0, 400_000)).toBe(100_000); // over budget anyway: a quarter of the tail
    pace.record(1000, 66, 10_000); // 66 ms for 1,000 new characters parsed with a 10,000-character tail
    expect(pace.msPerChar).toBeCloseTo(0.0035, 4); // halfway from 0.001 to the sample, 0.006
  });
});
