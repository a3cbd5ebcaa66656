"""The cassette file and its parts, without a network: SSE parsing, the versioned JSON, matching, redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lazystream_widget.cassettes import CassetteFormatError, cassette
from lazystream_widget.cassettes.fileformat import VERSION, dump, load, save
from lazystream_widget.cassettes.matcher import Matcher, describe
from lazystream_widget.cassettes.model import Entry, RecordedRequest, RecordedResponse, SSEEvent
from lazystream_widget.cassettes.redact import MARK, Redactor, header_secrets, machine_paths
from lazystream_widget.cassettes.sse import SSEParser

# ---- SSE --------------------------------------------------------------------------------

STREAM = (b": keep-alive\n\n"
          b'data: {"id":"x","choices":[{"delta":{"content":"Hi"}}]}\r\n\r\n'
          b"event: ping\nid: 7\ndata: line one\ndata: line two\n\n"
          b"data: [DONE]\n\n")


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_sse_events_survive_any_split_of_the_bytes(size: int) -> None:
    parser = SSEParser()
    events = []
    for i in range(0, len(STREAM), size):
        events += parser.feed(STREAM[i : i + size], float(i))
    events += parser.close(999.0)
    assert [e.comment for e in events] == ["keep-alive", None, None, None]
    assert events[1].has_json and events[1].json == {"id": "x", "choices": [{"delta": {"content": "Hi"}}]}
    assert (events[2].event, events[2].id, events[2].data) == ("ping", "7", "line one\nline two")
    assert events[3].data == "[DONE]" and not events[3].has_json
    # written back, the stream parses to the same events
    again = SSEParser().feed(b"".join(e.to_bytes() for e in events), 0.0)
    assert [(e.comment, e.json, e.data, e.event, e.id) for e in again] == \
           [(e.comment, e.json, e.data, e.event, e.id) for e in events]


def test_an_event_cut_off_by_the_end_of_the_stream_is_kept() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a": 1}', 1.0) == []
    (event,) = parser.close(2.0)
    assert event.json == {"a": 1} and event.ms == 2.0


# ---- the file -----------------------------------------------------------------------------

PARAMETERS = {"type": "object", "properties": {"location": {"type": "string"}}}
TOOLS = [{"type": "function", "function": {"name": "get_current_weather", "description": "Weather in a city",
                                           "parameters": PARAMETERS}}]
USER = {"role": "user", "content": "What's the weather like today in celsius in Tokyo and Paris?"}


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _entries() -> list[Entry]:
    first = Entry(
        RecordedRequest("POST", "https://api.example.com/v1/chat/completions",
                        {"model": "m", "messages": [USER], "tools": TOOLS, "stream": True}),
        RecordedResponse(200, {"content-type": "text/event-stream"}, 12.5, events=[
            SSEEvent.from_data(100.0, json.dumps(_chunk({"content": "Hel"}))),
            SSEEvent.from_data(130.04, json.dumps(_chunk({"content": "lo"}))),
            SSEEvent.from_data(131.0, json.dumps(_chunk({}, "stop"))),
            SSEEvent(131.5, comment="keep-alive"),
            SSEEvent.from_data(132.0, "[DONE]"),
        ], end_ms=133.0),
    )
    assistant = {"role": "assistant", "content": "Hello"}
    second = Entry(
        RecordedRequest("POST", "https://api.example.com/v1/chat/completions",
                        {"model": "m", "messages": [USER, assistant, {"role": "user", "content": "And tomorrow?"}],
                         "tools": TOOLS, "stream": True}),
        RecordedResponse(429, {"content-type": "application/json", "retry-after": "1"}, 5.0,
                         body={"error": {"message": "slow down"}}, end_ms=6.0),
        run=1,
    )
    return [first, second]


def test_the_file_round_trips_and_names_its_format_and_version(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    save(path, _entries(), note="made by a test", redact=(r"ACME-\d+",))
    entries, note, redact = load(path)
    assert note == "made by a test" and redact == (r"ACME-\d+",)
    doc = json.loads(path.read_text())
    assert (doc["format"], doc["version"]) == ("lazystream-cassette", VERSION)
    original = _entries()
    for got, want in zip(entries, original, strict=True):
        assert got.request == want.request and got.run == want.run
        assert got.response.status == want.response.status and got.response.body == want.response.body
    assert [e.data_text() for e in entries[0].response.events] == \
           [e.data_text() for e in original[0].response.events]
    assert entries[0].response.events[1].ms == 130.0  # times are kept to 0.1 ms


def test_nothing_is_written_twice(tmp_path: Path) -> None:
    text = dump(_entries())
    doc = json.loads(text)
    response = doc["entries"][0]["response"]
    assert response["common"] == {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
                                  "model": "m"}
    assert all("id" not in e.get("json", {}) for e in response["events"])  # the envelope is written once
    assert text.count('"get_current_weather"') == 1  # the tools of the second request refer to the first's
    request = doc["entries"][1]["request"]
    assert request["reuse"] == {"messages": {"from": 0, "count": 1}, "tools": 0}
    assert request["body"]["messages"] == [{"role": "assistant", "content": "Hello"},
                                           {"role": "user", "content": "And tomorrow?"}]
    assert text.count("What's the weather like today") == 1


def test_one_event_and_one_message_per_line_for_readable_diffs() -> None:
    lines = dump(_entries()).splitlines()
    event_lines = [ln for ln in lines if ln.strip().startswith('{"ms":')]
    assert len(event_lines) == 5 and all(ln.rstrip(",").endswith("}") for ln in event_lines)
    assert any(ln.strip().startswith('{"role": "user"') for ln in lines)


def test_unreadable_files_fail_with_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(CassetteFormatError, match="not valid JSON"):
        load(path)
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CassetteFormatError, match="is not a lazystream cassette"):
        load(path)
    path.write_text(json.dumps({"format": "lazystream-cassette", "version": VERSION + 1, "entries": []}))
    with pytest.raises(CassetteFormatError, match="upgrade lazystream-widget"):
        load(path)
    path.write_text(json.dumps({"format": "lazystream-cassette", "version": VERSION, "entries": [{"run": 0}]}))
    with pytest.raises(CassetteFormatError, match="entry 0 is malformed"):
        load(path)


# ---- matching -----------------------------------------------------------------------------


def _request(content: str, **body) -> RecordedRequest:
    return RecordedRequest("POST", "https://api.example.com/v1/chat/completions",
                           {"model": "m", "messages": [{"role": "user", "content": content}], **body})


def test_the_default_matcher_compares_endpoint_model_messages_tools_and_stream() -> None:
    matcher = Matcher()
    assert matcher.matches(_request("hi"), _request("hi", temperature=0.3))  # not a default rule
    assert matcher.matches(_request("hi", tools=None), _request("hi"))  # null and absent are the same
    assert not matcher.matches(_request("hi"), _request("hi", stream=True))
    other_host = RecordedRequest("POST", "http://127.0.0.1:8000/v1/chat/completions", _request("hi").body)
    assert matcher.matches(_request("hi"), other_host)  # the path, not the host
    assert not Matcher(["url"]).matches(_request("hi"), other_host)


def test_custom_rules_and_their_explanations() -> None:
    def same_length(recorded, incoming):
        return True if len(str(recorded.body)) == len(str(incoming.body)) else "lengths differ"

    matcher = Matcher(["method", same_length])
    assert matcher.matches(_request("ab"), _request("cd"))
    assert matcher.differences(_request("ab"), _request("abc")) == ["same_length: lengths differ"]
    with pytest.raises(TypeError, match="not a string"):
        Matcher("model")  # type: ignore[arg-type]


def test_a_rule_that_would_compare_nothing_is_an_error_not_a_match_for_everything(tmp_path) -> None:
    with pytest.raises(ValueError, match="match_on: unknown rule 'mesages'; did you mean 'messages'"):
        Matcher(["method", "path", "model", "mesages"])
    assert Matcher(["temperature", "seed"]).rules == ("temperature", "seed")  # real fields, even if not recorded
    Matcher(["x_custom_field"])  # maybe a provider's own field: checked against the recording when it replays
    path = tmp_path / "one.json"
    save(path, [Entry(_request("hi"), RecordedResponse(200, body={"ok": True}))])
    with pytest.raises(ValueError, match=r"rule 'x_custom_field' is not a part of the request .* no request recorded "
                                         r"in cassette .*one.json' has a body field of that name \(they have: "
                                         r"messages, model\); such a rule would match every request"):
        cassette(path, "replay", match_on=["method", "x_custom_field"])
    assert cassette(path, "replay", match_on=["method", "model"]).matcher.rules == ("method", "model")


def test_a_difference_is_shown_where_it_is() -> None:
    lines = describe("messages", [{"role": "user", "content": "a" * 300 + " Tokyo"}],
                     [{"role": "user", "content": "a" * 300 + " Paris"}])
    assert len(lines) == 1 and lines[0].startswith("messages[0].content: recorded \"…")
    assert "Tokyo" in lines[0] and "Paris" in lines[0]
    (extra,) = describe("messages", [1], [1, 2])
    assert "recorded 1 items, now 2" in extra


# ---- redaction ----------------------------------------------------------------------------


def test_credentials_are_found_in_headers_and_removed_everywhere() -> None:
    key = "sk-live-0123456789abcdefABCDEF"
    secrets = header_secrets([("Authorization", f"Bearer {key}"), ("Cookie", "session=abcdefghijklmnopqrstu"),
                              ("Content-Type", "application/json"), ("api-key", "short")])
    assert secrets == [key, "abcdefghijklmnopqrstu"]
    redactor = Redactor(secrets, patterns=[r"ACME-\d{6}"])
    assert redactor.json({"a": [f"key {key} and ACME-123456"], "n": 3}) == {"a": [f"key {MARK} and {MARK}"], "n": 3}
    assert redactor.url("https://u:pw@h/v1/x?key=abc&model=m") == f"https://{MARK}@h/v1/x?key={MARK}&model=m"
    assert redactor.text("token AIza" + "x" * 35) == f"token {MARK}"


def test_this_machines_folders_become_placeholders(monkeypatch) -> None:
    monkeypatch.setenv("HOME", "/home/ada")
    redactor = Redactor(paths=machine_paths())
    prompt = "Default workspace: `/home/ada/.lazyllm/agent_workspace`; not /home/adam, not /x/home/ada"
    assert redactor.text(prompt) == "Default workspace: `~/.lazyllm/agent_workspace`; not /home/adam, not /x/home/ada"
    assert redactor.json({"m": ["/home/ada"]}) == {"m": ["~"]}
