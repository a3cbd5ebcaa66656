"""Sinks for ``lazystream_widget.runner.Run`` in the benchmarks: a recording stand-in, and the real widget tapped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RecordingSink:
    """Calls ``on_text(text)`` for each delta's answer text; any other ``run_*`` call is a no-op.

    (The runner's sink protocol grows; unknown ``run_*`` methods are accepted so the benchmark
    keeps running against newer runners.)
    """

    def __init__(self, on_text: Callable[[str], None]) -> None:
        self.on_text = on_text
        self.messages = 0  # run_delta calls: what the widget would send over its comm

    def run_delta(self, run: Any, text: str, thinking: str, entries: list) -> None:
        self.messages += 1
        if text:
            self.on_text(text)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("run_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


def tapped_view(module: Any, on_message: Callable[[dict], None] | None = None,
                on_state: Callable[[dict], None] | None = None):
    """A real ``StreamView`` whose outgoing channel is tapped (there is no kernel to send to).

    ``on_message(content)`` gets each custom message (``run_start``, ``delta``) at the moment the
    widget sends it, ``on_state(state)`` each trait update as Jupyter would serialize it; the view
    also keeps ``custom`` [(time, bytes, content)] and ``state_bytes``.
    """
    import json
    import time

    import lazystream_widget as lsw

    class TappedView(lsw.StreamView):
        def __init__(self, *a: Any, **k: Any) -> None:
            self.custom: list[tuple[float, int, dict]] = []
            self.state_bytes = 0
            super().__init__(*a, display=False, **k)

        def send(self, content: Any, buffers: Any = None) -> None:
            if on_message is not None:
                on_message(content)
            self.custom.append((time.monotonic(), len(json.dumps(content, ensure_ascii=False)), content))

        def send_state(self, key: Any = None) -> None:
            keys = [key] if isinstance(key, str) else (key or ["runs", "title"])
            state = {k: getattr(self, k) for k in keys if hasattr(self, k)}
            self.state_bytes += len(json.dumps(state, ensure_ascii=False))
            if on_state is not None:
                on_state(state)

    return TappedView(module)
