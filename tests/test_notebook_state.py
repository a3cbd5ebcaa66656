"""A notebook executed by ``jupyter nbconvert --execute`` keeps the final answers in its widget state.

The saved state (``metadata.widgets``) is what re-opened notebooks and static HTML exports
show, so the StreamView's ``runs`` trait must end up there with each run's final text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
QUICK_START = NOTEBOOKS / "01-quick-start.ipynb"
STATE_KEY = "application/vnd.jupyter.widget-state+json"
SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."
FORECAST_ANSWER = "The 3-day forecast for Tokyo is 10 degrees Celsius."


def model_free_env() -> dict[str, str]:
    """This environment without model endpoints, keys or launch commands (the queue home stays)."""
    model_vars = ("OPENAI_", "LAZYSTREAM_")
    return {k: v for k, v in os.environ.items() if not k.startswith(model_vars) or k == "LAZYSTREAM_HOME"}


def test_nbconvert_execute_saves_the_final_answers_in_widget_state(tmp_path: Path) -> None:
    env = model_free_env()
    proc = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "notebook",
         "--ExecutePreprocessor.timeout=120", "--output-dir", str(tmp_path), "--output", "executed",
         str(QUICK_START)],
        cwd=NOTEBOOKS, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    nb = json.loads((tmp_path / "executed.ipynb").read_text(encoding="utf-8"))

    state = nb["metadata"]["widgets"][STATE_KEY]["state"]
    views = [m["state"] for m in state.values() if "runs" in m.get("state", {})]
    assert len(views) == 1, f"expected one StreamView model in the saved state, found {len(views)}"
    runs = views[0]["runs"]
    assert [r["status"] for r in runs] == ["done", "done"]
    assert [r["text"] for r in runs] == [SEED_ANSWER, FORECAST_ANSWER]
    assert [r["result"] for r in runs] == [None, None]  # the result is the streamed text: not stored twice
    # the trace travels with it: the agent, both model calls and both tool calls of the first run
    starts = [e for e in runs[0]["entries"] if isinstance(e, dict) and e.get("event") == "start"]
    assert sorted((e["kind"], e["name"]) for e in starts) == [
        ("agent", "FunctionCallAgent"),
        ("llm", "scripted"),
        ("llm", "scripted"),
        ("tool", "get_current_weather"),
        ("tool", "get_current_weather"),
    ]
