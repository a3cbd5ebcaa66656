"""A recording sink for ``lazystream_widget.runner.Run``: the widget's place, minus the widget."""

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
