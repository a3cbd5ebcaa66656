"""Fixtures of the differential tests: LazyLLM's results for a test module's ``CASES``, computed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .harness import run_lazyllm


@pytest.fixture(scope="module")
def case_vars() -> dict[str, Any]:
    """Extra variables for every case of the module (a module overrides it, e.g. with a server's URL)."""
    return {}


@pytest.fixture(scope="module")
def lazyllm_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    case_vars: dict[str, Any]) -> dict[str, dict]:
    cases = request.module.CASES
    home: Path = tmp_path_factory.mktemp("lazyllm-side")
    return run_lazyllm(cases, home, case_vars)
