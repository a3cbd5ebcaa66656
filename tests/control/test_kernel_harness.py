"""The kernel harness itself (``lazystream_widget.testing.kernel``): what the Stop and resync tests rely on."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from lazystream_widget.testing.kernel import WidgetKernel

pytest.importorskip("jupyter_client")


def test_an_answer_stamped_before_send_custom_returns_is_still_after_the_send_time() -> None:
    """On a busy machine the kernel's answer can reach the IOPub reader (and get its arrival stamp) before the
    sending thread runs again; ``customs(comm, since=send time)`` must still include it.

    The kernel client here answers *inside* ``send``, the extreme of that interleaving, deterministically
    (with a real kernel it happened in about 1 of 20 Stop tests under load: the reply was missed)."""
    from jupyter_client.session import Session

    harness = WidgetKernel.__new__(WidgetKernel)  # the message book-keeping only: no kernel process needed
    harness.messages, harness._lock = [], threading.Condition()

    def answer_at_once(msg: dict[str, Any]) -> None:
        time.sleep(0.002)  # the clock moves on between the request and its answer
        reply = {"msg_type": "comm_msg", "t": time.monotonic(), "parent_header": {},
                 "content": {"comm_id": "c1", "data": {"method": "custom", "content": {"type": "control_reply"}}}}
        with harness._lock:
            harness.messages.append(reply)

    harness.kc = SimpleNamespace(session=Session(), shell_channel=SimpleNamespace(send=answer_at_once))
    sent = harness.send_custom("c1", {"type": "cancel", "run": "r1"})
    assert [m["type"] for m in harness.customs("c1", sent)] == ["control_reply"]
