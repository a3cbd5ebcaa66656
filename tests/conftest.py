"""Shared set-up of the runtime tests: a private queue home per test and a clean environment.

Every test gets its own ``LAZYSTREAM_HOME`` under ``tmp_path`` and a fresh queue backend, and runs with every
``LAZYSTREAM_*`` / ``OPENAI_*`` variable unset (the contract says the suite unsets them), so no test sees another's
queues, sessions or keys. The scripted model server fixtures (``scripted_server``, ``scripted_server_factory``) come
from the package's pytest plugin.

Queue backends: a test (or a module, with ``pytestmark``) marked ``@pytest.mark.backends("file", "redis")`` runs once
per backend (ids ``[file]`` / ``[redis]``); unmarked tests run on the file backend only. Under ``redis`` the test's
``LAZYSTREAM_QUEUE`` names one redis-server shared by the session (started on first use on a free loopback port,
emptied before each test), so child processes made with ``child_env`` use it too. Such tests carry the ``redis``
marker: ``--no-redis`` skips them; without it, a missing redis-server fails them with a message naming the flag.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_fixtures import redis_factory, require_redis  # noqa: F401  (fixtures for the Redis tests)
from services import SERVICE_MARKERS, check_item

from lazystream_widget import settings
from lazystream_widget.runtime import session as session_mod


def _plugin_is_installed() -> bool:
    """True when the package is installed with its ``pytest11`` entry point (then pytest loads the plugin itself)."""
    return any(ep.value == "lazystream_widget.testing.pytest_plugin"
               for ep in importlib.metadata.entry_points(group="pytest11"))


# Registering the plugin twice (entry point + pytest_plugins) is an error, so only name it when it is not installed.
pytest_plugins = [] if _plugin_is_installed() else ["lazystream_widget.testing.pytest_plugin"]

# ---- suites that need a service from apt: a flag skips them, a missing service fails naming the flag ----

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lazystream", "lazystream-widget test suites")
    group.addoption("--no-browser", action="store_true", help="skip the tests that drive chromium (marker: browser)")
    group.addoption("--no-redis", action="store_true", help="skip the tests that need redis-server (marker: redis)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "redis: needs redis-server (skipped with --no-redis)")
    config.addinivalue_line("markers", "backends(*names): run the test once per queue backend ('file', 'redis')")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, (flag, _need) in SERVICE_MARKERS.items():
        if config.getoption(flag):
            skip = pytest.mark.skip(reason=f"{flag} given: tests that need {_need.split(' (')[0]} are skipped")
            for item in items:
                if item.get_closest_marker(marker):
                    item.add_marker(skip)


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_item(item)  # a missing chromium / redis-server fails here, before any fixture starts a server


# ---- queue backends ------------------------------------------------------------------------------------------

def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is None or "queue_backend" not in metafunc.fixturenames:
        return
    names = list(marker.args) or ["file", "redis"]
    unknown = set(names) - {"file", "redis"}
    if unknown:
        raise pytest.UsageError(f"backends(): unknown backend {sorted(unknown)}; use 'file' and/or 'redis'")
    metafunc.parametrize("queue_backend", [pytest.param(n, marks=[pytest.mark.redis] if n == "redis" else [])
                                           for n in names], indirect=True, ids=names)


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """One redis-server for the session's tests (no persistence: fast); tests that need more start their own."""
    from redis_fixtures import start_shared_redis

    server = start_shared_redis(request.config)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def queue_backend(request: pytest.FixtureRequest) -> str:
    """The queue backend of this test: 'file' unless the test is parametrized by ``backends``."""
    return getattr(request, "param", "file")


def _close_backend() -> None:
    """Release the descriptors the test's backend holds (its files are under tmp_path, deleted by pytest)."""
    backend = session_mod._backend
    close = getattr(backend, "close", None)
    if close is not None:
        close()


@pytest.fixture(autouse=True)
def queue_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
               queue_backend: str) -> Iterator[Path]:
    """A private queue home for the test; LAZYSTREAM_* and OPENAI_* unset; a fresh backend before and after.

    Under the ``redis`` backend, ``LAZYSTREAM_QUEUE`` names the session's redis-server, emptied first."""
    for name in list(os.environ):
        if name.startswith(("LAZYSTREAM_", "OPENAI_")):
            monkeypatch.delenv(name)
    home = tmp_path / "lazystream-home"
    monkeypatch.setenv("LAZYSTREAM_HOME", str(home))
    if queue_backend == "redis":
        server = request.getfixturevalue("redis_server")
        with server.client() as client:
            client.flushall()
        monkeypatch.setenv("LAZYSTREAM_QUEUE", server.url)
    session_mod.set_backend(None)
    settings.reset()
    yield home
    _close_backend()
    session_mod.set_backend(None)
    settings.reset()


@pytest.fixture
def child_env(queue_home: Path) -> Callable[..., dict[str, str]]:
    """``child_env(session_id=None, **extra)``: the environment for a subprocess sharing this test's queue home."""

    def make(session_id: str | None = None, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["LAZYSTREAM_HOME"] = str(queue_home)
        if session_id is not None:
            env["LAZYSTREAM_SESSION"] = session_id
        env.update(extra)
        return env

    return make


@pytest.fixture
def read_trace() -> Callable[..., list[dict[str, Any]]]:
    """``read_trace(session=None)``: dequeue the session's ``lazy_trace`` queue; each item must be one JSON line."""
    from lazystream_widget.runtime.queue import trace_queue

    def read(sess: Any = None) -> list[dict[str, Any]]:
        entries = []
        for item in trace_queue(sess).dequeue():
            assert item.endswith("\n") and item.count("\n") == 1, f"not one line ending in newline: {item!r}"
            entry = json.loads(item)
            assert isinstance(entry, dict), item
            entries.append(entry)
        return entries

    return read


def spans_of(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{span id: {"start": entry, "end": entry, "events": [...]}} of trace entries (a test helper, no fixture)."""
    spans: dict[str, dict[str, Any]] = {}
    for e in entries:
        s = spans.setdefault(e["span"], {"start": None, "end": None, "events": []})
        if e["event"] == "event":
            s["events"].append(e)
        else:
            assert s[e["event"]] is None, f"two {e['event']} entries for span {e['span']}"
            s[e["event"]] = e
    return spans


@pytest.fixture
def spans() -> Callable[[list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    return spans_of
