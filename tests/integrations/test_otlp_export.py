"""Our runs out to OpenTelemetry: ``run.to_otlp()`` and live export to a real OTLP/HTTP receiver on loopback."""

from __future__ import annotations

import json
import time

import pytest

import lazystream_widget as lsw
from lazystream_widget.runner import Run
from lazystream_widget.testing import weather_responder
from lazystream_widget.tools import FunctionCallAgent

from .otlp_receiver import OTLPReceiver, attributes

QUERY = "What's the weather like today in celsius in Tokyo and Paris?"
ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."


@pytest.fixture
def weather_agent(scripted_server_factory):
    import lazystream_widget.demo  # noqa: F401 - registers the seed's two tools

    server = scripted_server_factory(responder=weather_responder)
    llm = lsw.OnlineChatModule(base_url=server.base_url, api_key="test", stream=True)
    return FunctionCallAgent(llm, ["get_current_weather", "get_n_day_weather_forecast"])


def _values(attrs: list[dict]) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in attrs}


def test_to_otlp_is_one_trace_with_a_root_and_correct_parents(weather_agent):
    run = Run(weather_agent, QUERY).start()
    assert run.wait(30) == ANSWER
    doc = json.loads(json.dumps(run.to_otlp()))  # plain JSON data
    (rs,) = doc["resourceSpans"]
    assert _values(rs["resource"]["attributes"])["service.name"] == "lazystream-widget"
    (ss,) = rs["scopeSpans"]
    spans = ss["spans"]
    assert len(spans) == len(run.trace) + 1  # the run's root span, then every span of the run
    ids = {s["spanId"] for s in spans}
    assert len({s["traceId"] for s in spans}) == 1 and len(spans[0]["traceId"]) == 32
    (root,) = [s for s in spans if "parentSpanId" not in s]
    assert root["name"] == "run" and root["status"]["code"] == 1
    assert _values(root["attributes"])["input.value"] == QUERY
    assert _values(root["attributes"])["output.value"] == ANSWER
    for s in spans:
        assert len(s["spanId"]) == 16 and int(s["spanId"], 16) >= 0
        assert s is root or s["parentSpanId"] in ids
        assert int(s["startTimeUnixNano"]) <= int(s["endTimeUnixNano"])
    by_id = {s.id: s for s in run.trace}
    for s in spans:
        if s is not root:
            ours = by_id[s["spanId"]]
            assert s["parentSpanId"] == (ours.parent_id or root["spanId"])
    llm = next(s for s in spans if _values(s["attributes"]).get("openinference.span.kind") == "LLM")
    attrs = _values(llm["attributes"])
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == attrs["llm.model_name"]
    kinds = [(_values(s["attributes"]).get("openinference.span.kind"), _values(s["attributes"])) for s in spans]
    tools = [attrs for kind, attrs in kinds if kind == "TOOL"]
    assert sorted(json.loads(t["gen_ai.tool.call.arguments"])["location"] for t in tools) == [
        "Paris, France", "Tokyo, Japan"]
    assert all(t["gen_ai.tool.name"] == t["tool.name"] == "get_current_weather" for t in tools)


def test_configured_endpoint_receives_every_span_live_with_parent_links(weather_agent):
    with OTLPReceiver() as rx:
        lsw.configure(otlp_endpoint=rx.endpoint)
        run = Run(weather_agent, QUERY).start()
        assert run.wait(30) == ANSWER
        expected = {s["spanId"] for s in run.to_otlp()["resourceSpans"][0]["scopeSpans"][0]["spans"]}
        assert rx.wait_for(lambda r: {s.span_id.hex() for s in r.spans} >= expected), "spans did not all arrive"
        assert set(rx.paths) == {"/v1/traces"}
        spans = {s.span_id.hex(): s for s in rx.spans}
        assert set(spans) == expected
        (root,) = [s for s in spans.values() if not s.parent_span_id]
        assert root.name == "run"
        assert {s.trace_id.hex() for s in spans.values()} == {root.trace_id.hex()}
        by_id = {s.id: s for s in run.trace}
        for sid, span in spans.items():
            if span is not root:
                assert span.parent_span_id.hex() == (by_id[sid].parent_id or root.span_id.hex())
        llms = [s for s in spans.values() if attributes(s).get("openinference.span.kind") == "LLM"]
        assert len(llms) == 2
        assert all(attributes(s)["gen_ai.usage.input_tokens"] > 0 for s in llms)
        tools = [attributes(s) for s in spans.values() if attributes(s).get("openinference.span.kind") == "TOOL"]
        assert sorted(t["gen_ai.tool.name"] for t in tools) == ["get_current_weather"] * 2


def test_the_standard_environment_variable_works_and_nothing_is_sent_unless_configured(weather_agent, monkeypatch):
    with OTLPReceiver() as rx:
        Run(weather_agent, QUERY).start().wait(30)
        time.sleep(1.0)  # longer than the export delay: had anything been sent, it would be here
        assert rx.requests == []
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rx.endpoint + "/")
        run = Run(weather_agent, QUERY).start()
        run.wait(30)
        assert rx.wait_for(lambda r: any(s.name == "run" for s in r.spans))
        assert {s.trace_id.hex() for s in rx.spans} == {run.to_otlp()["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
                                                         ["traceId"]}


def test_a_bad_endpoint_is_a_clear_error():
    with pytest.raises(ValueError, match=r"otlp_endpoint.*http\(s\) URL.*127\.0\.0\.1:4318"):
        lsw.configure(otlp_endpoint="127.0.0.1:4318")
    with pytest.raises(ValueError, match="otlp_endpoint"):
        lsw.configure(otlp_endpoint="ftp://collector")


def test_an_unreachable_collector_never_breaks_a_run_and_is_one_notice_not_log_noise(weather_agent, caplog):
    import logging
    import socket

    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lsw.configure(otlp_endpoint=f"http://127.0.0.1:{port}")
    notice = (f"OTLP export to http://127.0.0.1:{port}/v1/traces failed: connection refused. The run itself is not "
              "affected; its spans may not reach the collector.")
    run = Run(weather_agent, QUERY).start()
    assert run.wait(30) == ANSWER and run.status == "done"
    assert run.notices == [notice], "said on the first run, in its final state"
    later = Run(lambda q: "hello", "q").start()
    assert later.wait(30) == "hello" and later.notices == [notice], "and on each run while it lasts"
    time.sleep(2.5)  # the exporter goes on retrying in the background (every failed attempt used to log a warning)
    ours = [r for r in caplog.records if r.name == "lazystream_widget.otlp"]
    assert [(r.levelname, r.getMessage()) for r in ours] == [
        ("INFO", f"OTLP export to http://127.0.0.1:{port}/v1/traces failed: connection refused")]
    assert [r for r in caplog.records if r.name.startswith("opentelemetry")] == [], "no red lines in other cells"


def test_otlp_status_resource_and_mime_types_say_what_otlp_means(weather_agent):
    def fails(q: str) -> str:
        raise ValueError("cassette 'x' has no answer for this request:\n  messages[0]: recorded 'a' ≠ now 'b'")

    done = Run(weather_agent, QUERY).start()
    done.wait(30)
    doc = done.to_otlp()
    resource = _values(doc["resourceSpans"][0]["resource"]["attributes"])
    assert resource["service.name"] == "lazystream-widget" and "telemetry.sdk.name" not in resource  # the SDK's key
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    tools = [_values(s["attributes"]) for s in spans if _values(s["attributes"])["lazystream.span.kind"] == "tool"]
    assert tools and all(t["output.mime_type"] == "application/json" for t in tools), "tools answer JSON text"
    assert json.loads(tools[0]["output.value"])["temperature"]

    failed = Run(fails, "q").start()
    with pytest.raises(ValueError):
        failed.wait(30)
    root = failed.to_otlp()["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert root["status"] == {"code": 2, "message": "ValueError: cassette 'x' has no answer for this request:\n"
                                                    "  messages[0]: recorded 'a' ≠ now 'b'"}, "the whole message"

    cancelled = Run(lambda q: time.sleep(30), "q").start()
    time.sleep(0.3)
    cancelled.cancel()
    with pytest.raises(lsw.RunCancelled):
        cancelled.wait(10)
    root = cancelled.to_otlp()["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert root["status"] == {"code": 0}, "UNSET has no message (OTLP keeps it for errors)"
    assert _values(root["attributes"])["lazystream.run.status"] == "cancelled"
