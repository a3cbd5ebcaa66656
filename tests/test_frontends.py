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


def test_a_view_in_a_plain_script_says_to_use_the_console(tmp_path, child_env) -> None:
    """A script has no notebook to show a widget in: one warning, at the user's line, naming StreamConsole."""
    script = tmp_path / "view.py"
    script.write_text("import lazystream_widget as lazyllm\n"
                      "view = lazyllm.StreamView(lambda q: q.upper())\n"
                      "print(view.ask('x', wait=True).result)\n"
                      "quiet = lazyllm.StreamView(lambda q: q, display=False)\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=child_env())
    assert proc.returncode == 0 and proc.stdout == "X\n", proc.stderr
    assert f"{script}:2: NotANotebookWarning: StreamView shows itself only in a notebook" in proc.stderr, proc.stderr
    assert "lazystream_widget.StreamConsole(module)" in proc.stderr
    assert proc.stderr.count("NotANotebookWarning") == 1  # display=False says nothing


def test_in_marimo_a_waiting_ask_says_how_to_stop_the_run(monkeypatch) -> None:
    """marimo reads the Stop button only between cells, and ask(wait=True) holds the cell until the run ends: the
    run's notice says so and names what works (marimo's interrupt). A view's ask without wait, or outside
    marimo, gets no such notice. (The real marimo page is driven by tests/browser/test_marimo.py.)"""
    import lazystream_widget.widget as widget_module
    from lazystream_widget import StreamView

    plain = StreamView(lambda q: q, display=False)
    assert plain.ask("x", wait=True).notices == []
    monkeypatch.setattr(widget_module, "in_marimo", lambda: True)  # the detection: marimo.running_in_notebook()
    view = StreamView(lambda q: q, display=False)
    waited = view.ask("x", wait=True)
    assert waited.notices == [widget_module.MARIMO_WAIT_NOTICE]
    assert "interrupt the cell" in waited.notices[0] and "Without wait=True, Stop works" in waited.notices[0]
    assert view.ask("y").wait(30) == "y" and view.last_run.notices == []
