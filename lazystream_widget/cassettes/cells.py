"""Which notebook cell execution the current code belongs to (to re-record a cell that runs again).

JupyterLab and Notebook 7 send each execute request with the cell's id in its metadata
(``cellId``); ipykernel keeps the request as the *parent* of the code it runs, in a context
variable that our runs copy from the cell that started them. Outside such a kernel (a script,
nbclient, a front end that sends no cell id) there is no cell: ``None``.
"""

from __future__ import annotations

import sys


def cell_execution() -> tuple[str, str] | None:
    """``(cell id, id of this execution of it)`` of the notebook cell running now, or None."""
    ipython = sys.modules.get("IPython")
    if ipython is None:  # never import IPython for this
        return None
    try:
        shell = ipython.get_ipython()
        kernel = getattr(shell, "kernel", None)
        parent = kernel.get_parent() if kernel is not None else None
    except Exception:  # an unusual shell or kernel: no cell, nothing breaks
        return None
    if not isinstance(parent, dict):
        return None
    cell = (parent.get("metadata") or {}).get("cellId")
    execution = (parent.get("header") or {}).get("msg_id")
    return (str(cell), str(execution)) if cell and execution else None
