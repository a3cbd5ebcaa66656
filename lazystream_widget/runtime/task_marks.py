"""What a task of our executor wrote: (session id, queue) -> "read up to here" mark.

Set by our executor around a task (``runtime/pool.py``), which waits at the task's end until a
reader consumed up to each mark. A mark is a position, or a callable giving it (an appender's
``end``: resolved once, when the task ends, instead of once per item). Shared (the same dict)
with the pool work the task submits, so nested writes count too. Its own module so the queue's
appender (``log_appender.py``, below ``queue.py``) notes marks itself.
"""

from __future__ import annotations

import contextvars
from typing import Callable

written: contextvars.ContextVar[dict[tuple[str, str], int | Callable[[], int]] | None] = contextvars.ContextVar(
    "lazystream_written", default=None
)
