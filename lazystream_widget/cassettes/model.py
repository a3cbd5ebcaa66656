"""A recorded exchange as plain data: one request, its response, and the response's SSE events.

Times are milliseconds since the request reached the proxy, so a replay can reproduce the
time to the response headers, the time to the first token and every gap between tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: How a response ended: all of it arrived; the server dropped the connection mid-body;
#: the client hung up (a cancelled run) before the end.
END_COMPLETE, END_DROPPED, END_CLIENT_CLOSED = "complete", "dropped", "client_closed"


@dataclass
class SSEEvent:
    """One server-sent event: a JSON payload (``json``), other data text (``data``, e.g. ``[DONE]``),
    or a comment line (``comment``, e.g. a provider's ``: keep-alive``)."""

    ms: float
    json: Any = None
    data: str | None = None
    comment: str | None = None
    event: str | None = None
    id: str | None = None
    has_json: bool = False  # json may legitimately be null

    @classmethod
    def from_data(cls, ms: float, data: str | None, *, comment: str | None = None, event: str | None = None,
                  id: str | None = None) -> SSEEvent:
        """Keep JSON data as JSON (readable, diff-friendly), anything else as text."""
        if data is not None:
            try:
                return cls(ms, json=json.loads(data), comment=comment, event=event, id=id, has_json=True)
            except ValueError:
                pass
        return cls(ms, data=data, comment=comment, event=event, id=id)

    def data_text(self) -> str | None:
        if self.has_json:
            return json.dumps(self.json, ensure_ascii=False, separators=(",", ":"))
        return self.data

    def to_bytes(self) -> bytes:
        """The event on the wire, ending with its blank line."""
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" if line else ":" for line in self.comment.split("\n"))
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        text = self.data_text()
        if text is not None:
            lines.extend(f"data: {line}" for line in text.split("\n"))
        return ("\n".join(lines) + "\n\n").encode("utf-8")


@dataclass
class RecordedRequest:
    """A request as recorded (secrets already removed): method, the real endpoint's URL, the body.

    ``body`` is the parsed JSON for JSON bodies, else text (``body_text``) or None.
    """

    method: str
    url: str
    body: Any = None
    body_text: str | None = None

    @property
    def path(self) -> str:
        return "/" + "/".join(p for p in urlsplit(self.url).path.split("/") if p)

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def field(self, name: str) -> Any:
        """A top-level field of a JSON object body (None when absent or the body is not an object)."""
        return self.body.get(name) if isinstance(self.body, dict) else None

    def endpoint(self) -> str:
        """``POST /v1/chat/completions (model 'm')``: short enough for the first line of an error."""
        model = self.field("model")
        return f"{self.method} {self.path}" + (f" (model {model!r})" if isinstance(model, str) else "")

    def summary(self) -> str:
        """One line for error messages: ``POST /v1/chat/completions model='m', 3 messages, 2 tools``."""
        parts = [f"{self.method} {self.url}"]
        if isinstance(self.body, dict):
            if "model" in self.body:
                parts.append(f"model={self.body['model']!r}")
            for name in ("messages", "tools"):
                value = self.body.get(name)
                if isinstance(value, list):
                    parts.append(f"{len(value)} {name if len(value) != 1 else name[:-1]}")
        return " ".join(parts[:1]) + ("  " + ", ".join(parts[1:]) if len(parts) > 1 else "")


@dataclass
class RecordedResponse:
    """A response: status, the headers worth keeping, and either SSE events or a whole body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    after_ms: float = 0.0  # the response headers arrived
    events: list[SSEEvent] | None = None  # a stream (text/event-stream)
    body: Any = None  # not a stream: parsed JSON...
    body_text: str | None = None  # ...or text
    end_ms: float = 0.0
    end: str = END_COMPLETE

    @property
    def is_stream(self) -> bool:
        return self.events is not None

    def body_bytes(self) -> bytes:
        if self.body_text is not None:
            return self.body_text.encode("utf-8")
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Entry:
    """One recorded exchange; ``run`` numbers the runs (in the order they first called the model)."""

    request: RecordedRequest
    response: RecordedResponse
    run: int = 0
