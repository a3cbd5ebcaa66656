"""A private ``redis-server`` for tests, notebooks and benchmarks: loopback, a free port, a temp dir.

    with RedisServer(appendonly=True) as server:      # appendfsync always: what users who need durability run
        lazystream_widget.configure(queue=server.url)
        ...
        server.kill()      # SIGKILL, as a crash would
        server.start()     # again, same port and data directory: it reloads its append-only file

Needs Debian's ``redis-server`` (``apt-get install redis-server``) on PATH or at ``LSW_REDIS_SERVER``.
Nothing is saved outside the server's own temporary directory, which :meth:`RedisServer.stop` removes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


class RedisServerMissing(RuntimeError):
    """redis-server is not installed."""


def redis_server_path() -> str:
    path = os.environ.get("LSW_REDIS_SERVER") or shutil.which("redis-server")
    if not path or not os.access(path, os.X_OK):
        raise RedisServerMissing(
            "redis-server is not installed: apt-get install redis-server (Debian), or set LSW_REDIS_SERVER "
            "to its path; the test suite skips its Redis tests with --no-redis"
        )
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process. ``appendonly``: the append-only file with ``appendfsync always``."""

    def __init__(self, *, appendonly: bool = False, password: str | None = None, port: int | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.appendonly = appendonly
        self.password = password
        self.port = port or 0
        self.extra = extra
        self.dir = Path(tempfile.mkdtemp(prefix="lsw-redis-"))
        self.proc: subprocess.Popen | None = None
        self._registered = False

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _argv(self) -> list[str]:
        argv = [
            redis_server_path(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
            "--save", "", "--daemonize", "no", "--logfile", str(self.dir / "redis.log"), "--protected-mode", "yes",
            "--appendonly", "yes" if self.appendonly else "no",
        ]
        if self.appendonly:
            argv += ["--appendfsync", "always"]
        if self.password:
            argv += ["--requirepass", self.password]
        return argv + list(self.extra)

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Start (or restart on the same port and data); returns when it answers PING."""
        for _attempt in range(5):
            if not self.port:
                self.port = _free_port()
            # in our process group: a Ctrl-C or a kill of the group that started it stops it too
            self.proc = subprocess.Popen(self._argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            if self._wait_ready(timeout):
                if not self._registered:
                    atexit.register(self.stop)  # a script that forgets stop() leaves no server behind
                    self._registered = True
                return self
            self.proc.kill()
            self.proc.wait(5)
            if "Address already in use" not in self.log():
                break
            self.port = 0  # someone took the port between our probe and the server's bind: another one
        raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port}; its log:\n{self.log()[-2000:]}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.ping():
                return True
            time.sleep(0.02)
        return False

    def ping(self) -> bool:
        """True when the server answers PING (and is not still loading its data)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                cmd = b""
                if self.password:
                    cmd += _command("AUTH", self.password)
                cmd += _command("PING")
                s.sendall(cmd)
                data = b""
                while b"PONG" not in data and b"-" not in data[:1] and len(data) < 4096:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return b"+PONG" in data
        except OSError:
            return False

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)

    def log(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save (what a crash or an OOM kill does)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop the server and delete its directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for p in parts:
        b = p.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)
