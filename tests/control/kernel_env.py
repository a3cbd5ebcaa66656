"""Shared by the control tests: the environment of a real kernel that touches nothing of the user's."""

from __future__ import annotations

import os
from pathlib import Path


def isolated_kernel_env(home: Path, *, drop: tuple[str, ...] = ("LAZYSTREAM_", "OPENAI_", "JUPYTER_"),
                        **extra: str) -> dict[str, str]:
    """This process's environment without variables starting with ``drop``, with every home under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(LAZYSTREAM_HOME=str(home / "lazystream"), IPYTHONDIR=str(home / "ipython"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), PYTHONUNBUFFERED="1", **extra)
    return env
