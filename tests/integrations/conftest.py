"""Set-up of the integration tests (real LazyLLM 1.4.0, OpenTelemetry, OpenInference producers).

LazyLLM reads its configuration (home directory, API keys) from the environment when it is
imported, so both are set here, before any test module imports it: its home (SQLite queue,
agent workspace) goes to a temporary directory removed at the end of the session.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from .cpython_ast_guard import install as _serialise_ast_parse_on_affected_pythons

# LazyLLM's tool sandbox parses in parallel threads: see cpython_ast_guard.py (an interpreter bug, not ours).
_serialise_ast_parse_on_affected_pythons()

_LAZYLLM_HOME = tempfile.mkdtemp(prefix="lazystream-test-lazyllm-home-")
atexit.register(shutil.rmtree, _LAZYLLM_HOME, True)
os.environ["LAZYLLM_HOME"] = _LAZYLLM_HOME
# LazyLLM's OnlineChatModule(source="openai") takes its key from here; the scripted server accepts any key.
os.environ["LAZYLLM_OPENAI_API_KEY"] = "sk-scripted-test-key"
