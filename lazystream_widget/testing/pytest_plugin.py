"""Pytest fixtures for the scripted model server (registered as a ``pytest11`` plugin).

``scripted_server``: a started server answering with :func:`echo_responder`; a test
scripts it with ``server.push(...)`` or ``server.set_responder(...)``.
``scripted_server_factory``: ``factory(script=None, responder=None, token_delay=0.0)``
returns a started server; every server it made is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

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
