"""The code examples of docs/cassettes.md and docs/integrations.md run as written (QA 1 finding 14).

Every ``python`` block names only what it imports or defines (ruff's undefined-name check), and
the two a reader copies first are run: the headline cassette example (replaying notebook 07's
committed cassette, with no key) and the real-LazyLLM example (against the scripted server).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "docs" / "cassettes.md", ROOT / "docs" / "integrations.md"]


def python_blocks(doc: Path) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", doc.read_text(), re.S | re.M)]


def model_free_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LAZYSTREAM_", "LAZYLLM_"))}
    env["LAZYSTREAM_HOME"] = str(tmp_path / "home")
    env["LAZYLLM_HOME"] = str(tmp_path / "lazyllm-home")
    return env


def run_script(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_example_names_only_what_it_imports_or_defines(doc: Path, tmp_path: Path) -> None:
    blocks = python_blocks(doc)
    assert blocks
    for i, block in enumerate(blocks):
        (tmp_path / f"block_{i}.py").write_text(block)
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--select", "F821",
                           "--output-format", "concise", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, f"{doc.name}: examples use names they never import or define:\n{proc.stdout}"


def test_the_headline_cassette_example_replays_with_no_key(tmp_path: Path) -> None:
    (block,) = [b for b in python_blocks(DOCS[0]) if "07-deepseek-weather.json" in b]
    env = model_free_env(tmp_path)
    env["LAZYSTREAM_CASSETTE_SPEED"] = "0"  # at once: the example's pace is not what is tested here
    proc = run_script(block + "\nprint('NOTICES', run.notices)\n", env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius." \
        in proc.stdout
    assert "Replaying recorded model traffic from cassette 07-deepseek-weather.json" in proc.stdout


def test_the_real_lazyllm_example_streams_an_agent_with_its_tool(tmp_path: Path) -> None:
    pytest.importorskip("lazyllm")
    (block,) = [b for b in python_blocks(DOCS[1]) if "import lazyllm" in b]
    assert block.count('base_url="https://api.openai.com/v1/"') == 1
    guard = Path(__file__).resolve().parent / "integrations"  # CPython < 3.11.8's parallel ast.parse bug: see there
    script = (
        f"import sys; sys.path.insert(0, {str(guard)!r}); import cpython_ast_guard; cpython_ast_guard.install()\n"
        "from lazystream_widget.testing import ScriptedServer, weather_responder\n"
        "server = ScriptedServer(responder=weather_responder).start()\n"
        + block.replace('base_url="https://api.openai.com/v1/"', 'base_url=server.base_url + "/"')
        + "\nimport json\nrun.wait(60)\n"
        "print('RESULT ' + json.dumps({'status': run.status, 'text': run.text, 'notices': run.notices,\n"
        "    'tools': [s.input for s in run.trace if s.kind == 'tool']}))\n"
    )
    env = model_free_env(tmp_path)
    env["LAZYLLM_OPENAI_API_KEY"] = "sk-docs-example-0123456789"
    proc = run_script(script, env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["status"] == "done" and out["notices"] == [], out
    assert "Tokyo" in out["text"] and "Paris" in out["text"], out
    assert [t["location"] for t in out["tools"]] == ["Tokyo, Japan", "Paris, France"], out
