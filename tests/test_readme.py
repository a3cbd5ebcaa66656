"""The README runs as written.

* Every ```python block runs, in order, as the cells of one notebook on a fresh kernel (nbclient), the way a
  reader pastes them. The kernel gets only what the README tells the reader to set: a model endpoint for the
  seed's example (``LAZYSTREAM_OPENAI_BASE_URL``, here a scripted server of the test) and a DeepSeek key for
  the "real model" line (the key is never used: no request goes out).
* Every ```bash command is either run here or listed in ``NOT_RUN`` with the reason and the test that covers
  it; a new command fails this test until it is one or the other. What the commands name must exist: scripts,
  ``python -m`` modules, ``pip install ".[extra]"`` extras, ``scripts/test`` flags.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from lazystream_widget.testing import weather_responder

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SEED_ANSWER = "The current weather in Tokyo is 10 degrees Celsius, and in Paris, it is 22 degrees Celsius."

#: shell commands of the README that this test does not run, and why (each covered elsewhere)
NOT_RUN = {
    "pip install . && python -m lazystream_widget.demo":
        "installs into the current environment; tests/test_packaging.py installs the built wheel into a fresh "
        "venv and runs the demo there, tests/test_console.py runs the demo",
    "bash scripts/install-test-deps && bash scripts/test":
        "the test command itself (CI runs it through .ci/run)",
    "bash scripts/install-test-deps --no-apt":
        "installs (npm ci, pip install -e); tests/test_scripts.py checks that --no-apt never reaches apt",
    "bash scripts/test --no-browser --no-redis":
        "the test command itself; tests/test_scripts.py checks the flags",
    'pip install ".[docs]" && mkdocs serve':
        "a server that runs until stopped; scripts/test builds the same site with mkdocs build --strict",
}


def fenced_blocks(text: str, language: str) -> list[str]:
    return [m.group(1) for m in re.finditer(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)]


def shell_commands(text: str) -> list[str]:
    """Each command line of the bash blocks, its trailing comment removed."""
    commands = []
    for block in fenced_blocks(text, "bash"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def test_every_shell_command_is_run_or_listed_with_a_reason() -> None:
    commands = shell_commands(README.read_text())
    unlisted = [c for c in commands if c not in NOT_RUN]
    assert not unlisted, f"README shell commands neither run by a test nor listed in NOT_RUN: {unlisted}"
    stale = [c for c in NOT_RUN if c not in commands]
    assert not stale, f"NOT_RUN lists commands the README no longer has: {stale}"


def test_what_the_readme_names_exists() -> None:
    text = README.read_text()
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for named in re.findall(r"\.\[([a-z0-9,_-]+)\]", text):
        for extra in named.split(","):
            assert extra in extras, f'README installs ".[{extra}]" but pyproject.toml has no such extra'
    for script in set(re.findall(r"\b(scripts/[\w.-]+|\.ci/run)\b", text)):
        assert (REPO / script).is_file(), f"README names {script}, which does not exist"
    for module in set(re.findall(r"python -m ([\w.]+)", text)):
        if module in ("pip", "build"):
            continue
        spec = subprocess.run([sys.executable, "-c", f"import importlib.util as u; print(u.find_spec({module!r}))"],
                              capture_output=True, text=True, timeout=60)
        assert spec.stdout.strip() not in ("", "None"), f"README runs python -m {module}, which is not importable"
    for link in re.findall(r"\]\(((?!https?:|#)[^)#]+)", text):
        assert (REPO / link).exists(), f"README links to {link}, which does not exist"
    flags = set(re.findall(r"scripts/test((?: --[\w-]+)+)", text))
    for flag in {f for group in flags for f in group.split()}:
        assert flag in (REPO / "scripts" / "test").read_text(), f"README passes {flag} to scripts/test, which lacks it"
    for flag in re.findall(r"scripts/install-test-deps (--[\w-]+)", text):
        assert f"{flag})" in (REPO / "scripts" / "install-test-deps").read_text(), f"install-test-deps lacks {flag}"


def test_the_python_blocks_run_as_written_in_a_fresh_kernel(tmp_path, monkeypatch, scripted_server_factory) -> None:
    blocks = fenced_blocks(README.read_text(), "python")
    assert len(blocks) >= 4, blocks
    endpoint = scripted_server_factory(responder=weather_responder)
    monkeypatch.setenv("LAZYSTREAM_OPENAI_BASE_URL", endpoint.base_url)  # "with a model endpoint configured"
    monkeypatch.setenv("LAZYSTREAM_DEEPSEEK_API_KEY", "sk-readme-test-key-never-sent")  # "after export ..._API_KEY"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(block) for block in blocks]
    client = NotebookClient(nb, kernel_name="python3", timeout=180, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any block fails

    def printed(i: int) -> str:
        return "".join(o.get("text", "") for o in nb.cells[i].outputs if o.output_type == "stream")

    first = nb.cells[0].outputs
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in first), first
    assert SEED_ANSWER in printed(1)  # print(run.wait())
    tree = printed(1).split(SEED_ANSWER, 1)[1]
    assert tree.count("tool get_current_weather") == 2 and tree.count("llm ") == 2, tree
    console = printed(3)
    assert "» Give me a 3-day forecast for Tokyo in celsius." in console
    assert "tool get_n_day_weather_forecast(" in console and "done · " in console
    seed = printed(4)
    assert f"ret: {SEED_ANSWER}" in seed and "trace: {" in seed and "output: " in seed


@pytest.mark.parametrize("command", sorted(NOT_RUN))
def test_each_listed_command_has_a_reason(command: str) -> None:
    assert len(NOT_RUN[command]) > 20


def test_no_page_installs_from_pypi_where_the_package_is_not() -> None:
    """The package is not on PyPI: an install line naming it there fails for every reader who copies it."""
    pages = [README, *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "notebooks").glob("*.ipynb"))]
    for page in pages:
        for line in page.read_text().splitlines():
            assert not re.search(r"pip install ['\"]?lazystream-widget\b", line), f"{page.name}: {line.strip()}"
    assert "urls" not in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]  # no page to point at


def test_the_readme_says_how_to_get_jupyter_before_the_first_cell() -> None:
    text = README.read_text()
    section = text[text.index("## In a notebook"):text.index("```python")]
    assert "pip install . jupyterlab" in section and "jupyter lab" in section
    assert "python -m ipykernel install --user" in section  # JupyterLab in another environment
