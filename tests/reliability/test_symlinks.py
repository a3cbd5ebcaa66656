"""Symbolic links inside the queue home are never followed (finding 5 of the second review).

Before, ``O_NOFOLLOW`` guarded only the last path component: replacing ``sessions/<id>/q`` with a link made
``enqueue`` write into an outside directory, and a planted ``sessions/<id>`` link got the lock, offset and log files
created through it (and left there by ``delete_session``). Now every component below the home is opened relative to
its parent's descriptor with ``O_NOFOLLOW``; a link is refused with ``QueueHomeError`` and nothing outside is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import lazystream_widget as lsw
from lazystream_widget.runtime.queue import FileSystemQueue
from lazystream_widget.runtime.session import get_backend


def _outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    out.mkdir()
    (out / "keep").write_text("untouched")
    return out


def _untouched(out: Path) -> None:
    assert sorted(p.name for p in out.iterdir()) == ["keep"], "something was created outside the queue home"
    assert (out / "keep").read_text() == "untouched"


def _error_type():
    from lazystream_widget.runtime.filestore import QueueHomeError

    return QueueHomeError


def test_a_q_directory_replaced_by_a_link_is_refused(queue_home: Path, tmp_path: Path) -> None:
    out = _outside(tmp_path)
    with lsw.session() as s:
        q = queue_home / "sessions" / s.id / "q"
        os.rmdir(q)
        q.symlink_to(out)
        with pytest.raises(_error_type(), match="symbolic link"):
            FileSystemQueue().enqueue("must not leave the home")
    _untouched(out)
    assert not (queue_home / "sessions" / s.id).exists(), "closing the session removed the link too"


def test_a_planted_session_link_is_refused_and_nothing_is_created_through_it(queue_home: Path,
                                                                              tmp_path: Path) -> None:
    out = _outside(tmp_path)
    (out / "q").mkdir()  # looks like a session to a careless reader
    with lsw.session():  # makes the home
        pass
    sid = "ab" * 16
    (queue_home / "sessions" / sid).symlink_to(out)
    with pytest.raises(_error_type(), match="symbolic link"):
        with lsw.session(sid):  # attaching by id, as a producer in another process would
            FileSystemQueue().enqueue("x")
    with pytest.raises(_error_type()):
        get_backend().watcher(sid)
    get_backend().delete_session(sid)
    assert not (queue_home / "sessions" / sid).is_symlink(), "delete_session removes the link itself"
    assert sorted(p.name for p in out.iterdir()) == ["keep", "q"] and not list((out / "q").iterdir())


@pytest.mark.parametrize("name", ["lazy_answer.off", "lazy_answer.lock", "q/lazy_answer.log", "seq"])
def test_a_queue_file_replaced_by_a_link_is_refused(queue_home: Path, tmp_path: Path, name: str) -> None:
    from lazystream_widget.runtime.trace import span

    out = _outside(tmp_path)
    with lsw.session() as s:
        (queue_home / "sessions" / s.id / name).symlink_to(out / "keep")
        with pytest.raises(_error_type(), match="symbolic link"):
            q = FileSystemQueue()
            q.enqueue("x")
            q.dequeue()
            get_backend().append_numbered(s.id, "lazy_trace", lambda n: b"{}")
        if name == "seq":
            with span("traced work", "module"):  # tracing never breaks the traced work, even here
                pass
    _untouched(out)


def test_a_sessions_directory_that_is_a_link_is_refused(queue_home: Path, tmp_path: Path) -> None:
    out = _outside(tmp_path)
    queue_home.mkdir(mode=0o700)
    (queue_home / "sessions").symlink_to(out)
    with pytest.raises(_error_type(), match="symbolic link"):
        lsw.new_session()
    _untouched(out)


def test_a_planted_fifo_is_refused_without_hanging(queue_home: Path) -> None:
    with lsw.session() as s:
        os.mkfifo(queue_home / "sessions" / s.id / "lazy_answer.off", 0o600)
        FileSystemQueue().enqueue("x")  # writers never open the position file
        with pytest.raises(_error_type(), match="not a regular file"):
            FileSystemQueue().dequeue()


def test_the_sweep_removes_a_planted_link_and_never_its_target(queue_home: Path, tmp_path: Path) -> None:
    out = _outside(tmp_path)
    with lsw.session():
        pass
    sid = "cd" * 16
    (queue_home / "sessions" / sid).symlink_to(out)
    assert sid in get_backend().sweep()
    assert not (queue_home / "sessions" / sid).is_symlink()
    _untouched(out)
