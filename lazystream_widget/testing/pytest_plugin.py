"""Pytest fixtures for the scripted model server and cassettes (registered as a ``pytest11`` plugin).

``scripted_server``: a started server answering with :func:`echo_responder`; a test
scripts it with ``server.push(...)`` or ``server.set_responder(...)``.
``scripted_server_factory``: ``factory(script=None, responder=None, token_delay=0.0)``
returns a started server; every server it made is stopped at teardown.

Cassettes (see docs/cassettes.md): ``@pytest.mark.cassette("name")`` puts
``cassettes/name.json`` beside the test file in force for the whole test (its fixtures
included); without a name, ``cassettes/<test module>/<test name>.json``. Keyword arguments
go to :func:`lazystream_widget.cassette` (``mode``, ``speed``, ``match_on``, ``redact``...);
in tests a replay is instant (``speed=0``) unless the marker says otherwise.
``--cassette-mode=record|replay|auto|off`` overrides every test's mode (e.g. re-record all
with a key, or make CI strict). The ``cassette`` fixture is the test's open cassette.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .script import ScriptItem
from .server import Responder, ScriptedServer
from .weather import echo_responder

ServerFactory = Callable[..., ScriptedServer]


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A started scripted server with the echo responder, stopped after the test."""
    server = ScriptedServer(responder=echo_responder).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def scripted_server_factory() -> Iterator[ServerFactory]:
    """Make started scripted servers on demand; all are stopped after the test."""
    servers: list[ScriptedServer] = []

    def factory(
        script: Iterable[ScriptItem] | None = None,
        responder: Responder | None = None,
        token_delay: float = 0.0,
    ) -> ScriptedServer:
        server = ScriptedServer(script, responder, token_delay=token_delay).start()
        servers.append(server)
        return server

    try:
        yield factory
    finally:
        for server in servers:
            server.stop()


# --------------------------------------------------------------------------- cassettes

_MODES = ("auto", "record", "replay", "off")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lazystream", "lazystream-widget")
    group.addoption(
        "--cassette-mode", choices=_MODES, default=None,
        help="mode of every cassette of the run (@pytest.mark.cassette): record them anew (needs the model's key), "
             "replay only (never the network), auto, or off. Default: the marker's mode, else "
             "LAZYSTREAM_CASSETTE_MODE, else auto.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette(name=None, **options): record the test's model traffic to, or replay it from, "
        "cassettes/<name>.json beside the test file (lazystream_widget.cassette; docs/cassettes.md)",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    mode = config.getoption("--cassette-mode", None)
    return f"lazystream cassettes: --cassette-mode={mode}" if mode else None


def cassette_path(node: pytest.Item, name: str | None = None) -> Path:
    """Where a test's cassette lives: ``cassettes/<name>.json`` beside its file."""
    here = Path(str(node.path)).parent / "cassettes"
    if name is None:
        test = re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_")
        return here / Path(str(node.path)).stem / f"{test}.json"
    return here / (name if name.endswith(".json") else f"{name}.json")


def _open(request: pytest.FixtureRequest, marker: pytest.Mark | None) -> Any:
    from ..cassettes import cassette

    args, options = (marker.args, dict(marker.kwargs)) if marker is not None else ((), {})
    if len(args) > 1:
        raise pytest.UsageError("@pytest.mark.cassette takes at most one name, e.g. @pytest.mark.cassette('weather')")
    forced = request.config.getoption("--cassette-mode", None)
    if forced:
        options["mode"] = forced
    options.setdefault("speed", 0.0)  # tests replay at once unless the marker asks for the recorded pace
    return cassette(cassette_path(request.node, args[0] if args else None), **options)


@pytest.fixture(autouse=True)
def _lazystream_cassette_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Put the marker's cassette in force for the test, before its other fixtures are built."""
    marker = request.node.get_closest_marker("cassette")
    if marker is None:
        yield
        return
    opened = _open(request, marker)
    request.node.stash[_CASSETTE_KEY] = opened
    with _in_force(request, opened):
        yield


_CASSETTE_KEY = pytest.StashKey[Any]()
_FAILED_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember whether the test itself failed: a failed test records no (empty) cassette."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_FAILED_KEY] = report.failed


@contextmanager
def _in_force(request: pytest.FixtureRequest, opened: Any) -> Iterator[None]:
    """``with opened:`` for a fixture, telling the cassette at its end whether the test failed (a fixture
    never sees the test's exception, and a failed recording must not leave an empty cassette behind)."""
    opened.__enter__()
    try:
        yield
    finally:
        failed = request.node.stash.get(_FAILED_KEY, False)
        opened.__exit__(AssertionError if failed else None, None, None)


@pytest.fixture
def cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The test's open cassette: the marker's, else ``cassettes/<module>/<test>.json`` put in force now."""
    opened = request.node.stash.get(_CASSETTE_KEY, None)
    if opened is not None:
        yield opened
        return
    opened = _open(request, None)
    with _in_force(request, opened):
        yield opened
