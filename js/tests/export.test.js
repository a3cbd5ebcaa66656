import { describe, expect, test } from "vitest";
import { base64Utf8, exportFileName, exportHtml, scriptJson } from "../export.js";
import { runToMarkdown, spanToMarkdown } from "../span-markdown.js";
import { TraceModel } from "../trace-model.js";
// The same fixture is checked against the Python side (tests/test_export.py): both write this Markdown.
import FIXTURE from "../../tests/fixtures/markdown_run.json";
import INTERNAL from "../../tests/fixtures/markdown_internal.json";


describe("Markdown", () => {
  test("a run: question, answer, final answer, trace with roll-ups (the same text as run.to_markdown())", () => {
    expect(runToMarkdown(FIXTURE.state)).toBe(FIXTURE.markdown);
  });

  test("a producer's plumbing (internal spans) is not listed, as in run.to_markdown()", () => {
    const md = runToMarkdown(INTERNAL.state);
    expect(md).toBe(INTERNAL.markdown);
    expect(md).not.toContain("`Loop`");
    expect(md).toContain("  - **flow** `Sandbox` — error");
  });

  test("copy one span: that span and everything below it", () => {
    const m = new TraceModel();
    m.setPrices(FIXTURE.state.prices);
    m.add(FIXTURE.state.entries);
    const md = spanToMarkdown(m.nodes.get("t2"));
    expect(md).toBe(
      "- **tool** `get_weather` — error, 590 ms\n  - arguments: `{\"city\":\"Tokyo\"}`\n" +
        "  - error: TimeoutError: get_weather timed out after 0.5 s and was abandoned\n",
    );
    expect(spanToMarkdown(m.nodes.get("a")).split("\n")[0]).toBe(
      "- **agent** `FunctionCallAgent` — ok, 3.20 s · 2 LLM calls · 2 tool calls · 2,700 → 55 tokens · $0.0073",
    );
  });
});

describe("HTML export", () => {
  test("the template filled: the bundle (base64), the CSS and the state, nothing that could close a script early", () => {
    const esm = "export default { render() {} }; // </script> é $& $1";
    const state = { ...FIXTURE.state, text: "</script><script>alert(1)</script> <!-- x" };
    const html = exportHtml({ esm, css: ".a{color:red}", runs: [state], title: "Q <b>&", note: "note" });
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("<title>Q &lt;b&gt;&amp;</title>");
    const b64 = /<script type="text\/plain" id="lsw-esm">([^<]*)<\/script>/.exec(html)[1];
    expect(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))).toBe(esm);
    const json = /<script type="application\/json" id="lsw-state">([^<]*)<\/script>/.exec(html)[1];
    expect(JSON.parse(json).runs[0].text).toBe(state.text);
    expect(html.match(/<\/script/g).length).toBe(3); // only the page's own three scripts close
    expect(html).not.toMatch(/https?:\/\//); // nothing to fetch
    expect(scriptJson("</script>")).toBe('"\\u003c/script>"');
    expect(base64Utf8("é")).toBe("w6k=");
  });

  test("file name from the question", () => {
    expect(exportFileName("What's the weather in Paris?")).toBe("lazystream-what-s-the-weather-in-paris.html");
    expect(exportFileName("")).toBe("lazystream-run.html");
  });
});
