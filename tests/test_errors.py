"""Errors a user can act on: a failed run raises its own exception into the caller with a short traceback.

The exception object is the run's own (same type, message and attributes); its traceback keeps only the
user's frames; a chain that is library plumbing is detached from the display; the full traceback stays on
``run.traceback`` and in the widget state. The last test runs a real kernel and measures the cell.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import traceback

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.runner import Run
from lazystream_widget.tracebacks import is_user_frame

THIS_FILE = __file__


def _refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _frames(exc: BaseException) -> list[tuple[str, str]]:
    """The frames a user is shown. Python >= 3.11: every frame of the traceback (the library leaves none, not
    even the one that raised). 3.10 keeps the library's frames, hidden from IPython and pytest by
    ``__tracebackhide__`` except the last (tracebacks.py, "No library frame either")."""
    entries = list(traceback.walk_tb(exc.__traceback__))
    if sys.version_info >= (3, 11):
        return [(frame.f_code.co_filename, frame.f_code.co_name) for frame, _ in entries]
    return [(frame.f_code.co_filename, frame.f_code.co_name) for i, (frame, _) in enumerate(entries)
            if not frame.f_locals.get("__tracebackhide__") or i == len(entries) - 1]


NO_LIBRARY_FRAME = pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10's bare raise keeps library frames")


@NO_LIBRARY_FRAME
def test_a_wrong_base_url_raises_the_library_message_with_a_short_traceback() -> None:
    llm = lazyllm.OnlineChatModule(stream=True, base_url=_refused_url(), max_retries=0)
    run = Run(llm, "hi").start()
    with pytest.raises(lazyllm.ModelError) as info:
        run.wait(30)
    exc = info.value
    assert exc is run.error  # the run's own exception object
    message = str(exc)
    assert "cannot reach the model at http://127.0.0.1:" in message
    assert ".." not in message, message  # was "Connection error.. Is the server running"
    # only this test's frame: no pool, module, chat, openai or httpx frames, nor the one that re-raised
    frames = _frames(exc)
    assert [name for _, name in frames] == [
        "test_a_wrong_base_url_raises_the_library_message_with_a_short_traceback"], frames
    assert exc.__cause__ is None and exc.__suppress_context__  # the plumbing chain is not displayed...
    printed = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))  # plain Python shows all
    assert printed.count("Traceback (most recent call last)") == 1 and len(printed.splitlines()) < 15, printed
    # ...but nothing is lost: the full story, chain included, is on the run and in the widget state
    full = run.traceback
    assert full is not None and "APIConnectionError" in full and "The above exception was the direct cause" in full
    assert "lazystream_widget/runtime/chat.py" in full
    assert run.state()["error"]["type"] == "ModelError"
    assert "APIConnectionError" in run.state()["error"]["detail"]


def test_the_users_own_frames_and_chain_are_kept() -> None:
    def lookup(city: str) -> str:
        table = {"Paris": "22 C"}
        try:
            return table[city]
        except KeyError as exc:
            raise ValueError(f"no weather for {city}") from exc

    def my_module(query: str) -> str:
        return lookup(query)

    run = Run(my_module, "Atlantis").start()
    with pytest.raises(ValueError, match="no weather for Atlantis") as info:
        run.wait(30)
    names = [name for _, name in _frames(info.value)]
    assert names[0] == "test_the_users_own_frames_and_chain_are_kept" and "my_module" in names and "lookup" in names
    assert all(is_user_frame(f) for f, _ in _frames(info.value)) or sys.version_info < (3, 11)
    cause = info.value.__cause__
    assert isinstance(cause, KeyError)  # the user's own chain stays (it holds their code)
    assert [name for _, name in _frames(cause)] == ["lookup"]


def test_raising_again_returns_the_same_object_without_growing_the_traceback() -> None:
    def fails(_q: str) -> str:
        raise RuntimeError("nope")

    run = Run(fails, "q").start()
    seen: dict[str, list[int]] = {}
    for path, get in [("wait", lambda: run.wait(30)), ("result", lambda: run.result),
                      ("await", lambda: asyncio.run(_await(run)))] * 2:
        with pytest.raises(RuntimeError) as info:
            get()
        assert info.value is run.error
        files = [f for f, _ in _frames(info.value)]
        # the worker's frames (pool, thread) never come back, however often the error is raised
        assert not any("concurrent/futures/thread.py" in f or "/runtime/pool.py" in f for f in files), files
        seen.setdefault(path, []).append(len(files))
    for path, depths in seen.items():
        assert depths[0] == depths[1], f"raising through {path} again grew the traceback: {depths}"


async def _await(run: Run) -> object:
    return await run


def test_a_wait_timeout_says_what_to_do() -> None:
    import threading

    release = threading.Event()
    run = Run(lambda q: release.wait(30), "q").start()
    try:
        expected = r"still running after 0.2 s.*run\.wait\(timeout=\.\.\.\).*run\.cancel\(\)"
        with pytest.raises(TimeoutError, match=expected):
            run.wait(0.2)
    finally:
        release.set()
        run.wait(30)


@NO_LIBRARY_FRAME
def test_a_stopped_run_raises_run_cancelled_from_the_callers_line_only() -> None:
    """Stop (``run.cancel``) while a caller waits: RunCancelled with the caller's frame and no library frame
    (the old re-raise frame said "the run failed in a worker thread", wrong for a Stop)."""
    import threading

    from lazystream_widget.runtime.cancel import RunCancelled, sleep

    def patient(q: str) -> str:
        sleep(30)  # a cancel interrupts it
        return "not stopped"

    run = Run(patient, "q").start()
    threading.Timer(0.3, run.cancel, ("stopped from the Stop button",)).start()
    with pytest.raises(RunCancelled) as info:
        run.wait(30)
    assert run.status == "cancelled"
    frames = _frames(info.value)
    assert all(is_user_frame(f) for f, _ in frames), frames
    assert frames[0][1] == "test_a_stopped_run_raises_run_cancelled_from_the_callers_line_only", frames
    printed = "".join(traceback.format_exception(info.value))
    assert "worker thread" not in printed and "/lazystream_widget/" not in printed, printed


@NO_LIBRARY_FRAME
def test_an_interrupt_while_waiting_shows_only_the_callers_line() -> None:
    """A kernel interrupt (KeyboardInterrupt in the main thread) during ``wait`` cancels the run; the traceback
    is the caller's line, not the ``concurrent.futures`` and ``threading`` frames the wait was blocked in."""
    import signal
    import threading

    release = threading.Event()
    run = Run(lambda q: release.wait(30), "q").start()
    # a real SIGINT, as the kernel sends: it wakes the blocked wait (interrupt_main() would not)
    timer = threading.Timer(0.3, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            run.wait(30)
    finally:
        timer.cancel()
        release.set()
    assert [name for _, name in _frames(info.value)] == [
        "test_an_interrupt_while_waiting_shows_only_the_callers_line"]
    assert run.status == "cancelled"


@NO_LIBRARY_FRAME
def test_a_script_using_the_console_gets_a_short_traceback(tmp_path, child_env) -> None:
    """Outside IPython ``__tracebackhide__`` means nothing: a script sees its own line, the error, and where the
    full traceback is, with no frame of the library's."""
    import subprocess

    script = tmp_path / "ask.py"
    script.write_text(
        "import lazystream_widget as lazyllm\n"
        f"llm = lazyllm.OnlineChatModule(stream=True, base_url={_refused_url()!r}, max_retries=0)\n"
        "lazyllm.StreamConsole(llm).ask('hi')\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env=child_env())
    assert proc.returncode == 1
    tb = proc.stderr
    assert tb.startswith("Traceback (most recent call last):"), tb
    assert f'File "{script}", line 3, in <module>' in tb
    assert "/lazystream_widget/" not in tb, tb
    assert "ModelError: cannot reach the model" in tb
    assert tb.rstrip().endswith("(the run's full traceback: run.traceback, e.g. console.last_run.traceback)"), tb


def test_user_frames_are_told_from_library_frames() -> None:
    import json

    import lazystream_widget.runner as runner

    assert is_user_frame(THIS_FILE)
    assert is_user_frame("<ipython-input-3-abc>") and is_user_frame("/tmp/ipykernel_12/3456.py")
    assert not is_user_frame(runner.__file__)
    assert not is_user_frame(json.__file__)
    assert not is_user_frame("<frozen importlib._bootstrap>")
    assert not is_user_frame("/venv/lib/python3.11/site-packages/openai/_base_client.py")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are Python 3.11+")
def test_the_trimmed_error_says_where_the_full_traceback_is() -> None:
    run = Run(lambda q: 1 / 0, "q").start()
    with pytest.raises(ZeroDivisionError) as info:
        run.wait(30)
    assert any("run.traceback" in note for note in info.value.__notes__)


def test_a_failed_cell_in_a_real_kernel_is_short(tmp_path, child_env) -> None:
    """The issue's case: ``ask(wait=True)`` on a wrong base_url in a notebook cell. IPython shows the cell's line
    and the library's message, a dozen lines instead of the 150 (about 7,000 px) of seven chained tracebacks."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import lazystream_widget as lazyllm\n"
        f"llm = lazyllm.OnlineChatModule(stream=True, base_url={_refused_url()!r}, max_retries=0)\n"
        "view = lazyllm.StreamView(llm)\n"
        "run = view.ask('hi', wait=True)"))
    nb.cells.append(nbformat.v4.new_code_cell(
        "print(type(view.last_run.error).__name__, len(view.last_run.traceback))"))
    client = nbclient.NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    import os

    env_before = dict(os.environ)
    os.environ.update(child_env())
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    error = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(error) == 1 and error[0].ename == "ModelError", nb.cells[0].outputs
    shown = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error[0].traceback))
    lines = shown.splitlines()
    assert len(lines) <= 20, shown
    assert "run = view.ask('hi', wait=True)" in shown and "cannot reach the model" in shown
    assert "httpx" not in shown and "openai/" not in shown and "The above exception" not in shown
    if sys.version_info >= (3, 11):  # not even the frame that re-raised (IPython always shows the last one)
        assert "/lazystream_widget/" not in shown and "raise_for_user" not in shown, shown
    out = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert out.startswith("ModelError ") and int(out.split()[1]) > 2000, out  # the full traceback is kept
