"""Helpers of the reliability suite: child processes, self-checking items, the seed's loop, scripted models."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SECRET_KEY = "sk-test-LSW-DO-NOT-LEAK-1234567890"


# --------------------------------------------------------------------------- child processes


def child_env(home: Path, session_id: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a child process sharing ``home`` (and writing into ``session_id`` if given)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAZYSTREAM_", "OPENAI_"))}
    env["LAZYSTREAM_HOME"] = str(home)
    if os.environ.get("LAZYSTREAM_QUEUE"):  # the test's queue backend (tests/conftest.py: backends marker)
        env["LAZYSTREAM_QUEUE"] = os.environ["LAZYSTREAM_QUEUE"]
    env["PYTHONUNBUFFERED"] = "1"
    if session_id is not None:
        env["LAZYSTREAM_SESSION"] = session_id
    env.update(extra)
    return env


def spawn(code: str, env: dict[str, str], *args: str, **kwargs: Any) -> subprocess.Popen:
    """Start ``python -c code args...`` with stdout and stderr piped (text)."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        **kwargs,
    )


def rest_of_output(proc: subprocess.Popen, timeout: float = 10) -> tuple[str, str]:
    """Everything ``proc`` printed that was not read yet, once it has ended.

    Not ``communicate()``: after a ``readline()`` the text wrapper may hold lines already read from the pipe, which
    ``communicate()`` (reading the raw descriptors) would silently skip.
    """
    out = proc.stdout.read()
    err = proc.stderr.read()
    proc.wait(timeout)
    return out, err


def run_child(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    return proc


# --------------------------------------------------------------------------- self-checking items


def checked_item(tag: str, index: int, payload: str) -> str:
    """An item that proves its own integrity: ``tag|index|len|sha256|payload``."""
    digest = hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{tag}|{index}|{len(payload)}|{digest}|{payload}"


def parse_checked(item: str) -> tuple[str, int, str]:
    """(tag, index, payload) of a :func:`checked_item`; AssertionError if it is torn or altered."""
    parts = item.split("|", 4)
    assert len(parts) == 5, f"not a checked item (torn?): {item[:80]!r}"
    tag, index, length, digest, payload = parts
    assert len(payload) == int(length), f"item {tag}|{index} has {len(payload)} chars, declared {length}"
    actual = hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    assert actual == digest, f"item {tag}|{index}: payload checksum mismatch (torn or mixed)"
    return tag, int(index), payload


#: The same helpers as source, for child processes.
CHILD_HELPERS = '''
import hashlib
def checked_item(tag, index, payload):
    digest = hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{tag}|{index}|{len(payload)}|{digest}|{payload}"
'''


# --------------------------------------------------------------------------- the seed's consumer loop


def seed_loop(future: Any, timeout: float = 60.0) -> tuple[list[str], list[str]]:
    """The seed's consumer loop, exactly (answer queue, then trace queue, then ``future.done()``), collecting items.

    ``timeout`` only turns a hang into a test failure.
    """
    import lazystream_widget as lazyllm

    answer: list[str] = []
    trace: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        if value := lazyllm.FileSystemQueue().dequeue():
            answer.extend(value)
        elif value := lazyllm.FileSystemQueue().get_instance("lazy_trace").dequeue():
            trace.extend(value)
        elif future.done():
            break
        assert time.monotonic() < deadline, "the seed loop did not end"
    return answer, trace


def trace_entries(items: list[str]) -> list[dict[str, Any]]:
    """Parse ``lazy_trace`` items: each must be exactly one JSON line."""
    out = []
    for item in items:
        assert item.endswith("\n") and item.count("\n") == 1, f"not one JSON line: {item[:120]!r}"
        out.append(json.loads(item))
    return out


def assert_complete_trace(entries: list[dict[str, Any]]) -> None:
    """Sequence numbers 1..n without gap or repeat, and every span started is ended."""
    seqs = [e["seq"] for e in entries]
    assert seqs == list(range(1, len(seqs) + 1)), f"trace seq not 1..n in order: {seqs[:20]}..."
    started = {e["span"] for e in entries if e["event"] == "start"}
    ended = {e["span"] for e in entries if e["event"] == "end"}
    assert started == ended, f"spans started but never ended: {started - ended}"


# --------------------------------------------------------------------------- scripted models


def tagged_chunks(run: int | str, n: int) -> list[str]:
    return [f"<{run}:{i}>" for i in range(n)]


def tagged_responder(request: dict[str, Any]) -> Any:
    """Streams ``<run:i>`` for i < n, where the last user message says ``run=<run> n=<n>``.

    Each run can thus check that it got exactly its own tokens, in order.
    """
    from lazystream_widget.testing import Reply

    said = ""
    for m in request.get("messages") or []:
        if m.get("role") == "user":
            said = str(m.get("content"))
    match = re.search(r"run=(\w+) n=(\d+)", said)
    assert match, said
    return Reply(chunks=tagged_chunks(match.group(1), int(match.group(2))))


def all_bytes(root: Path) -> bytes:
    """Every byte of every regular file under ``root`` (for greps); files that vanish meanwhile are skipped."""
    data = bytearray()
    for top, _dirs, files in os.walk(root):
        for name in sorted(files):
            try:
                with open(os.path.join(top, name), "rb") as f:
                    data += f.read()
            except OSError:  # removed (a run ending) or not a regular file
                continue
    return bytes(data)


class RecordingSink:
    """A runner sink that keeps everything it is given, as the widget would."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.entries: list[Any] = []
        self.finished = threading.Event()
        self.started = threading.Event()
        self.resyncs = 0

    def run_started(self, run: Any) -> None:
        self.started.set()

    def run_delta(self, run: Any, text: str, thinking: str, entries: list) -> None:
        self.text.append(text)
        self.entries.extend(entries)

    def run_finished(self, run: Any) -> None:
        self.finished.set()

    def run_resync(self, run: Any) -> None:
        self.resyncs += 1


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.005) -> Any:
    """Poll ``predicate`` until it is truthy (returned) or ``timeout`` passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- figures


class Figures:
    """What the tests measured, by name: counts add up over repetitions, ``max_*`` keep the worst case."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def add(self, name: str, **values: Any) -> None:
        with self._lock:
            row = self.rows.setdefault(name, {})
            for key, value in values.items():
                old = row.get(key)
                if not isinstance(value, (int, float)) or not isinstance(old, (int, float)):
                    row[key] = value
                elif key.startswith("max_"):
                    row[key] = max(old, value)  # a bound observed: the worst case
                elif key.startswith("bound"):
                    row[key] = value  # a configured bound, not a count
                else:
                    row[key] = old + value  # counts of repeated (parametrized) tests add up


FIGURES = Figures()
