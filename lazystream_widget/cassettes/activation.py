"""Which cassette is in force for the current code, and the hooks our chat models call.

A cassette is in force through the ``cassette`` setting: set for the process
(``configure(cassette=path)``, ``LAZYSTREAM_CASSETTE``) or for a block
(``with cassette(path):``). A run takes its settings when it starts, so it keeps its
cassette after the block ends. A path in the settings is opened once per process and mode,
so all runs of a notebook record into (or replay from) one cassette; ``configure()`` opens it
again at once (a missing file in replay mode, or a folder recording cannot write, fails
there), so re-running a notebook's ``configure(cassette=...)`` cell starts a recording anew.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from .. import settings
from .cassette import Cassette
from .errors import CassetteError

#: Where the openai client sends requests when no base URL is set.
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: The key a keyless module sends to the proxy in replay mode (the proxy never forwards anything then).
REPLAY_PLACEHOLDER_KEY = "lazystream-cassette-replay"

_opened: dict[tuple[str, str, float, tuple[str, ...]], Cassette] = {}
_opened_lock = threading.Lock()
_keyless_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def active() -> Cassette | None:
    """The cassette in force for the current code (its run's, inside a run); None when none or ``off``."""
    now = settings.current()
    value = now.get("cassette")
    if value is None:
        return None
    if not isinstance(value, Cassette):
        value = _open_configured(value, now["cassette_mode"], now["cassette_speed"], tuple(now["cassette_redact"]))
    return None if value.mode == "off" else value


def _open_configured(path: str, mode: str, speed: float, redact: tuple[str, ...], *, fresh: bool = False) -> Cassette:
    key = (os.path.abspath(os.path.expanduser(path)), mode, speed, redact)
    with _opened_lock:
        cassette = None if fresh else _opened.get(key)
        if cassette is None:
            cassette = _opened[key] = Cassette(path, mode, speed)
        return cassette


def check_settings(after: dict[str, Any]) -> None:
    """``configure()`` of a cassette setting: open the cassette now, so a mistake fails in the call that
    made it (and a recording starts anew)."""
    path = after.get("cassette")
    if path is None or isinstance(path, Cassette) or after.get("cassette_mode") == "off":
        return
    _open_configured(path, after["cassette_mode"], after["cassette_speed"], tuple(after["cassette_redact"]),
                     fresh=True)


def forget_opened() -> None:
    """Close the cassettes opened from settings (tests; a notebook that re-records)."""
    with _opened_lock:
        _opened.clear()


def replaying() -> bool:
    """True when the current code's model calls are answered from a recording."""
    cassette = active()
    return cassette is not None and cassette.mode == "replay"


def missing_key_hint() -> str:
    """What a missing-key error should add when a cassette is in force but records (so a key is needed)."""
    cassette = active()
    if cassette is None:
        return ""
    why = " (its file does not exist yet, and mode is auto)" if cassette.requested_mode == "auto" else ""
    return (f". Cassette {cassette.name!r} is recording{why}, which calls the real model: record it where the key "
            "is set, then commit it")


def client_for(module: Any) -> Any | None:
    """The openai client a chat module should use for this call: pointed at the cassette proxy when
    a cassette is in force (None: no cassette, use the module's own client).

    A module built without a key (allowed while a cassette replays) gets a client with a
    placeholder key, which only ever reaches the proxy.
    """
    cassette = active()
    if cassette is None:
        return None
    base_url = module.base_url or OPENAI_DEFAULT_BASE_URL
    from .proxy import get_proxy

    if get_proxy().serves(base_url):
        return None  # built with cassette.url(...): already goes through the proxy
    url = cassette.tape().route(base_url).url
    if module._api_key:
        return module._client().with_options(base_url=url)
    if cassette.mode != "replay":
        from ..runtime.chat import ModelConfigError

        raise ModelConfigError(
            f"{module._missing_key_error} (cassette {cassette.name!r} is recording, which calls the real model)"
        )
    base = _keyless_clients.get(module)
    if base is None:
        base = _keyless_clients[module] = module._make_client(REPLAY_PLACEHOLDER_KEY)
    return base.with_options(base_url=url)


def error_of(exc: BaseException) -> CassetteError | None:
    """The cassette error behind a failed request through the proxy (a replay found no match)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    from .proxy import ERROR_HEADER, get_proxy

    key = headers.get(ERROR_HEADER)
    return get_proxy().take_error(key) if key else None
