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
from pathlib import Path

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


AGENT_CHILD = r'''
import json, os, sys, time
import lazyllm
from lazyllm.tools import FunctionCallAgent, fc_register
import lazystream_widget as lz
from lazystream_widget.cassettes import CassetteError, CassetteMismatchError
from lazystream_widget.testing import ScriptedServer, weather_responder


@fc_register("tool", execute_in_sandbox=False)
def get_current_weather(location: str, unit: str = "fahrenheit"):
    """
    Get the current weather in a given location

    Args:
        location (str): The city and state, e.g. San Francisco, CA.
        unit (str): The temperature unit to use.
    """
    return json.dumps({"location": location, "temperature": "10", "unit": unit})


OPENAI, path, step = "https://api.openai.com/v1/", sys.argv[1], sys.argv[2]
QUERY = "What's the weather like today in celsius in Tokyo?"
server = ScriptedServer(responder=weather_responder).start()


def agent(url, key="replay"):
    llm = lazyllm.OnlineChatModule(source="openai", model="gpt-4o-mini", url=url, api_key=key, stream=True)
    return FunctionCallAgent(llm, ["get_current_weather"], stream=True)


def outcome(run):
    try:
        return {"result": run.wait(60), "notices": run.notices}
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc), "headline": run.state()["error"]["message"],
                "notices": run.notices}


out = {}
if step == "record":
    with lz.cassette(path, "record", redirect={OPENAI: server.base_url}) as cassette:
        out["recorded"] = outcome(lz.Run(agent(cassette.url(OPENAI), os.environ["LAZYLLM_OPENAI_API_KEY"]),
                                         QUERY).start())
else:
    # the agent built once, outside runs, with the cassette's URL; the cell that asks is run twice
    cassette = lz.cassette(path, "replay", 0)
    built_once = agent(cassette.url(OPENAI))
    out["first"] = outcome(lz.Run(built_once, QUERY).start())
    out["again"] = outcome(lz.Run(built_once, QUERY).start())
    out["other_question"] = outcome(lz.Run(built_once, QUERY.replace("Tokyo", "Paris")).start())
    # a model that talks to its endpoint directly, while a replaying cassette is in force: never the network
    with lz.cassette(path, "replay", 0):
        out["unrouted_replay"] = outcome(lz.Run(agent(server.base_url + "/"), QUERY).start())
    with lz.cassette(path + ".new.json", "record"):
        out["unrouted_record"] = outcome(lz.Run(agent(server.base_url + "/"), QUERY).start())
out["requests"] = len(server.requests)
server.stop()
print("RESULT " + json.dumps(out))
'''


def _child(tmp_path, script: str, home: str, *args: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "LAZYLLM_HOME": str(tmp_path / f"lazyllm-of-{Path(home).name}"),
           "LAZYSTREAM_HOME": str(tmp_path / f"lazystream-of-{Path(home).name}"),
           "LAZYLLM_OPENAI_API_KEY": "sk-lazyllm-test-key-0123456789abcdef",
           "PYTHONPATH": ":".join(p for p in sys.path if p)}
    Path(home).mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=180, cwd=tmp_path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"child failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def test_a_lazyllm_agent_recorded_on_one_machine_replays_on_another_and_is_always_covered(tmp_path) -> None:
    path = tmp_path / "agent.json"
    author = str(tmp_path / "home" / "ada")
    recorded = _child(tmp_path, AGENT_CHILD, author, str(path), "record")["recorded"]
    assert recorded["result"].startswith("The current weather in Tokyo"), recorded
    text = path.read_text()
    assert "/home/ada" not in text and "lazyllm-of-ada" not in text, "the author's folders stay out of the file"
    assert "$LAZYLLM_HOME/agent_workspace" in text  # LazyLLM 1.4.0 puts its workspace in the system prompt

    # another machine: other home, other LAZYLLM_HOME, no key, no server behind the cassette
    out = _child(tmp_path, AGENT_CHILD, str(tmp_path / "home" / "bob"), str(path), "replay")
    assert out["first"]["result"] == recorded["result"], out["first"]
    assert out["again"]["result"] == recorded["result"], "re-running the cell replays again"
    assert any(n.startswith("Replaying recorded model traffic from cassette agent.json")
               for n in out["first"]["notices"]), out["first"]["notices"]
    other = out["other_question"]  # LazyLLM itself only says "HTTP status 404": the run says why
    assert other["error"] == "CassetteMismatchError", other
    assert 'has no recorded answer for POST /v1/chat/completions' in other["headline"]
    assert "Tokyo" in other["headline"] and "Paris" in other["headline"]
    unrouted = out["unrouted_replay"]
    assert unrouted["error"] == "CassetteError" and "sends its requests straight to http://127.0.0.1:" in \
        unrouted["message"] and "url=cassette.url(" in unrouted["message"], unrouted
    assert "result" in out["unrouted_record"] and any(
        "is recording, but LazyLLM model 'llm' sends its requests straight to" in n
        for n in out["unrouted_record"]["notices"]), out["unrouted_record"]
    # this child's server got the 2 model turns of the unrouted recording run, and nothing from a replay
    assert out["requests"] == 2
