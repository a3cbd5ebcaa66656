"""frontends.py without a browser: the catch-up bookkeeping marimo needs, and how a view shows itself.

(The real marimo behaviour is tested in tests/browser/test_marimo.py.)
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from lazystream_widget.frontends import CatchUp, in_marimo
from lazystream_widget.runner import Run


def test_state_as_sent_cuts_a_running_run_to_what_the_messages_carried() -> None:
    release = threading.Event()

    def module(q: str) -> str:
        from lazystream_widget import FileSystemQueue

        for word in ("one ", "two ", "three"):
            FileSystemQueue().enqueue(word)
        release.wait(30)
        return "done"

    run = Run(module, "q").start()
    deadline = time.monotonic() + 10
    while run.text != "one two three" and time.monotonic() < deadline:
        time.sleep(0.01)
    catch_up = CatchUp(lambda: None)
    catch_up.record({"type": "run_start", "mseq": 1, "run": {"id": run.id}})
    catch_up.record({"type": "delta", "mseq": 2, "run": run.id, "text": "one "})
    state = catch_up.state_as_sent(run)
    assert state["status"] == "running" and state["text"] == "one " and state["entries"] == []
    catch_up.browser_is_listening()
    release.set()
    run.wait(30)
    assert catch_up.state_as_sent(run)["text"] == "one two three"  # an ended run is whole


def test_refreshes_follow_messages_at_growing_intervals_and_stop_once_the_browser_listens() -> None:
    fired: list[float] = []
    catch_up = CatchUp(lambda: fired.append(time.monotonic()))
    t0 = time.monotonic()
    catch_up.record({"type": "delta", "mseq": 1, "run": "r", "text": "a"})
    catch_up.record({"type": "delta", "mseq": 2, "run": "r", "text": "b"})  # one refresh covers both
    deadline = time.monotonic() + 5
    while not fired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fired) == 1 and fired[0] - t0 >= 0.2
    catch_up.record({"type": "delta", "mseq": 3, "run": "r", "text": "c"})  # next one after 0.5 s
    catch_up.browser_is_listening()  # ...which never comes
    time.sleep(0.8)
    assert len(fired) == 1
    catch_up.record({"type": "delta", "mseq": 4, "run": "r", "text": "d"})
    time.sleep(0.6)
    assert len(fired) == 1


def test_outside_marimo_nothing_of_marimo_is_imported(child_env) -> None:
    code = "import lazystream_widget.frontends as f, sys; print(f.in_marimo(), 'marimo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
    assert in_marimo() is False
