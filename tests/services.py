"""Suites that need a service installed from apt (chromium, redis-server).

Each has a marker and a flag: ``--no-browser`` / ``--no-redis`` skip its tests (reported as skipped, for
machines without root); without the flag, a missing service *fails* with a message naming the flag, so a
green run never hides a suite that did not run. CI installs everything and passes no flag.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: marker -> (flag that skips its tests, what it needs and how to install it)
SERVICE_MARKERS = {
    "browser": ("--no-browser", "chromium (apt-get install chromium)"),
    "redis": ("--no-redis", "redis-server (apt-get install redis-server)"),
}


def chromium_path() -> str:
    return os.environ.get("LSW_CHROMIUM", "/usr/bin/chromium")


#: marker -> () -> (available, detail)
SERVICE_CHECKS = {
    "browser": lambda: (Path(chromium_path()).exists(), f"no chromium at {chromium_path()}"),
    "redis": lambda: (shutil.which("redis-server") is not None, "no redis-server on PATH"),
}


def check_item(item: pytest.Item) -> None:
    """Before a test of a service marker runs: fail it if the service is missing (see the module docstring)."""
    for marker, check in SERVICE_CHECKS.items():
        if item.get_closest_marker(marker):
            available, detail = check()
            require_service(marker, available, detail)


def require_service(marker: str, available: bool, detail: str = "") -> None:
    """Fail the test when the service of ``marker`` is missing, naming the flag that skips such tests."""
    if available:
        return
    flag, need = SERVICE_MARKERS[marker]
    name = need.split(" (")[0]
    pytest.fail(f"{name} is missing{': ' + detail if detail else ''}. Install {need}, or skip these tests "
                f"with {flag} (bash scripts/test {flag})", pytrace=False)
