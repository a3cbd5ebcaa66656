import { describe, expect, test } from "vitest";
import { codePointsToUtf16, toNormalized, verifiedRanges } from "../linking.js";
import { attachStore, createView } from "../widget.js";
import FIXTURE from "../../tests/fixtures/markdown_run.json";
import { createFakeModel, createManualFrames } from "./helpers.js";

describe("offsets", () => {
  test("Python character offsets become JavaScript (UTF-16) offsets", () => {
    const text = "a😀b😀c";
    expect(codePointsToUtf16(text, [0, 1, 2, 3, 5])).toEqual([0, 1, 3, 4, 7]);
    expect(codePointsToUtf16("plain", [2, 5])).toEqual([2, 5]);
  });

  test("offsets move back over each dropped \\r of a \\r\\n", () => {
    expect(toNormalized("a\r\nb\r\nc", [0, 3, 6, 7])).toEqual([0, 2, 4, 5]);
  });

  test("a range is trusted only when the text there is what the span says it wrote", () => {
    const node = { attrs: { text_ranges: [[4, 9]] }, output: { content: "hello world" } };
    expect(verifiedRanges(node, "text", "abc hello")).toEqual([[4, 9]]);
    expect(verifiedRanges(node, "text", "abc HELLO")).toEqual([]); // another writer shifted the text
    expect(verifiedRanges({ ...node, attrs: {} }, "text", "abc hello")).toEqual([]); // no offsets: no link
    const cut = { attrs: { text_ranges: [[0, 10]] }, output: { content: "0123…[truncated, 99 bytes in all]" } };
    expect(verifiedRanges(cut, "text", "0123456789")).toEqual([[0, 10]]);
  });
});

describe("answer and trace linked", () => {
  function mount() {
    const model = createFakeModel();
    const { store, cleanup } = attachStore(model.proxy());
    const frames = createManualFrames();
    const el = document.createElement("div");
    document.body.append(el);
    const view = createView({ store, model: model.proxy(), el, raf: frames.raf, caf: frames.caf, immediate: false, answerOptions: { highlight: false } });
    const state = { ...FIXTURE.state, text: "Let me check.\n\nParis is 22 °C; Tokyo did not answer in time." };
    // the second llm span wrote from offset 13 on ("\n\nParis ..."): keep the fixture's ranges in step
    state.entries = state.entries.map((e) =>
      e.span === "l2" && e.event === "end"
        ? { ...e, output: { content: "\n\nParis is 22 °C; Tokyo did not answer in time." }, attrs: { ...e.attrs, text_ranges: [[13, 60]] } }
        : e,
    );
    model.setRuns([state]);
    frames.run();
    return { el, view, frames, cleanup };
  }

  test("selecting an llm span marks the answer blocks it wrote; selecting the agent marks all of them", () => {
    const { el, view, frames, cleanup } = mount();
    const blocks = [...el.querySelectorAll(".lsw-md-group > *, .lsw-md-live > *")];
    expect(blocks.map((b) => b.textContent)).toEqual(["Let me check.", "Paris is 22 °C; Tokyo did not answer in time."]);
    el.querySelector('.lsw-node[data-span="l2"]').click();
    frames.run();
    expect(blocks.map((b) => b.classList.contains("lsw-linked"))).toEqual([false, true]);
    el.querySelector('.lsw-node[data-span="l1"]').click();
    frames.run();
    expect(blocks.map((b) => b.classList.contains("lsw-linked"))).toEqual([true, false]);
    el.querySelector('.lsw-node[data-span="a"]').click();
    frames.run();
    expect(blocks.map((b) => b.classList.contains("lsw-linked"))).toEqual([true, true]);
    el.querySelector('.lsw-node[data-span="t1"]').click(); // a tool wrote nothing
    frames.run();
    expect(blocks.some((b) => b.classList.contains("lsw-linked"))).toBe(false);
    view.destroy();
    cleanup();
  });

  test("pointing at an answer block marks the span that wrote it in the tree", () => {
    const { el, view, frames, cleanup } = mount();
    const second = [...el.querySelectorAll(".lsw-answer p")][1];
    second.dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    frames.run();
    const linked = [...el.querySelectorAll(".lsw-node.lsw-linked")].map((r) => r.dataset.span);
    expect(linked).toEqual(["l2"]);
    expect(second.title).toBe("Written by gpt-x");
    el.querySelector(".lsw-answer").dispatchEvent(new MouseEvent("mouseleave"));
    frames.run();
    expect(el.querySelectorAll(".lsw-node.lsw-linked").length).toBe(0);
    view.destroy();
    cleanup();
  });
});
