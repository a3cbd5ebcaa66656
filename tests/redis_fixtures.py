"""Starting redis-server for the tests (see ``tests/conftest.py``): the shared one, and the rules for a missing one."""

from __future__ import annotations

from typing import Any

import pytest

from lazystream_widget.testing.redis_server import RedisServer, RedisServerMissing, redis_server_path


def require_redis(config: pytest.Config | None = None) -> None:
    """Skip under ``--no-redis``; fail with a message naming the flag when redis-server is missing."""
    if config is not None and _option(config, "--no-redis"):
        pytest.skip("--no-redis given: tests that need redis-server are skipped")
    try:
        redis_server_path()
    except RedisServerMissing as exc:
        pytest.fail(f"{exc} (bash scripts/test --no-redis)", pytrace=False)
    try:
        import redis  # noqa: F401
    except ImportError:
        pytest.fail("the redis client is not installed: pip install -e '.[redis]' (or skip with --no-redis)",
                    pytrace=False)


def _option(config: pytest.Config, name: str) -> bool:
    try:
        return bool(config.getoption(name))
    except ValueError:  # the flag is not defined in this checkout
        return False


def start_shared_redis(config: pytest.Config) -> RedisServer:
    require_redis(config)
    return RedisServer().start()


@pytest.fixture
def redis_factory(request: pytest.FixtureRequest):
    """``redis_factory(appendonly=..., password=...)``: a private redis-server for one test, stopped after it."""
    require_redis(request.config)
    servers: list[RedisServer] = []

    def make(**kwargs: Any) -> RedisServer:
        server = RedisServer(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
