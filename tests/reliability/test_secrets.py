"""Secrets: a known fake API key must never show up where people or files can see it.

The key is passed as ``api_key=`` and through ``LAZYSTREAM_OPENAI_API_KEY``. The scripted server plays a provider that
echoes the key in its error messages (some do), so the failure paths are tested with the key in hand. Places checked:
trace entries, ``Run.state()``, a ``StreamView``'s ``runs`` trait, the messages the view sends, ``repr()`` of the
modules, error messages and printed tracebacks of failed runs, and every byte of the queue home while the run's files
exist. The key must still reach the server (in the Authorization header), or the test would prove nothing.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget.testing import HTTPError, Reply, ToolCall
from lazystream_widget.tools import FunctionCallAgent, fc_register

from .helpers import SECRET_KEY, all_bytes

KEY = SECRET_KEY
ECHO = f"Incorrect API key provided: {KEY}. You can find your API key at https://example.invalid/keys"


class TappedView(lsw.StreamView):
    """The real StreamView, recording what it would send to the browser."""

    def __init__(self, *args, **kwargs):
        self.sent: list[dict] = []
        super().__init__(*args, display=False, **kwargs)

    def send(self, content, buffers=None):
        self.sent.append(json.loads(json.dumps(content)))


@fc_register("tool", name="rel_secret_tool")
def rel_secret_tool(city: str) -> str:
    """Looks a city up.

    Args:
        city (str): the city.
    """
    return f"{city}: fine"


def _make_module(server, how: str, monkeypatch):
    if how == "argument":
        llm = lsw.OnlineChatModule(base_url=server.base_url, api_key=KEY, stream=True)
    else:
        monkeypatch.setenv("LAZYSTREAM_OPENAI_API_KEY", KEY)
        monkeypatch.setenv("LAZYSTREAM_OPENAI_BASE_URL", server.base_url)
        llm = lsw.OnlineChatModule("openai", stream=True)
    return llm, FunctionCallAgent(llm, ["rel_secret_tool"])


def _ask_and_watch_disk(view: TappedView, home: Path, query: str):
    """Start a run and collect every byte of the queue home while its files exist."""
    disk = bytearray()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            disk.extend(all_bytes(home) if home.exists() else b"")
            time.sleep(0.002)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    run = view.ask(query)
    try:
        run.wait(30)
    except Exception:
        pass
    stop.set()
    watcher.join(5)
    disk.extend(all_bytes(home) if home.exists() else b"")
    return run, bytes(disk)


def _assert_no_key_anywhere(run, view: TappedView, llm, agent, disk: bytes) -> None:
    places = {
        "trace entries": json.dumps(run.entries, ensure_ascii=False),
        "Run.state()": json.dumps(run.state(), ensure_ascii=False),
        "StreamView.runs": json.dumps(view.runs, ensure_ascii=False),
        "messages to the browser": json.dumps(view.sent, ensure_ascii=False),
        "repr of the modules": repr(llm) + repr(agent) + repr(view) + repr(run),
        "str of the error": str(run.error),
        "printed traceback": "".join(traceback.format_exception(run.error)) if run.error else "",
    }
    leaks = [where for where, text in places.items() if KEY in text]
    assert not leaks, f"the API key leaked into: {leaks}"
    assert KEY.encode() not in disk, "the API key is in the queue files on disk"
    assert len(disk) > 0, "the disk watch saw nothing: the check proved nothing"


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_successful_run_never_shows_the_key(scripted_server_factory, queue_home: Path, monkeypatch, how,
                                              figures) -> None:
    server = scripted_server_factory([Reply(text="Looking. ", tool_calls=[ToolCall("rel_secret_tool",
                                                                                   {"city": "Rome"})]),
                                      Reply(text="Rome is fine.", delay=0.005)])
    llm, agent = _make_module(server, how, monkeypatch)
    view = TappedView(agent)
    run, disk = _ask_and_watch_disk(view, queue_home, "Rome?")
    assert run.status == "done" and run.text == "Looking. Rome is fine."
    _assert_no_key_anywhere(run, view, llm, agent, disk)
    figures.add("secrets.successful_run", runs=1, disk_bytes_scanned=len(disk), leaks=0)


@pytest.mark.parametrize("how", ["argument", "environment"])
@pytest.mark.parametrize("fault", ["401 echoing the key", "500s echoing the key", "stream broken mid-answer"])
def test_a_failed_run_never_shows_the_key(scripted_server_factory, queue_home: Path, monkeypatch, how, fault,
                                          figures) -> None:
    if fault == "401 echoing the key":
        script = [HTTPError(401, ECHO)]
    elif fault == "500s echoing the key":
        script = [HTTPError(500, ECHO, headers={"Retry-After": "0"})] * 3
    else:
        script = [Reply(text="partial answer then", drop_after=2)]
    server = scripted_server_factory(script)
    llm, agent = _make_module(server, how, monkeypatch)
    view = TappedView(agent)
    run, disk = _ask_and_watch_disk(view, queue_home, "hi")
    assert run.status == "error" and isinstance(run.error, lsw.ModelError)
    if fault == "401 echoing the key":
        assert "refused the API key (HTTP 401)" in str(run.error)
    if fault == "500s echoing the key":
        [llm_span] = [s for s in run.trace if s.kind == "llm"]
        assert [e["name"] for e in llm_span.events] == ["retry", "retry", "attempt_failed"]
        assert "Incorrect API key provided: sk-…7890" in llm_span.events[0]["error"], "the echo is kept, masked"
    _assert_no_key_anywhere(run, view, llm, agent, disk)
    figures.add("secrets.failed_run", runs=1, disk_bytes_scanned=len(disk), leaks=0)


def test_the_key_does_reach_the_server(scripted_server_factory) -> None:
    """Control: the key is really used (so its absence elsewhere means something)."""
    import http.server
    import socketserver

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.headers.get("Authorization", ""))
            body = json.dumps({"error": {"message": "nope", "type": "invalid_request_error"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with socketserver.TCPServer(("127.0.0.1", 0), Handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        llm = lsw.OnlineChatModule(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1", api_key=KEY)
        with pytest.raises(lsw.ModelError):
            llm("hi")
        httpd.shutdown()
    assert seen == [f"Bearer {KEY}"]
