"""A queue home that cannot be used: the error names LAZYSTREAM_HOME, says what to do, and has a short traceback.

Before, a read-only or unwritable queue home surfaced as a raw ``PermissionError`` from deep inside the file backend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import lazystream_widget as lsw

NOBODY = 65534

# Loads every module an enqueue needs while it can (as root the interpreter's own files may be unreadable to
# another user), then becomes that user and tries to use the home it was given.
_CHILD = """
import json, os, sys, tempfile, traceback
import lazystream_widget as lsw
from lazystream_widget.runtime import session as session_mod
uid, home = int(sys.argv[1]), sys.argv[2]
warm = tempfile.mkdtemp()
os.environ["LAZYSTREAM_HOME"] = warm + "/home"
with lsw.session():
    lsw.FileSystemQueue().enqueue("warm-up")
    lsw.FileSystemQueue().dequeue()
session_mod.set_backend(None)
os.environ["LAZYSTREAM_HOME"] = home
if uid >= 0:
    os.setgid(uid)
    os.setuid(uid)
try:
    lsw.FileSystemQueue().enqueue("x")
    print(json.dumps({"raised": None}))
except Exception as exc:
    frames = [f"{os.path.basename(f.filename)}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    print(json.dumps({"raised": type(exc).__name__, "message": str(exc), "frames": frames}))
"""


@pytest.fixture
def reachable_dir():
    """A directory another user can traverse (tmp_path is private to its owner), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="lsw-home-test-"))
    base.chmod(0o755)
    yield base
    for p in [base, *base.rglob("*")]:
        try:
            p.chmod(0o700)
        except OSError:
            pass
    shutil.rmtree(base, ignore_errors=True)


def _try_as_user(home: Path) -> dict:
    uid = NOBODY if os.geteuid() == 0 else -1  # root ignores modes: become another user to meet them
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAZYSTREAM_")}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(uid), str(home)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_clear(result: dict, home: Path, what: str) -> None:
    assert result["raised"] == "QueueHomeError", result
    message = result["message"]
    assert what in message and str(home) in message, message
    assert "set LAZYSTREAM_HOME to a private directory of your own that you can write" in message
    # raised from the user's call: its own line, then the queue method; none of the backend's frames
    assert result["frames"] == ["<string>:<module>", "queue.py:enqueue"], result["frames"]


def test_a_read_only_queue_home_names_lazystream_home(reachable_dir: Path) -> None:
    home = reachable_dir / "home"
    home.mkdir(mode=0o500)
    if os.geteuid() == 0:
        os.chown(home, NOBODY, NOBODY)
    result = _try_as_user(home)
    _assert_clear(result, home, "Permission denied")


def test_a_queue_home_that_cannot_be_created_names_lazystream_home(reachable_dir: Path) -> None:
    parent = reachable_dir / "not-mine"
    parent.mkdir(mode=0o555)
    home = parent / "home"
    result = _try_as_user(home)
    _assert_clear(result, home, "cannot create the queue home")


def test_a_queue_home_that_is_a_file_names_lazystream_home(queue_home: Path) -> None:
    from lazystream_widget.runtime.filestore import QueueHomeError

    queue_home.write_text("not a directory")
    with pytest.raises(QueueHomeError, match="not a directory.*LAZYSTREAM_HOME") as info:
        lsw.FileSystemQueue().enqueue("x")
    assert info.value.full_traceback is not None, "the library's frames stay reachable"
    assert queue_home.read_text() == "not a directory"
