"""Where a recording goes, and when it fails: an unwritable folder, a folder given as the path, a failed recording,
a cassette configured wrongly, and a notebook cell re-run to record a better answer (a real ipykernel)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import lazystream_widget as lazyllm
from lazystream_widget.cassettes import CassetteError, CassetteNotFoundError
from lazystream_widget.cassettes.activation import forget_opened
from lazystream_widget.cassettes.errors import CassetteFileError
from lazystream_widget.runner import Run
from lazystream_widget.testing import ScriptedServer

KEY = "sk-cassette-files-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def no_opened_cassettes() -> Iterator[None]:
    yield
    forget_opened()


@pytest.fixture
def make_read_only() -> Iterator[Any]:
    """``make_read_only(folder)``: nobody can create files in it, root included (chattr +i), until the test ends."""
    locked: list[Path] = []

    def lock(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # root ignores permission bits: make the folder immutable
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
                pytest.skip("as root, a read-only folder needs chattr +i (e2fsprogs, CAP_LINUX_IMMUTABLE)")
        else:
            folder.chmod(0o555)
        locked.append(folder)
        return folder

    yield lock
    for folder in locked:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        else:
            folder.chmod(0o755)


def llm(base_url: str) -> Any:
    return lazyllm.OnlineChatModule(base_url=base_url, api_key=KEY, model="m", stream=True)


def test_recording_into_a_folder_that_cannot_be_written_fails_when_the_cassette_is_opened(tmp_path, make_read_only):
    folder = make_read_only(tmp_path / "ro")
    with pytest.raises(CassetteFileError, match=r"cassette '.*ro/weather.json' cannot be recorded: the folder "
                                                r"'.*ro' is not writable \(PermissionError: .*\)\. Record it in"):
        lazyllm.cassette(folder / "weather.json")  # auto, no file: it would record
    with pytest.raises(CassetteFileError, match="cannot be recorded"):  # a folder still to be made, inside it
        lazyllm.cassette(folder / "sub" / "weather.json", mode="record")
    with pytest.raises(CassetteFileError, match="cannot be recorded"):  # ... and in configure(), at once
        lazyllm.configure(cassette=str(folder / "weather.json"), cassette_mode="record")
    assert lazyllm.configure()["cassette"] is None, "a failed configure() changes nothing"


def test_a_file_that_cannot_be_written_later_is_a_notice_on_the_run_and_an_error_at_the_end_of_the_block(
        tmp_path, make_read_only):
    folder = tmp_path / "later"
    with ScriptedServer(["Sunny."]) as server:
        with pytest.raises(CassetteFileError, match=r"could not be written \(PermissionError: .*\); nothing after"):
            with lazyllm.cassette(folder / "weather.json", "record") as cassette:
                make_read_only(folder)  # the folder was fine when the cassette was opened
                run = Run(llm(server.base_url), "weather?").start()
                assert run.wait(30) == "Sunny.", "the live answer is not lost"
    assert any("could not be written" in n and "this answer is not in the cassette" in n for n in run.notices), \
        run.notices
    assert cassette.write_error is not None and not (folder / "weather.json").exists()


def test_a_folder_as_the_path_and_bad_arguments_say_which_argument(tmp_path):
    (tmp_path / "cassettes").mkdir()
    with pytest.raises(CassetteFileError, match=r"cassette path '.*cassettes' is a folder; give the path of a "
                                                r"cassette file, e.g. '.*cassettes/weather.json'"):
        lazyllm.cassette(tmp_path / "cassettes", mode="replay")
    with pytest.raises(ValueError, match=r"cassette\(redact=\.\.\.\): '\(' is not a valid regular expression"):
        lazyllm.cassette(tmp_path / "x.json", redact=["("])
    with pytest.raises(TypeError, match="redact must be a list"):
        lazyllm.cassette(tmp_path / "x.json", redact="secret-[0-9]+")


def test_configure_opens_the_cassette_so_a_mistake_fails_in_that_call(tmp_path):
    missing = str(tmp_path / "missing.json")
    with pytest.raises(CassetteNotFoundError, match="missing.json' does not exist; replay mode needs it"):
        lazyllm.configure(cassette=missing, cassette_mode="replay")
    assert lazyllm.configure()["cassette"] is None and lazyllm.configure()["cassette_mode"] == "auto"
    lazyllm.configure(cassette_mode="replay")
    with pytest.raises(CassetteNotFoundError):  # the mode in force (set before) counts too
        lazyllm.configure(cassette=missing)
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(CassetteError, match="is not valid JSON"):
        lazyllm.configure(cassette=str(tmp_path / "garbage.json"))


def test_a_failed_recording_writes_nothing_and_the_next_auto_run_records(tmp_path):
    path = tmp_path / "first.json"
    with ScriptedServer(["It is sunny."]) as server:
        with pytest.raises(RuntimeError, match="the cell failed"):
            with lazyllm.cassette(path):  # auto: no file, so it records
                raise RuntimeError("the cell failed before any model call")
        assert not path.exists(), "an empty cassette would make the next auto run replay 'no recorded requests'"
        with lazyllm.cassette(path) as cassette:
            assert cassette.mode == "record"
            assert Run(llm(server.base_url), "weather?").start().wait(30) == "It is sunny."
    assert len(json.loads(path.read_text())["entries"]) == 1
    with lazyllm.cassette(tmp_path / "nothing.json"):
        pass  # a block that calls no model records exactly that
    assert json.loads((tmp_path / "nothing.json").read_text())["entries"] == []


NOTEBOOK_SETUP = """
import lazystream_widget as lazyllm
from lazystream_widget.runner import Run
from lazystream_widget.testing import ScriptedServer
server = ScriptedServer(["First answer (the author did not like it).", "Another question's answer.",
                         "Second answer (the good one)."]).start()
lazyllm.configure(cassette={path!r}, cassette_mode="record")
llm = lazyllm.OnlineChatModule(base_url=server.base_url, api_key={key!r}, model="m")
"""


def _execute(kc: Any, code: str, cell_id: str) -> dict[str, Any]:
    """Run ``code`` as JupyterLab runs a cell: an execute request whose metadata names the cell."""
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}
    msg = kc.session.msg("execute_request", content, metadata={"cellId": cell_id})
    kc.shell_channel.send(msg)
    while True:
        reply = kc.get_shell_msg(timeout=60)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            assert reply["content"]["status"] == "ok", reply["content"]
            return reply


def test_re_running_a_notebook_cell_records_its_new_answer_in_place_of_the_old_one(tmp_path):
    from jupyter_client.manager import start_new_kernel

    path = tmp_path / "lesson.json"
    env = {**os.environ, "LAZYSTREAM_HOME": str(tmp_path / "home")}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        _execute(kc, NOTEBOOK_SETUP.format(path=str(path), key=KEY), "setup")
        ask = 'print(Run(llm, "Tell me something").start().wait(30))'
        _execute(kc, ask, "ask")
        _execute(kc, 'print(Run(llm, "And another thing?").start().wait(30))', "other")
        _execute(kc, ask, "ask")  # the author re-runs the cell until the answer is right
        _execute(kc, "server.stop()", "teardown")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    entries = json.loads(path.read_text())["entries"]
    asked = [(e["run"], e["request"]["body"]["messages"][-1]["content"]) for e in entries]
    assert sorted(asked) == [(0, "Tell me something"), (1, "And another thing?")], asked
    # replayed elsewhere (a fresh process, no kernel, no server): the cell's last answer, in notebook order
    child = textwrap.dedent(f"""
        import lazystream_widget as lazyllm
        from lazystream_widget.runner import Run
        lazyllm.configure(cassette={str(path)!r}, cassette_mode="replay", cassette_speed=0)
        llm = lazyllm.OnlineChatModule(base_url="http://127.0.0.1:9/v1", model="m")
        print(Run(llm, "Tell me something").start().wait(30))
        print(Run(llm, "And another thing?").start().wait(30))
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120,
                         env={**env, "LAZYSTREAM_HOME": str(tmp_path / "home2")})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["Second answer (the good one).", "Another question's answer."]
