"""The queue home on disk: where it is, and opening what is inside it without following links.

Everything below the home is opened relative to a descriptor of its parent directory with
``O_NOFOLLOW`` (``openat``), so a symbolic link planted anywhere inside (``sessions``,
``sessions/<id>``, ``sessions/<id>/q`` or a file) is refused with :class:`QueueHomeError`
instead of being followed to somewhere else. Each directory opened is checked to be ours
and private (0700, tightened when it is ours but loose). The home itself must be a real
directory owned by us; the directories *above* it are the user's choice and may be links.

Errors that come from the home (cannot be created, not writable, not ours, a link) name
``LAZYSTREAM_HOME`` and say what to do.
"""

from __future__ import annotations

import errno
import os
import stat

HOME_ENV = "LAZYSTREAM_HOME"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
# O_NONBLOCK: opening a planted FIFO must not hang us (it is then refused); regular files ignore the flag
_FILE_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK


class QueueHomeError(PermissionError):
    """The queue home (or something inside it) is unusable or not private to this user: refusing to use it."""


def default_home() -> str:
    home = os.environ.get(HOME_ENV)
    if home:
        return os.path.abspath(os.path.expanduser(home))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "lazystream")


_FIX = f"set {HOME_ENV} to a private directory of your own that you can write (it is created if missing)"


def open_home(home: str) -> int:
    """A descriptor of the queue home, created 0700 if missing; checked to be a private directory of ours."""
    try:
        os.makedirs(home, mode=0o700, exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling link where the home should be: reported below
    except OSError as exc:
        raise QueueHomeError(
            f"cannot create the queue home {home}: {exc.strerror or exc}; {_FIX}"
        ) from None
    try:
        fd = os.open(home, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise QueueHomeError(
                f"queue home {home} is not a directory (a symlink or a file?); remove it or {_FIX}"
            ) from None
        raise QueueHomeError(f"cannot open the queue home {home}: {exc.strerror or exc}; {_FIX}") from None
    try:
        _check_private(fd, home, is_home=True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_private(fd: int, shown: str, *, is_home: bool = False) -> None:
    st = os.fstat(fd)
    if st.st_uid != os.geteuid():
        fix = _FIX if is_home else f"remove it, or {_FIX}"
        raise QueueHomeError(
            f"queue {'home' if is_home else 'directory'} {shown} belongs to uid {st.st_uid}, not to you "
            f"(uid {os.geteuid()}); {fix}"
        )
    if st.st_mode & 0o077:
        try:
            os.fchmod(fd, 0o700)  # ours but readable by others: tighten it rather than leak
        except OSError as exc:
            raise QueueHomeError(
                f"queue {'home' if is_home else 'directory'} {shown} is readable by others and cannot be made "
                f"private ({exc.strerror or exc}); {_FIX}"
            ) from None


def open_dir(parent_fd: int, name: str, shown: str, *, create: bool) -> int:
    """Open the directory ``name`` inside ``parent_fd`` (made 0700 if ``create``) without following a link.

    FileNotFoundError when it is missing and ``create`` is False.
    """
    for attempt in (0, 1):
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
            break
        except FileNotFoundError:
            if not create or attempt:
                raise
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise QueueHomeError(f"cannot create {shown}: {exc.strerror or exc}; {_FIX}") from None
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise QueueHomeError(
                    f"{shown} is a symbolic link or not a directory: something replaced it; refusing to follow it "
                    "(remove it; the session it belonged to is lost)"
                ) from None
            raise
    try:
        _check_private(fd, shown)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(dir_fd: int, name: str, flags: int, shown: str, *, create: bool = True) -> int:
    """Open the regular file ``name`` inside ``dir_fd`` (0600 if created) without following a link."""
    try:
        fd = os.open(name, flags | _FILE_FLAGS | (os.O_CREAT if create else 0), 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise QueueHomeError(f"{shown} is a symbolic link: refusing to follow it (remove it)") from None
        if exc.errno in _NOT_WRITABLE:
            raise QueueHomeError(f"cannot write {shown}: {exc.strerror or exc}; {_FIX}") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise QueueHomeError(f"{shown} is not a regular file: refusing to use it (remove it)")
        if st.st_uid != os.geteuid():
            raise QueueHomeError(f"{shown} belongs to uid {st.st_uid}, not to you: refusing to use it (remove it)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_file(dir_fd: int, name: str, data: bytes, shown: str) -> None:
    fd = open_file(dir_fd, name, os.O_WRONLY | os.O_TRUNC, shown)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def read_file(dir_fd: int, name: str, limit: int = 4096) -> bytes:
    """The first ``limit`` bytes of a regular file inside ``dir_fd``; OSError if missing, a link or not a file."""
    fd = os.open(name, os.O_RDONLY | _FILE_FLAGS, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return os.read(fd, limit)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def remove_tree(parent_fd: int, name: str) -> None:
    """Delete ``name`` inside ``parent_fd`` and everything under it, never following a link.

    A link is removed itself (not its target). Missing entries are fine (another process
    may be deleting the same tree).
    """
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        _unlink(parent_fd, name)
        return
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # replaced by a link meanwhile
            _unlink(parent_fd, name)
            return
        raise
    try:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                remove_tree(fd, entry.name)
            else:
                _unlink(fd, entry.name)
    finally:
        os.close(fd)
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except FileNotFoundError:
        pass


def _unlink(dir_fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
