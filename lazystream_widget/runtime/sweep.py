"""Who owns a session directory, and whether it may be swept.

A session's ``owner`` file holds the pid and kernel start time of the process that
created it, so a reused pid is told apart. The sweep deletes a session when

* its owner process is dead, or
* it has no owner file, or one that cannot be read (a crash between making the
  directory and writing the file, a damaged file, a directory planted by hand),

and in both cases its files have not changed for ``STALE_SESSION_AFTER_S``. A live
owner's session is never swept, however old.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name is in parentheses and may contain spaces: split after the last ')'
    fields = data[data.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    if start is not None and os.path.exists("/proc"):
        return process_start_time(pid) == start
    return True


def owner_record() -> bytes:
    """The ``owner`` file of a session this process creates."""
    pid = os.getpid()
    return json.dumps({"pid": pid, "start": process_start_time(pid), "created": time.time()}).encode()


def parse_owner(raw: bytes) -> dict[str, Any] | None:
    """The owner record, or None if it is not one (damaged, empty, foreign)."""
    try:
        owner = json.loads(raw)
        if isinstance(owner, dict) and isinstance(owner.get("pid"), int) and owner["pid"] > 0:
            start = owner.get("start")
            if start is None or isinstance(start, str):
                return owner
    except (ValueError, RecursionError):
        pass
    return None


def owner_alive(owner: dict[str, Any] | None) -> bool:
    return owner is not None and pid_alive(owner["pid"], owner.get("start"))


def sweep_sessions(sessions_fd: int, sessions_dir: str, older_than: float) -> list[str]:
    """Delete the stale sessions under the open ``sessions`` directory; return their ids."""
    from .homedir import remove_tree
    from .session import SESSION_ID_RE

    removed: list[str] = []
    now = time.time()
    for entry in os.scandir(sessions_fd):
        name = entry.name
        if not SESSION_ID_RE.fullmatch(name):
            continue  # not ours to judge
        if entry.is_symlink():
            remove_tree(sessions_fd, name)  # a planted link: removes the link, never its target
            removed.append(name)
            continue
        newest = _stale_since(sessions_fd, os.path.join(sessions_dir, name), name)
        if newest is not None and now - newest >= older_than:
            remove_tree(sessions_fd, name)
            removed.append(name)
    return removed


def _stale_since(sessions_fd: int, shown: str, name: str) -> float | None:
    """mtime of the newest file of a session with no live owner; None if it has one (or is not a session)."""
    from .homedir import QueueHomeError, open_dir, read_file

    try:
        sfd = open_dir(sessions_fd, name, shown, create=False)
    except (OSError, QueueHomeError):
        return None
    try:
        try:
            owner = parse_owner(read_file(sfd, "owner"))
        except OSError:
            owner = None  # no owner file, or not a regular one: judged by age alone
        if owner_alive(owner):
            return None
        return _newest_mtime(sfd)
    finally:
        os.close(sfd)


def _newest_mtime(sfd: int) -> float:
    newest = os.fstat(sfd).st_mtime
    for entry in os.scandir(sfd):
        try:
            newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except OSError:
            continue
        if entry.name == "q" and entry.is_dir(follow_symlinks=False):
            try:
                qfd = os.open("q", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
            except OSError:
                continue
            try:
                for inner in os.scandir(qfd):
                    try:
                        newest = max(newest, inner.stat(follow_symlinks=False).st_mtime)
                    except OSError:
                        continue
            finally:
                os.close(qfd)
    return newest
