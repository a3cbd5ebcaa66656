// Trace entries for the tree tests: a small agent run, and helpers to make entries.

let seq = 0;
export const T0 = 1_700_000_000;

export function resetSeq() {
  seq = 0;
}

export function start(span, parent, name, kind, t, extra = {}) {
  return { v: 1, seq: ++seq, ts: T0 + t, event: "start", span, parent, name, kind, input: extra.input ?? null, attrs: extra.attrs ?? {} };
}

export function end(span, parent, name, kind, t, extra = {}) {
  return {
    v: 1, seq: ++seq, ts: T0 + t, event: "end", span, parent, name, kind,
    output: extra.output ?? null, status: extra.status ?? "ok", error: extra.error ?? null,
    duration_ms: extra.duration_ms ?? 100, usage: extra.usage ?? null, attrs: extra.attrs ?? {},
  };
}

export function event(span, parent, name, t, attrs = {}, kind = "llm") {
  return { v: 1, seq: ++seq, ts: T0 + t, event: "event", span, parent, name, kind, attrs };
}

/** A small agent run: agent > llm (2 retries), two parallel tools (one fails), llm. */
export function agentRun() {
  return [
    start("a", null, "agent", "agent", 0, { input: "weather in Paris?" }),
    start("l1", "a", "gpt-x", "llm", 0.01, { attrs: { model: "gpt-x" }, input: [{ role: "user", content: "weather in Paris?" }] }),
    event("l1", "a", "retry", 0.2, { attempt: 1 }),
    event("l1", "a", "retry", 0.4, { attempt: 2 }),
    end("l1", "a", "gpt-x", "llm", 1.0, {
      usage: { prompt_tokens: 120, completion_tokens: 30 }, attrs: { model: "gpt-x", ttft_ms: 230 },
      output: { content: "", tool_calls: [
        { id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } },
        { id: "c2", type: "function", function: { name: "get_time", arguments: '{"tz": "CET"}' } },
      ] },
    }),
    start("t1", "a", "get_weather", "tool", 1.1, { input: { city: "Paris" }, attrs: { call_id: "c1" } }),
    start("t2", "a", "get_time", "tool", 1.1001, { input: { tz: "CET" }, attrs: { call_id: "c2" } }),
    end("t2", "a", "get_time", "tool", 1.3, { output: "12:00", duration_ms: 199.9 }),
    end("t1", "a", "get_weather", "tool", 1.5, { status: "error", duration_ms: 400, error: { type: "TimeoutError", message: "took too long", detail: "Traceback...\nTimeoutError" } }),
    start("l2", "a", "gpt-x", "llm", 1.6, { attrs: { model: "gpt-x" } }),
    end("l2", "a", "gpt-x", "llm", 2.0, { usage: { prompt_tokens: 200, completion_tokens: 50 }, output: { content: "It is sunny." }, attrs: { model: "gpt-x", text_ranges: [[0, 12]] } }),
    end("a", null, "agent", "agent", 2.1, { output: "It is sunny.", duration_ms: 2100 }),
  ];
}
