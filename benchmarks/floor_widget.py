"""The browser floor: a minimal anywidget that shows a run as plain text.

It is a :class:`~lazystream_widget.runner.RunSink`, so the benchmark streams the same run into it
as into a ``StreamView``: each delta's text is sent as a custom message, appended to a list of
plain-text parts, and at most once a frame the last 2,000 characters are shown in a ``<pre>`` (no
markdown, no trace tree, no layout of the whole text); the final state is the same ``runs`` trait
value a ``StreamView`` stores (same bytes for Jupyter to carry and parse). What its page costs is
what any anywidget pays to receive that much data: the floor our widget is compared with.
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

_ESM = """
const TAIL = 2000;  // characters shown: the floor keeps the text, it does not lay out 10 MB of it
export default {
  render({ model, el }) {
    const status = document.createElement("div");
    status.className = "floor-status";
    status.dataset.status = "running";
    const pre = document.createElement("pre");
    pre.className = "floor-text";
    pre.style.cssText = "white-space: pre-wrap; margin: 0";
    el.append(status, pre);
    const parts = [];
    let chars = 0;
    let frame = null;
    const paint = () => {
      frame = null;
      let tail = "";
      for (let i = parts.length - 1; i >= 0 && tail.length < TAIL; i--) tail = parts[i] + tail;
      pre.textContent = tail.slice(-TAIL);
      status.textContent = `${chars} characters`;
    };
    const onMessage = (msg) => {
      if (!msg || typeof msg.text !== "string" || !msg.text) return;
      parts.push(msg.text);
      chars += msg.text.length;
      if (frame === null) frame = requestAnimationFrame(paint);
    };
    const onRuns = () => {
      const runs = model.get("runs") || [];
      const last = runs[runs.length - 1];
      if (!last) return;
      status.dataset.status = last.status;
      status.textContent = `${last.status}: ${last.text.length} characters, ${last.entries.length} trace entries`;
      pre.textContent = last.text.slice(-TAIL);
    };
    model.on("msg:custom", onMessage);
    model.on("change:runs", onRuns);
    onRuns();
    return () => {
      model.off("msg:custom", onMessage);
      model.off("change:runs", onRuns);
      if (frame !== null) cancelAnimationFrame(frame);
    };
  },
};
"""


class FloorView(anywidget.AnyWidget):
    _esm = _ESM
    runs = traitlets.List(traitlets.Dict()).tag(sync=True)

    # ---- RunSink ------------------------------------------------------------------

    def run_started(self, run: Any) -> None:
        pass

    def run_delta(self, run: Any, text: str, thinking: str, entries: list) -> None:
        if text:
            self.send({"text": text})

    def run_finished(self, run: Any) -> None:
        self.runs = [run.state()]  # the very state a StreamView stores

    def run_resync(self, run: Any) -> None:
        self.send_state("runs")
