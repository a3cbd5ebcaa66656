// Wire format shared with the kernel. Mirrors lazystream_widget/protocol.py and
// the widget bounds of lazystream_widget/limits.py: keep names and values in
// sync (a Python test reads this file and compares). Plain literals on purpose,
// so that the comparison can be a simple text parse.

/** Version of the trace entry format. */
export const TRACE_VERSION = 1;

/** Queue instance names (FileSystemQueue().get_instance(name)). */
export const ANSWER_QUEUE = "lazy_answer";
export const THINK_QUEUE = "lazy_think";
export const TRACE_QUEUE = "lazy_trace";

/** Message types (kernel -> browser: run_start, delta, snapshot, control_reply; browser -> kernel: cancel,
 * resync; see js/control.js). */
export const MSG_RUN_START = "run_start";
export const MSG_DELTA = "delta";
export const MSG_SNAPSHOT = "snapshot";
export const MSG_CONTROL_REPLY = "control_reply";
export const MSG_CANCEL = "cancel";
export const MSG_RESYNC = "resync";
export const MESSAGE_TYPES = ["run_start", "delta", "snapshot", "control_reply", "cancel", "resync"];

export const SPAN_KINDS = ["agent", "llm", "tool", "flow", "module", "chain", "retriever", "embedding", "reranker", "guardrail", "evaluator"];
/** protocol.TOOL_CALL_EVENT: events of an llm span carrying a tool call's argument text as it streams. */
export const TOOL_CALL_EVENT = "tool_call";
/** protocol.ATTR_TEXT_RANGES / ATTR_THINKING_RANGES: [[start, end], ...] of run.text / run.thinking (code points). */
export const ATTR_TEXT_RANGES = "text_ranges";
export const ATTR_THINKING_RANGES = "thinking_ranges";
export const ENTRY_EVENTS = ["start", "end", "event"];
/** Run markers (protocol.py RunMarker): lazy_trace lines that open and close a run, for watchers in
 * other processes. The kernel never sends them to the widget; if one arrives anyway it is ignored. */
export const RUN_EVENTS = ["run_start", "run_end"];
export const SPAN_STATUSES = ["ok", "error", "cancelled"];
export const RUN_STATUSES = ["running", "done", "error", "cancelled"];

/** limits.WIDGET_MAX_ANSWER_CHARS: answer characters shown before "show more". */
export const WIDGET_MAX_ANSWER_CHARS = 1_000_000;
/** limits.WIDGET_MAX_MESSAGES_PER_S (informative: the kernel sends at most one message per display frame). */
export const WIDGET_MAX_MESSAGES_PER_S = 60;
/** limits.WIDGET_VALUE_FOLD_CHARS: a trace value longer than this shows folded. */
export const WIDGET_VALUE_FOLD_CHARS = 2_000;
/** limits.TRACE_FIELD_MAX_BYTES: the kernel cuts each trace field (leaf string) at this many UTF-8 bytes. */
export const TRACE_FIELD_MAX_BYTES = 8_192;

/**
 * @typedef {{type?: string, message?: string, detail?: string}} ErrorInfo
 * @typedef {{prompt_tokens?: number, completion_tokens?: number, total_tokens?: number}} Usage
 * @typedef {{
 *   v?: number, seq?: number, ts?: number, event: "start"|"end"|"event", span: string,
 *   parent?: string|null, name?: string, kind?: string, input?: any, output?: any,
 *   status?: "ok"|"error"|"cancelled", error?: ErrorInfo|null, duration_ms?: number,
 *   usage?: Usage|null, attrs?: Record<string, any>
 * }} TraceEntry
 * @typedef {{tokens?: number, ttft_ms?: number|null, elapsed_ms?: number}} RunStats
 * @typedef {{
 *   id: string, query?: string, status?: "running"|"done"|"error"|"cancelled",
 *   text?: string, thinking?: string, entries?: Array<TraceEntry|string>,
 *   error?: ErrorInfo|null, result?: string|null, started_at?: number,
 *   ended_at?: number|null, stats?: RunStats, notices?: string[],
 *   prices?: Record<string, [number, number]>, currency?: string
 * }} RunState
 * @typedef {{type: "run_start", mseq: number, run: RunState}} RunStartMessage
 * @typedef {{type: "delta", mseq: number, run: string, text?: string, thinking?: string,
 *   entries?: Array<TraceEntry|string>, stats?: RunStats, n?: number, notices?: string[]}} DeltaMessage
 * @typedef {{type: "cancel", run: string}} CancelMessage
 * @typedef {{type: "snapshot", mseq: number, runs: RunState[]}} SnapshotMessage
 */

const isObject = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

/** @param {unknown} x @returns {x is TraceEntry} */
export function isTraceEntry(x) {
  return isObject(x) && typeof x.span === "string" && ENTRY_EVENTS.includes(x.event);
}

/** @param {unknown} x @returns {boolean} a run marker (not a span entry: ignore it) */
export function isRunMarker(x) {
  return isObject(x) && RUN_EVENTS.includes(x.event);
}

/** @param {unknown} x @returns {x is RunState} */
export function isRunState(x) {
  return isObject(x) && typeof x.id === "string" && x.id.length > 0;
}

/** @param {unknown} x @returns {x is RunStartMessage} */
export function isRunStartMessage(x) {
  return isObject(x) && x.type === MSG_RUN_START && isRunState(x.run);
}

/** @param {unknown} x @returns {x is DeltaMessage} */
export function isDeltaMessage(x) {
  return isObject(x) && x.type === MSG_DELTA && typeof x.run === "string";
}

/** @param {unknown} x @returns {x is SnapshotMessage} */
export function isSnapshotMessage(x) {
  return isObject(x) && x.type === MSG_SNAPSHOT && Array.isArray(x.runs);
}

/** @param {unknown} s @returns {boolean} a run status other than "running" */
export function isFinalStatus(s) {
  return s === "done" || s === "error" || s === "cancelled";
}

/**
 * The browser -> kernel request to stop a run.
 * @param {string} runId
 * @returns {CancelMessage}
 */
export function cancelMessage(runId) {
  return { type: MSG_CANCEL, run: runId };
}

/**
 * Typed switch on `msg.type`. Malformed messages and unknown types are ignored
 * (returns false), so a newer kernel cannot break an older front end.
 * @param {unknown} msg
 * @param {{run_start?: (m: RunStartMessage) => void, delta?: (m: DeltaMessage) => void,
 *   snapshot?: (m: SnapshotMessage) => void, unknown?: (m: unknown) => void}} handlers
 * @returns {boolean} whether a handler ran
 */
export function dispatch(msg, handlers) {
  if (!isObject(msg)) return false;
  switch (msg.type) {
    case MSG_RUN_START:
      if (!isRunStartMessage(msg) || !handlers.run_start) return false;
      handlers.run_start(msg);
      return true;
    case MSG_DELTA:
      if (!isDeltaMessage(msg) || !handlers.delta) return false;
      handlers.delta(msg);
      return true;
    case MSG_SNAPSHOT:
      if (!isSnapshotMessage(msg) || !handlers.snapshot) return false;
      handlers.snapshot(msg);
      return true;
    default:
      handlers.unknown?.(msg);
      return false;
  }
}
