// An llm span's input and output as a conversation: role-labelled messages (system, user,
// assistant, tool) with the tool calls they carry; tool-call arguments as key/value tables.

import { parseJsonText, splitCut, textBlock, valueView } from "./value-view.js";

function div(doc, className, text) {
  const el = doc.createElement("div");
  el.className = className;
  el.textContent = text;
  return el;
}

const ROLE_LABEL = { system: "System", user: "User", assistant: "Assistant", tool: "Tool", developer: "Developer", function: "Function" };

/** Is `value` a list of chat messages ({role, content, ...})? */
export function isMessageList(value) {
  return Array.isArray(value) && value.length > 0 && value.every((m) => m && typeof m === "object" && typeof m.role === "string");
}

/** Is `value` one assistant turn as our llm spans record it ({content, tool_calls?, reasoning?})? */
export function isAssistantTurn(value) {
  return (
    value !== null && typeof value === "object" && !Array.isArray(value) &&
    ("content" in value || "tool_calls" in value) &&
    Object.keys(value).every((k) => ["content", "tool_calls", "reasoning", "role", "refusal"].includes(k))
  );
}

/**
 * The text of a message's content: a string, or OpenAI content parts ({type: "text", text}, images...).
 * @param {unknown} content
 * @returns {string}
 */
export function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p) => {
        if (typeof p === "string") return p;
        if (p && typeof p === "object") {
          if (typeof p.text === "string") return p.text;
          if (p.type === "image_url" || p.type === "input_image") return "[image]";
          if (p.type) return `[${p.type}]`;
        }
        return "";
      })
      .join("\n");
  }
  return content === null || content === undefined ? "" : JSON.stringify(content);
}

/**
 * One tool call: "name" and its arguments (parsed from their JSON text) as a key/value table.
 * @param {any} call an OpenAI tool call ({id, function: {name, arguments}})
 * @param {import("./value-view.js").ViewCtx} ctx
 */
export function toolCallView(call, ctx) {
  const { doc } = ctx;
  const fn = (call && call.function) || call || {};
  const box = doc.createElement("div");
  box.className = "lsw-tool-call";
  const head = doc.createElement("div");
  head.className = "lsw-tool-call-head";
  const name = doc.createElement("span");
  name.className = "lsw-tool-call-name";
  name.textContent = `${fn.name ?? "(no name)"}(…)`;
  head.append(name);
  if (call && call.id) {
    const id = doc.createElement("span");
    id.className = "lsw-muted";
    id.textContent = call.id;
    head.append(id);
  }
  box.append(head);
  const args = fn.arguments;
  const parsed = typeof args === "string" ? parseJsonText(args) : args;
  if (parsed !== undefined && parsed !== null && typeof parsed === "object") box.append(valueView(parsed, ctx));
  else if (typeof args === "string" && args.trim()) {
    // not valid JSON (cut by the kernel, or the model's mistake): the text as it is
    const { kept } = splitCut(args);
    box.append(textBlock(args, ctx));
    if (kept === args) box.append(div(doc, "lsw-cut-note", "These arguments are not valid JSON."));
  }
  return box;
}

/**
 * One message with its role label.
 * @param {any} msg
 * @param {import("./value-view.js").ViewCtx} ctx
 */
export function messageView(msg, ctx) {
  const { doc } = ctx;
  const role = typeof msg.role === "string" ? msg.role : "assistant";
  const box = doc.createElement("div");
  box.className = "lsw-msg";
  box.dataset.role = role;
  const label = doc.createElement("div");
  label.className = "lsw-msg-role";
  label.textContent = ROLE_LABEL[role] ?? role;
  if (role === "tool" && msg.name) {
    // a tool's name is case-sensitive: shown as written, not in the role label's capitals
    const name = doc.createElement("span");
    name.className = "lsw-msg-name";
    name.textContent = ` · ${msg.name}`;
    label.append(name);
  }
  if (role === "tool" && msg.tool_call_id) {
    const id = doc.createElement("span");
    id.className = "lsw-muted";
    id.textContent = ` ${msg.tool_call_id}`;
    label.append(id);
  }
  box.append(label);
  if (typeof msg.reasoning === "string" && msg.reasoning) {
    const r = doc.createElement("details");
    r.className = "lsw-msg-reasoning";
    const s = doc.createElement("summary");
    s.textContent = "Reasoning";
    r.append(s, textBlock(msg.reasoning, { ...ctx, key: `${ctx.key ?? ""}.reasoning` }));
    box.append(r);
  }
  const content = contentText(msg.content);
  if (content) {
    // a tool's result is often JSON: show it as a table
    box.append(role === "tool" ? valueView(content, ctx) : textBlock(content, ctx));
  }
  if (Array.isArray(msg.tool_calls)) {
    msg.tool_calls.forEach((call, i) => box.append(toolCallView(call, { ...ctx, key: `${ctx.key ?? ""}.call${i}` })));
  }
  if (!content && !msg.tool_calls && !msg.reasoning) box.append(div(doc, "lsw-muted", "(empty)"));
  return box;
}

/**
 * A list of messages.
 * @param {any[]} messages
 * @param {import("./value-view.js").ViewCtx} ctx
 */
export function conversationView(messages, ctx) {
  const { doc } = ctx;
  const box = doc.createElement("div");
  box.className = "lsw-conversation";
  messages.forEach((m, i) => box.append(messageView(m, { ...ctx, key: `${ctx.key ?? ""}[${i}]` })));
  return box;
}
