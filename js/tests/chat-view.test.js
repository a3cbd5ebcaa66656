import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, test } from "vitest";
import { messageView } from "../chat-view.js";

const CSS = readFileSync(join(dirname(import.meta.filename ?? new URL(import.meta.url).pathname), "..", "widget.css"), "utf8");

describe("chat messages in the span details", () => {
  test("a tool message's label keeps the tool's name as written (not in the role's capitals)", () => {
    const style = document.createElement("style");
    style.textContent = CSS;
    document.head.append(style);
    const root = document.createElement("div");
    root.className = "lsw-root";
    document.body.append(root);
    const msg = messageView({ role: "tool", name: "get_Current_weather", tool_call_id: "c1", content: "22 °C" }, { doc: document });
    root.append(msg);
    const label = msg.querySelector(".lsw-msg-role");
    expect(label.textContent).toContain("· get_Current_weather");
    const name = label.querySelector(".lsw-msg-name");
    expect(name.textContent).toBe(" · get_Current_weather");
    expect(getComputedStyle(label).textTransform).toBe("uppercase"); // the role itself, as before
    expect(getComputedStyle(name).textTransform).toBe("none");
    root.remove();
    style.remove();
  });
});
