"""The cassette file: versioned, readable, diff-friendly JSON, and small.

Layout (version 1; docs/cassettes.md documents every field)::

    {
      "format": "lazystream-cassette",
      "version": 1,
      "recorded_with": "lazystream-widget 0.1.0",
      "note": "how and where it was recorded (optional)",
      "redact": ["configured patterns, applied again when replaying (optional)"],
      "entries": [
        {
          "run": 0,
          "request": {"method": "POST", "url": "https://api.deepseek.com/v1/chat/completions",
                      "reuse": {"tools": 0, "messages": {"from": 0, "count": 2}},
                      "body": {"model": "deepseek-reasoner", "messages": [...], "stream": true}},
          "response": {"status": 200, "headers": {"content-type": "text/event-stream"}, "after_ms": 180.2,
                       "common": {"id": "...", "object": "chat.completion.chunk", "model": "..."},
                       "events": [{"ms": 412.5, "json": {"choices": [...]}}, ..., {"ms": 990.1, "data": "[DONE]"}],
                       "end_ms": 990.4, "end": "complete"}
        }
      ]
    }

Small, with nothing written twice: a stream's events carry only what changes from chunk to
chunk (the fields every chunk repeats, such as ``id`` and ``model``, are written once in
``common``); a request field equal to an earlier request's (the tools) is written as a
reference, and a conversation that continues an earlier request's as "its first N messages,
then these" (``reuse``). Diff-friendly: one event, one message, one tool per line.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..limits import CASSETTE_REUSE_MIN_CHARS
from .errors import CassetteFormatError
from .model import END_COMPLETE, Entry, RecordedRequest, RecordedResponse, SSEEvent

FORMAT = "lazystream-cassette"
VERSION = 1
#: Lists written one item per line.
_ONE_PER_LINE = {"events", "messages", "tools", "entries"}
_WIDTH = 110


# ---- writing ------------------------------------------------------------------------


def dump(entries: list[Entry], *, note: str | None = None, redact: tuple[str, ...] = ()) -> str:
    from .. import __version__

    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION, "recorded_with": f"lazystream-widget {__version__}"}
    if note:
        doc["note"] = note
    if redact:
        doc["redact"] = list(redact)
    bodies: list[Any] = []
    doc["entries"] = [_entry_doc(entry, bodies) for entry in entries]
    return _pretty(doc, 0, None) + "\n"


def save(path: Path, entries: list[Entry], *, note: str | None = None, redact: tuple[str, ...] = ()) -> None:
    """Write atomically (a reader never sees half a file; a crash leaves the old file)."""
    text = dump(entries, note=note, redact=redact)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # a cassette is meant to be committed and shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _ms(value: float) -> float:
    return round(float(value), 1)


def _entry_doc(entry: Entry, bodies: list[Any]) -> dict[str, Any]:
    req = entry.request
    request: dict[str, Any] = {"method": req.method, "url": req.url}
    if isinstance(req.body, dict):
        reuse, body = _reuse(req.body, bodies)
        if reuse:
            request["reuse"] = reuse
        request["body"] = body
    elif req.body is not None:
        request["body"] = req.body
    elif req.body_text is not None:
        request["body_text"] = req.body_text
    bodies.append(req.body)

    res = entry.response
    response: dict[str, Any] = {"status": res.status, "headers": dict(res.headers), "after_ms": _ms(res.after_ms)}
    if res.events is not None:
        common = _common_fields(res.events)
        if common:
            response["common"] = common
        response["events"] = [_event_doc(e, common) for e in res.events]
    elif res.body_text is not None:
        response["body_text"] = res.body_text
    else:
        response["body"] = res.body
    response["end_ms"] = _ms(res.end_ms)
    response["end"] = res.end
    return {"run": entry.run, "request": request, "response": response}


def _reuse(body: dict[str, Any], earlier: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replace fields an earlier request already holds by references to it."""
    reuse: dict[str, Any] = {}
    out = dict(body)
    for key, value in body.items():
        if len(json.dumps(value, ensure_ascii=False)) < CASSETTE_REUSE_MIN_CHARS:
            continue
        if key == "messages" and isinstance(value, list):
            best = None  # (count, index): the longest earlier conversation this one continues
            for i in range(len(earlier) - 1, -1, -1):
                prior = earlier[i].get("messages") if isinstance(earlier[i], dict) else None
                if isinstance(prior, list) and prior and len(prior) <= len(value) and value[: len(prior)] == prior:
                    if best is None or len(prior) > best[0]:
                        best = (len(prior), i)
            if best is not None:
                reuse[key] = {"from": best[1], "count": best[0]}
                out[key] = value[best[0]:]
            continue
        for i in range(len(earlier) - 1, -1, -1):
            if isinstance(earlier[i], dict) and key in earlier[i] and earlier[i][key] == value:
                reuse[key] = i
                del out[key]
                break
    return reuse, out


def _common_fields(events: list[SSEEvent]) -> dict[str, Any]:
    objects = [e.json for e in events if e.has_json and isinstance(e.json, dict)]
    if len(objects) < 2:
        return {}
    first = objects[0]
    return {k: v for k, v in first.items() if all(k in o and o[k] == v for o in objects[1:])}


def _event_doc(event: SSEEvent, common: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"ms": _ms(event.ms)}
    if event.event is not None:
        doc["event"] = event.event
    if event.id is not None:
        doc["id"] = event.id
    if event.comment is not None:
        doc["comment"] = event.comment
    if event.has_json:
        value = event.json
        if common and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in common}
        doc["json"] = value
    elif event.data is not None:
        doc["data"] = event.data
    return doc


def _pretty(value: Any, indent: int, key: str | None) -> str:
    """JSON with short values on one line, and one item per line in the lists that grow."""
    inline = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or not value:
        return inline
    if key not in _ONE_PER_LINE and len(inline) + indent <= _WIDTH:
        return inline
    pad = "  " * (indent + 1)
    if isinstance(value, list):
        if key in _ONE_PER_LINE and key != "entries":
            items = [json.dumps(v, ensure_ascii=False) for v in value]
        else:
            items = [_pretty(v, indent + 1, None) for v in value]
        return "[\n" + ",\n".join(pad + item for item in items) + "\n" + "  " * indent + "]"
    items = [f"{json.dumps(k, ensure_ascii=False)}: {_pretty(v, indent + 1, k)}" for k, v in value.items()]
    return "{\n" + ",\n".join(pad + item for item in items) + "\n" + "  " * indent + "}"


# ---- reading ------------------------------------------------------------------------


def load(path: Path) -> tuple[list[Entry], str | None, tuple[str, ...]]:
    """The entries, note and redaction patterns of a cassette file; :class:`CassetteFormatError` says what is
    wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CassetteFormatError(f"cassette {str(path)!r} is not UTF-8 text: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CassetteFormatError(f"cassette {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CassetteFormatError(
            f"{str(path)!r} is not a lazystream cassette (its \"format\" must be {FORMAT!r})"
        )
    version = doc.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        raise CassetteFormatError(
            f"cassette {str(path)!r} has format version {version!r}; this lazystream-widget reads version {VERSION}"
            + (": upgrade lazystream-widget, or record the cassette again" if newer else "")
        )
    raw = doc.get("entries")
    if not isinstance(raw, list):
        raise CassetteFormatError(f"cassette {str(path)!r}: \"entries\" must be a list")
    entries: list[Entry] = []
    bodies: list[Any] = []
    for i, item in enumerate(raw):
        try:
            entry = _entry(item, bodies)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CassetteFormatError(f"cassette {str(path)!r}: entry {i} is malformed: {exc!r}") from None
        entries.append(entry)
        bodies.append(entry.request.body)
    note = doc.get("note")
    redact = doc.get("redact") or []
    if not isinstance(redact, list) or not all(isinstance(r, str) for r in redact):
        raise CassetteFormatError(f"cassette {str(path)!r}: \"redact\" must be a list of regular expressions")
    return entries, note if isinstance(note, str) else None, tuple(redact)


def _entry(item: dict[str, Any], bodies: list[Any]) -> Entry:
    req = item["request"]
    body = req.get("body")
    reuse = req.get("reuse") or {}
    if reuse:
        body = dict(body or {})
        for key, ref in reuse.items():
            if key == "messages" and isinstance(ref, dict):
                prior = bodies[int(ref["from"])]["messages"][: int(ref["count"])]
                body[key] = copy.deepcopy(prior) + list(body.get(key) or [])
            else:
                body[key] = copy.deepcopy(bodies[int(ref)][key])
    request = RecordedRequest(str(req["method"]), str(req["url"]), body, req.get("body_text"))

    res = item["response"]
    events = None
    if "events" in res:
        common = res.get("common") or {}
        events = [_event(e, common) for e in res["events"]]
    response = RecordedResponse(
        status=int(res["status"]),
        headers={str(k).lower(): str(v) for k, v in (res.get("headers") or {}).items()},
        after_ms=float(res.get("after_ms", 0.0)),
        events=events,
        body=res.get("body"),
        body_text=res.get("body_text"),
        end_ms=float(res.get("end_ms", 0.0)),
        end=str(res.get("end", END_COMPLETE)),
    )
    return Entry(request, response, int(item.get("run", 0)))


def _event(doc: dict[str, Any], common: dict[str, Any]) -> SSEEvent:
    event = SSEEvent(float(doc["ms"]), comment=doc.get("comment"), event=doc.get("event"), id=doc.get("id"))
    if "json" in doc:
        value = doc["json"]
        event.json = {**common, **value} if common and isinstance(value, dict) else value
        event.has_json = True
    else:
        event.data = doc.get("data")
    return event
