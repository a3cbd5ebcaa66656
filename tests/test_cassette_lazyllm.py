"""Real LazyLLM 1.4.0 (the [lazyllm] extra): its OnlineChatModule talks HTTP with ``requests``, not the openai
client, and records and replays through the same cassette proxy.

It runs in a child process: importing LazyLLM sets up its own logging, config and queues, which must not
leak into the other tests.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("lazyllm") is None,
                                reason="LazyLLM is not installed: pip install -e '.[lazyllm]'")

CHILD = r'''
import json, os, sys
import lazyllm
import lazystream_widget as lz
from lazystream_widget.testing import ScriptedServer, weather_responder
from lazystream_widget.testing.providers import deepseek_style

OPENAI, path = "https://api.openai.com/v1/", sys.argv[1]
QUERY = "What's the weather like today in celsius in Tokyo and Paris?"
server = ScriptedServer(responder=deepseek_style(weather_responder, model="gpt-4o-mini", first_token_s=0.02,
                                                 token_gap_s=0.005)).start()
# record: LazyLLM's module as its author builds it, with a key, pointed at the cassette's URL for OpenAI;
# called directly, then in our runner (what a StreamView does), each a request of its own
with lz.cassette(path, "record", redirect={OPENAI: server.base_url}) as cassette:
    module = lazyllm.OnlineChatModule(source="openai", model="gpt-4o-mini", url=cassette.url(OPENAI),
                                      api_key=os.environ["LAZYLLM_OPENAI_API_KEY"], stream=True)
    recorded = module(QUERY)
    recorded_run = lz.Run(module, QUERY).start()
    recorded_run.wait(60)
requests_seen = len(server.requests)
server.stop()
# replay: no server, no key (LazyLLM checks for one itself when built: any placeholder will do)
with lz.cassette(path, "replay", 0) as cassette:
    module = lazyllm.OnlineChatModule(source="openai", model="gpt-4o-mini", url=cassette.url(OPENAI),
                                      api_key="no-key-in-ci", stream=True)
    replayed = module(QUERY)
    replayed_run = lz.Run(module, QUERY).start()
    replayed_run.wait(60)
runs = [{"result": r.result, "text": r.text, "tree": [(s.kind, s.name) for s in r.trace]}
        for r in (recorded_run, replayed_run)]
print("RESULT " + json.dumps({"recorded": recorded, "replayed": replayed, "requests": requests_seen,
                              "replays": cassette.replayed, "runs": runs}))
'''


def test_lazyllm_online_chat_module_records_and_replays_through_the_proxy(tmp_path) -> None:
    path = tmp_path / "lazyllm.json"
    key = "sk-lazyllm-test-key-0123456789abcdef"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LAZYLLM_HOME": str(tmp_path / "lazyllm-home"),
           "LAZYSTREAM_HOME": str(tmp_path / "lazystream-home"), "LAZYLLM_OPENAI_API_KEY": key,
           "PYTHONPATH": ":".join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True,
                          timeout=180, cwd=tmp_path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"child failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["recorded"].startswith("Hello! I am the scripted demo model")
    assert result["replayed"] == result["recorded"] and result["requests"] == 2 and result["replays"] == 2
    recorded_run, replayed_run = result["runs"]
    assert replayed_run == recorded_run and recorded_run["result"] == result["recorded"]
    assert recorded_run["text"] == result["recorded"], "LazyLLM's stream reaches the run's answer, replayed too"
    assert any(kind == "llm" for kind, _ in recorded_run["tree"]), recorded_run["tree"]  # the same tree, replayed
    doc = json.loads(path.read_text())
    entry = doc["entries"][0]
    assert entry["request"]["url"] == "https://api.openai.com/v1/chat/completions"
    assert entry["request"]["body"]["messages"][0]["role"] == "system"  # LazyLLM's own prompt, as it sent it
    assert key not in path.read_text()
