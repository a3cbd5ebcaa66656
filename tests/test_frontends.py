"""frontends.py without a browser: when marimo catch-up refreshes happen, and that marimo is never imported.

(The real marimo behaviour is tested in tests/browser/test_marimo.py.)
"""

from __future__ import annotations

import subprocess
import sys
import time

from lazystream_widget.frontends import CatchUp, in_marimo


def test_refreshes_follow_messages_at_growing_intervals_and_stop_once_the_browser_listens() -> None:
    fired: list[float] = []
    catch_up = CatchUp(lambda: fired.append(time.monotonic()))
    t0 = time.monotonic()
    catch_up.message_sent()
    catch_up.message_sent()  # one refresh covers both
    deadline = time.monotonic() + 5
    while not fired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fired) == 1 and fired[0] - t0 >= 0.2
    catch_up.message_sent()  # the next one would come 0.5 s later...
    catch_up.browser_is_listening()  # ...which never comes
    time.sleep(0.8)
    assert len(fired) == 1
    catch_up.message_sent()
    time.sleep(0.6)
    assert len(fired) == 1


def test_outside_marimo_nothing_of_marimo_is_imported(child_env) -> None:
    code = "import lazystream_widget.frontends as f, sys; print(f.in_marimo(), 'marimo' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr
    assert in_marimo() is False
