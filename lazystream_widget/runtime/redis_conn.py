"""Connecting to Redis and riding out its outages, for the Redis queue backend.

* One connection pool per backend, from the URL (``redis://``, ``rediss://`` for TLS, ``unix://``;
  user and password in the URL). redis-py's own retries are off: a write it re-sent after a lost
  reply could land twice, so :func:`call` decides what is safe to repeat.
* :func:`call` retries an operation on connection errors (refused, reset, timed out, Redis still
  loading its append-only file after a restart) with a doubling backoff for at most
  ``limits.REDIS_PRODUCER_RETRY_S`` (read at each call), then raises :class:`~.backend.QueueUnavailableError` naming the
  server (never its password). Credentials refused fail at once: retrying cannot help.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

from .. import limits
from ..settings import mask_url
from .backend import QueueUnavailableError

T = TypeVar("T")


def import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise ImportError(
            "the Redis queue backend needs the redis client: pip install 'lazystream-widget[redis]' "
            "(or unset LAZYSTREAM_QUEUE / configure(queue=None) to use the file backend)"
        ) from None
    return redis


def connect(url: str) -> Any:
    """A ``redis.Redis`` client on its own pool; bytes in and out; no automatic command retries.

    The pool holds at most ``REDIS_MAX_CONNECTIONS`` and a thread beyond them waits for a free one:
    redis-py's plain pool (100 at most since 6.x) raises ``MaxConnectionsError`` instead, which reads
    as an outage, so 200 threads each taking from their own session were retried after backoffs
    (p95 hundreds of ms). A command here never holds its connection long: the one blocking read
    has a pool of its own (``redis_reader.py``).
    """
    redis = import_redis()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    try:
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=limits.REDIS_MAX_CONNECTIONS,
            timeout=limits.REDIS_SOCKET_TIMEOUT_S,  # then "No connection available": retried as an outage
            socket_timeout=limits.REDIS_SOCKET_TIMEOUT_S,
            socket_connect_timeout=limits.REDIS_SOCKET_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            client_name="lazystream-widget",
        )
    except ValueError as exc:  # a malformed URL: redis-py's message may quote it, so say it again masked
        raise ValueError(f"invalid Redis URL {mask_url(url)!r}: {masked(str(exc), url)}") from None
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors worth retrying: the connection, not the command, failed."""
    redis = import_redis()
    return (redis.ConnectionError, redis.TimeoutError, ConnectionError, TimeoutError)


def refused_credentials(exc: BaseException) -> bool:
    redis = import_redis()
    if isinstance(exc, redis.AuthenticationError):
        return True
    text = str(exc)
    return isinstance(exc, redis.ResponseError) and text.startswith(("NOAUTH", "WRONGPASS", "NOPERM"))


def masked(text: str, url: str) -> str:
    """``text`` with the URL's password removed wherever it appears."""
    from urllib.parse import unquote, urlsplit

    password = urlsplit(url).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, "***")
    return mask_url(text)


def credentials_error(exc: BaseException, url: str) -> PermissionError:
    err = PermissionError(
        f"Redis at {mask_url(url)} refused the credentials ({type(exc).__name__}: {masked(str(exc), url)}); "
        "put the right user and password in the URL: redis://user:password@host:port/db"
    )
    return err


def call(op: Callable[[], T], url: str, what: str, *, retry_for: float | None = None,
         recover: Callable[[], tuple[bool, T]] | None = None) -> T:
    """Run ``op``; on a connection error reconnect and run it again for up to ``retry_for`` seconds.

    ``recover`` (for writes that must not land twice): after a failure whose reply was lost, it is
    called first once the server answers again; it returns ``(True, value)`` when the lost write
    did land (``op`` is then not repeated) and ``(False, None)`` when it did not.
    """
    transient = transient_errors()
    retry_for = limits.REDIS_PRODUCER_RETRY_S if retry_for is None else retry_for
    deadline = time.monotonic() + retry_for
    backoff = limits.REDIS_RETRY_BACKOFF_S
    uncertain = False
    while True:
        try:
            if uncertain and recover is not None:
                landed, value = recover()
                if landed:
                    return value
            return op()
        except transient as exc:
            if refused_credentials(exc):
                raise credentials_error(exc, url) from None
            uncertain = True
            left = deadline - time.monotonic()
            if left <= 0:
                raise QueueUnavailableError(
                    f"Redis at {mask_url(url)} unreachable for {retry_for:g} s while trying to {what} "
                    f"({type(exc).__name__}: {masked(str(exc), url)}). Is redis-server running there? "
                    f"(the queue setting / LAZYSTREAM_QUEUE names it)"
                ) from None
            time.sleep(min(backoff, left))
            backoff = min(backoff * 2, limits.REDIS_RETRY_BACKOFF_MAX_S)
        except Exception as exc:
            if refused_credentials(exc):
                raise credentials_error(exc, url) from None
            raise
