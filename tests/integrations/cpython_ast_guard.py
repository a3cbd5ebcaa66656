"""A guard for an interpreter bug that LazyLLM's tool sandbox runs into: ``ast.parse`` in two threads at once.

CPython before 3.11.8 (and 3.12.0-3.12.1) kept the AST constructor's recursion depth in interpreter-wide
state; when a garbage collection in the middle of one ``ast.parse`` lets another thread parse, the first
fails with ``SystemError: AST constructor recursion depth mismatch`` (CPython gh-106905, fixed by
python/cpython#113035). LazyLLM 1.4.0's default sandbox parses each tool call's code with ``ast.parse`` in
the call's own thread, so an agent that calls two tools at once (the seed's agent does) fails now and then
on such an interpreter with or without our widget: about 1 run in 4 on a loaded 2-core machine with
CPython 3.11.7.

The integration tests are about what the widget shows, not about that bug: on an affected interpreter they
call :func:`install` (in ``conftest.py``, and first thing in the processes and kernels they start), which
makes ``ast.parse`` take a process-wide lock. The sandbox, its threads and LazyLLM's code all stay real.
On a fixed interpreter ``install`` does nothing.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading
from typing import Any

AFFECTED = sys.version_info[:3] < (3, 11, 8) or (3, 12, 0) <= sys.version_info[:3] < (3, 12, 2)

_lock = threading.RLock()  # re-entrant: a finalizer run by the garbage collector may itself parse


def install() -> bool:
    """Serialise ``ast.parse`` on an affected interpreter (once); True if the guard is in place."""
    if not AFFECTED:
        return False
    if getattr(ast.parse, "_lazystream_serialised", False):
        return True
    parse = ast.parse

    @functools.wraps(parse)
    def serialised_parse(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return parse(*args, **kwargs)

    serialised_parse._lazystream_serialised = True  # type: ignore[attr-defined]
    ast.parse = serialised_parse
    return True
