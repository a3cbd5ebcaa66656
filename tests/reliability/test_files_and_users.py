"""Files: private modes, unguessable session ids, validated names, and another local user who tries to read or inject.

The threat model (spec 2): another non-root local user. The test creates one (``useradd``), puts our queue home under a
directory that user can traverse, and runs code as that user (``runuser``): every attempt to list, read, append or
enqueue must fail with a permission error, and our queue must be unchanged. The protection must come from our own
0700 / 0600 modes, which a control file readable by others proves.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget.runner import Run
from lazystream_widget.runtime import session as session_mod
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.trace import span
from lazystream_widget.testing import Reply, ToolCall
from lazystream_widget.tools import FunctionCallAgent, fc_register

from .helpers import RecordingSink, child_env, run_child

# --------------------------------------------------------------------------- modes


def _modes(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Modes of every directory and file under ``root`` (tolerating files that vanish while we walk)."""
    dirs: dict[str, int] = {".": stat.S_IMODE(root.lstat().st_mode)}
    files: dict[str, int] = {}
    for top, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:  # removed while we walked (a run ending)
                continue
            (dirs if stat.S_ISDIR(st.st_mode) else files)[os.path.relpath(path, root)] = stat.S_IMODE(st.st_mode)
    return dirs, files


@fc_register("tool", name="rel_perm_tool")
def rel_perm_tool(n: int) -> str:
    """Returns n.

    Args:
        n (int): a number.
    """
    return str(n)


def test_every_directory_is_0700_and_every_file_0600_during_and_after_runs(queue_home: Path,
                                                                          scripted_server_factory, figures) -> None:
    old_umask = os.umask(0)  # the strictest case: nothing may rely on the umask
    try:
        server = scripted_server_factory([
            Reply(reasoning="hmm", text="Let me see. ", tool_calls=[ToolCall("rel_perm_tool", {"n": 1})]),
            Reply(reasoning="ok", text="It is 1. " * 50, delay=0.002)])
        agent = FunctionCallAgent(lsw.OnlineChatModule(base_url=server.base_url, api_key="t", stream=True),
                                  ["rel_perm_tool"])
        with lsw.session():  # one session that stays open, with every kind of queue file
            FileSystemQueue().enqueue("a")
            FileSystemQueue("lazy_think").enqueue("b")
            with span("s", "module"):
                pass
            FileSystemQueue().dequeue()
            run = Run(agent, "go").start(RecordingSink())
            seen_dirs: dict[str, int] = {}
            seen_files: dict[str, int] = {}
            while not run.done():  # sample while the run's files exist
                dirs, files = _modes(queue_home)
                seen_dirs.update(dirs)
                seen_files.update(files)
            run.wait(10)
            dirs, files = _modes(queue_home)
            seen_dirs.update(dirs)
            seen_files.update(files)
    finally:
        os.umask(old_umask)
    loose_dirs = {p: oct(m) for p, m in seen_dirs.items() if m != 0o700}
    loose_files = {p: oct(m) for p, m in seen_files.items() if m != 0o600}
    assert not loose_dirs and not loose_files, (loose_dirs, loose_files)
    kinds = {re.sub(r"[0-9a-f]{32}", "<sid>", p) for p in seen_files}
    for expected in ("sessions/<sid>/owner", "sessions/<sid>/seq", "sessions/<sid>/q/lazy_answer.log",
                     "sessions/<sid>/q/lazy_trace.log", "sessions/<sid>/q/lazy_think.log",
                     "sessions/<sid>/lazy_answer.off", "sessions/<sid>/lazy_answer.lock",
                     "sessions/<sid>/lazy_answer.reader"):
        assert expected in kinds, f"{expected} never seen: the check did not look at it"
    figures.add("files.modes", runs=1, files_checked=len(seen_files), dirs_checked=len(seen_dirs), loose=0)


def test_a_queue_home_made_by_someone_else_with_loose_modes_is_tightened(queue_home: Path) -> None:
    queue_home.mkdir(mode=0o755)
    (queue_home / "sessions").mkdir(mode=0o777)
    os.chmod(queue_home / "sessions", 0o777)
    with lsw.session():
        FileSystemQueue().enqueue("x")
    assert stat.S_IMODE(queue_home.stat().st_mode) == 0o700
    assert stat.S_IMODE((queue_home / "sessions").stat().st_mode) == 0o700


# --------------------------------------------------------------------------- session ids and names


def test_session_ids_are_32_random_hex_chars_and_never_repeat(queue_home: Path, figures) -> None:
    code = "import lazystream_widget as l\nfor _ in range(200):\n    s = l.new_session(); print(s.id); s.close()"
    ids = []
    for _ in range(3):  # three processes: ids do not depend on process state
        ids += run_child(code, child_env(queue_home)).stdout.split()
    for _ in range(200):
        s = lsw.new_session()
        ids.append(s.id)
        s.close()
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids) == 800
    # 128 random bits: every hex digit is used about equally (a weak check against a fixed or counter id)
    digits = "".join(ids)
    counts = [digits.count(c) for c in "0123456789abcdef"]
    assert min(counts) > len(digits) / 16 * 0.8
    figures.add("files.session_ids", ids_checked=len(ids), repeats=0)


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "a/b", "/abs", ".hidden", "-dash", "x.log", "", "a\x00b",
                                  "q" * 65, "ünï"])
def test_queue_names_that_could_escape_or_confuse_the_layout_are_refused(queue_home: Path, name: str) -> None:
    with lsw.session():
        before = sorted(p for p in queue_home.parent.rglob("*"))
        with pytest.raises(ValueError, match="invalid queue name"):
            FileSystemQueue(name).enqueue("x")
        with pytest.raises(ValueError):
            FileSystemQueue().get_instance(name)
        assert sorted(p for p in queue_home.parent.rglob("*")) == before, "something was created"


@pytest.mark.parametrize("sid", ["../x", "../" * 3 + "tmp", "A" * 32, "0" * 31, "0" * 33, "g" * 32, "", "0" * 31 + "/"])
def test_session_ids_from_outside_are_validated(queue_home: Path, sid: str) -> None:
    with pytest.raises(ValueError, match="invalid session id"):
        lsw.Session(sid)
    with pytest.raises(ValueError, match="invalid session id"):
        with lsw.session(sid):
            pass
    if sid:  # (an empty LAZYSTREAM_SESSION means unset)
        code = "import lazystream_widget as l; l.FileSystemQueue().enqueue('x')"
        proc = subprocess.run([sys.executable, "-c", code], env=child_env(queue_home, sid), capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode != 0 and "invalid session id" in proc.stderr
    assert not (queue_home.parent / "x").exists() and not (queue_home / "x").exists()


@pytest.mark.parametrize("name", ["../x", "a/b", "a b", "x" * 65, ""])
def test_tool_names_are_validated(name: str) -> None:
    from lazystream_widget.tools import ToolSchemaError

    def f(n: int) -> str:
        """Doc.

        Args:
            n (int): n.
        """
        return ""

    assert fc_register("tool", name=name)(f) is f  # registering never fails (LazyLLM's rule)...
    with pytest.raises(ToolSchemaError, match="is not valid"):
        FunctionCallAgent(lsw.OnlineChatModule(base_url="http://127.0.0.1:9/v1", model="m"), [name])  # ...using it does


# --------------------------------------------------------------------------- another local user

RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"


@pytest.fixture
def shared_home(monkeypatch: pytest.MonkeyPatch):
    """A queue home under a 0755 directory (so another user can reach it: only our modes protect it)."""
    parent = Path(tempfile.mkdtemp(prefix="lsw-rel-", dir="/tmp"))
    os.chmod(parent, 0o755)
    home = parent / "home"
    monkeypatch.setenv("LAZYSTREAM_HOME", str(home))
    session_mod.set_backend(None)
    try:
        yield parent, home
    finally:
        session_mod.set_backend(None)
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def other_user(shared_home):
    """A second, unprivileged local user created for the test (removed afterwards), and a Python it can run."""
    if os.geteuid() != 0:
        pytest.skip("creating a second local user needs root")
    if not (shutil.which("useradd") and shutil.which("userdel") and shutil.which("runuser")):
        pytest.skip("useradd, userdel and runuser are needed to test another local user")
    name = f"lsw_other_{secrets.token_hex(3)}"
    made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"useradd failed: {made.stderr.strip()}")
    try:
        parent, _ = shared_home
        # our interpreter may live under /root (0700): give the other user a Python it can run, with our package
        # and its one queue dependency readable (copies, in the shared 0755 directory)
        import filelock

        pylib = parent / "pylib"
        shutil.copytree(Path(filelock.__file__).parent, pylib / "filelock")
        shutil.copytree(Path(lsw.__file__).parent, pylib / "lazystream_widget",
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
        for path in [pylib, *pylib.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        python = None
        for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
            probe = subprocess.run([RUNUSER, "-u", name, "--", candidate, "-c",
                                    "import sys; assert sys.version_info >= (3, 10); import lazystream_widget"],
                                   env={"PYTHONPATH": str(pylib), "PATH": "/usr/bin:/bin"}, capture_output=True)
            if probe.returncode == 0:
                python = candidate
                break
        if python is None:
            pytest.skip("no Python >= 3.10 the second user can run")
        yield name, python, pylib
    finally:
        subprocess.run(["userdel", name], capture_output=True)


_ATTACK = r'''
import json, os, sys
home, sid = sys.argv[1], sys.argv[2]
sdir = os.path.join(home, "sessions", sid)
attempts = {
    "list home": lambda: os.listdir(home),
    "list sessions": lambda: os.listdir(os.path.join(home, "sessions")),
    "list session": lambda: os.listdir(sdir),
    "read answer log": lambda: open(os.path.join(sdir, "q", "lazy_answer.log"), "rb").read(),
    "read trace log": lambda: open(os.path.join(sdir, "q", "lazy_trace.log"), "rb").read(),
    "append answer log": lambda: open(os.path.join(sdir, "q", "lazy_answer.log"), "ab").write(b"INJECTED"),
    "rewrite read offset": lambda: open(os.path.join(sdir, "lazy_answer.off"), "r+b").write(b"\0" * 8),
    "take the seq lock": lambda: open(os.path.join(sdir, "seq"), "r+b"),
    "create a queue file": lambda: open(os.path.join(sdir, "q", "evil.log"), "xb"),
    "plant a session": lambda: os.mkdir(os.path.join(home, "sessions", "f" * 32)),
}
def enqueue():
    import lazystream_widget as lazyllm        # LAZYSTREAM_HOME / LAZYSTREAM_SESSION point at our session
    lazyllm.FileSystemQueue().enqueue("INJECTED")
def dequeue():
    import lazystream_widget as lazyllm
    return lazyllm.FileSystemQueue().dequeue()
def trace():
    from lazystream_widget.runtime.trace import start_span
    from lazystream_widget.runtime.session import get_backend
    get_backend().append_numbered(sid, "lazy_trace", lambda seq: b"INJECTED")
attempts.update({"enqueue via the API": enqueue, "dequeue via the API": dequeue, "trace via the API": trace})
results = {}
for what, attempt in attempts.items():
    try:
        attempt()
        results[what] = "ALLOWED"
    except PermissionError as exc:
        results[what] = "denied"
    except Exception as exc:
        results[what] = f"{type(exc).__name__}: {exc}"
print(json.dumps(results))
'''


def _as_other(user: str, python: str, pylib: Path, code: str, *args: str, env: dict | None = None):
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pylib), **(env or {})}
    return subprocess.run([RUNUSER, "-u", user, "--", python, "-c", code, *args], env=base, capture_output=True,
                          text=True, timeout=60)


def _attack(user, python, pylib, home: Path, sid: str) -> dict[str, str]:
    proc = _as_other(user, python, pylib, _ATTACK, str(home), sid,
                     env={"LAZYSTREAM_HOME": str(home), "LAZYSTREAM_SESSION": sid})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_another_local_user_can_neither_read_nor_inject(other_user, shared_home, figures) -> None:
    user, python, pylib = other_user
    parent, home = shared_home
    control = parent / "control.txt"
    control.write_text("readable by others")
    os.chmod(control, 0o644)
    seen = _as_other(user, python, pylib, "import sys; print(open(sys.argv[1]).read())", str(control))
    assert seen.stdout.strip() == "readable by others", "the test cannot reach the shared directory as that user"

    with lsw.session() as s:
        q = FileSystemQueue()
        q.enqueue("secret answer")
        with span("secret span", "module"):
            pass
        q.dequeue()  # creates the read offset
        q.enqueue("secret answer 2")
        before = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
        results = _attack(user, python, pylib, home, s.id)
        assert results and all(r == "denied" for r in results.values()), results
        after = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
        assert after == before, "our files changed"
        assert q.dequeue() == ["secret answer 2"]
        entries = [json.loads(e) for e in FileSystemQueue("lazy_trace").dequeue()]
        assert [e["name"] for e in entries] == ["secret span", "secret span"]
    figures.add("files.other_user", attempts=len(results), denied=len(results), allowed=0)


def test_the_file_modes_alone_stop_another_user_if_the_directories_were_opened(other_user, shared_home) -> None:
    """Defence in depth: even with every directory made traversable (0711), the 0600 files stay private."""
    user, python, pylib = other_user
    _, home = shared_home
    with lsw.session() as s:
        q = FileSystemQueue()
        q.enqueue("secret")
        with span("x", "module"):
            pass
        q.dequeue()
        q.enqueue("secret 2")
        sdir = home / "sessions" / s.id
        opened = [home, home / "sessions", sdir, sdir / "q"]
        with contextlib.ExitStack() as restore:
            for d in opened:
                os.chmod(d, 0o711)
                restore.callback(os.chmod, d, 0o700)
            results = _attack(user, python, pylib, home, s.id)
        file_attacks = ["read answer log", "read trace log", "append answer log", "rewrite read offset",
                        "take the seq lock", "create a queue file", "enqueue via the API", "trace via the API"]
        assert {k: results[k] for k in file_attacks} == dict.fromkeys(file_attacks, "denied"), results
        assert q.dequeue() == ["secret 2"]
