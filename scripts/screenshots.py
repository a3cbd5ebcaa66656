#!/usr/bin/env python3
"""Regenerate the README's screenshots from the real-browser tests.

    python scripts/screenshots.py

Runs the quick-start notebook tests of ``tests/browser/test_notebooks_in_browser.py`` (JupyterLab 4 and
Notebook 7, headless chromium, the scripted model) with ``LSW_SCREENSHOTS=1``, which makes them write:

* ``docs/screenshots/quick-start-light.png``: the quick start's widget in JupyterLab, light theme;
* ``docs/screenshots/quick-start-dark.png``: the same, JupyterLab Dark;
* ``docs/screenshots/notebook7.png``: the quick start in Notebook 7.

Needs what the browser tests need: the built bundle (``npm run build``), chromium at /usr/bin/chromium,
Python playwright, jupyterlab and notebook. Exits non-zero if a test fails or a picture is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
PICTURES = ["quick-start-light.png", "quick-start-dark.png", "notebook7.png"]


def main() -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAZYSTREAM_", "OPENAI_"))}
    env["LSW_SCREENSHOTS"] = "1"
    started = time.time()
    cmd = [
        sys.executable, "-m", "pytest", "tests/browser/test_notebooks_in_browser.py",
        "-k", "01-quick-start", "-p", "no:cacheprovider", "-q", "-rfEs", "-s",
    ]  # fmt: skip
    code = subprocess.call(cmd, cwd=REPO, env=env)
    if code != 0:
        print(f"screenshots: the browser tests failed (exit {code})", file=sys.stderr)
        return code
    stale = [p for p in PICTURES if not (OUT / p).exists() or (OUT / p).stat().st_mtime < started]
    if stale:
        print(f"screenshots: not written: {', '.join(stale)} (were the tests skipped?)", file=sys.stderr)
        return 1
    for p in PICTURES:
        print(f"screenshots: {OUT / p} ({(OUT / p).stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
