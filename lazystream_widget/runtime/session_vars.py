"""``globals`` and ``locals``: LazyLLM's per-session values, keyed by LazyLLM's session id.

The session id (``globals._sid``) is, first match wins:

1. one set explicitly: ``init_session(sid)``, ``globals._init_sid(sid)``, ``with new_session():``;
2. the id of the run's own session: a widget run, a ``session()`` block (so every widget run has its own
   globals, like every request of LazyLLM's web server);
3. otherwise LazyLLM's default, one per thread: ``"tid-<thread ident>"``.

The id is carried into our ``ThreadPoolExecutor``'s tasks, ``Thread``, flow branches and graph nodes, so
work submitted from a thread shares that thread's globals; a plain ``threading.Thread`` starts with its
own (as in LazyLLM). Each session id starts with LazyLLM's defaults (``user_id``, ``chat_history``,
``global_parameters``, ...); any other key can be set too.

``locals`` is LazyLLM's per-task scope: every pool task or ``Thread`` gets a fresh, empty one
(``local_scope="isolated"``, the default) or shares its submitter's (``local_scope="inherit"``); flow
branches get a copy of the caller's. Reading a key ``locals`` lacks falls back to ``globals``.

The values live in this process (LazyLLM's Redis-backed globals are not ported). Values of a run's
session are dropped when the run's session object is.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import threading
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from .session import _current

LOCAL_SCOPES = ("isolated", "inherit")

_explicit_sid: contextvars.ContextVar[str | None] = contextvars.ContextVar("lazystream_sid", default=None)
_thread_sid: contextvars.ContextVar[str | None] = contextvars.ContextVar("lazystream_thread_sid", default=None)
_local_sid: contextvars.ContextVar[str | None] = contextvars.ContextVar("lazystream_local_sid", default=None)


def check_local_scope(local_scope: str) -> str:
    if local_scope not in LOCAL_SCOPES:
        raise ValueError(f"local_scope must be 'isolated' or 'inherit', got {local_scope!r}")
    return local_scope


def current_sid() -> str:
    """LazyLLM's session id of the code running now (see the module docs)."""
    sid = _explicit_sid.get()
    if sid is not None:
        return sid
    sess = _current.get()
    if sess is not None:
        return sess.id
    sid = _thread_sid.get()
    if sid is None:
        sid = f"tid-{hex(threading.get_ident())}"
        _thread_sid.set(sid)  # pinned: work handed to other threads keeps this thread's id
    return sid


def _current_session_object() -> Any:
    if _explicit_sid.get() is not None:
        return None
    return _current.get()


class _Store:
    """Values per session id: {sid: {key: value}}, each sid starting from a deep copy of ``defaults``."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self._data: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def values(self, sid: str, owner: Any = None) -> dict[str, Any]:
        data = self._data.get(sid)
        if data is None:
            with self._lock:
                data = self._data.get(sid)
                if data is None:
                    data = self._data[sid] = copy.deepcopy(self.defaults)
                    if owner is not None:  # a run's session: its values go when it goes
                        weakref.finalize(owner, self.drop, sid)
        return data

    def drop(self, sid: str) -> None:
        with self._lock:
            self._data.pop(sid, None)

    def drop_all(self) -> None:
        with self._lock:
            self._data.clear()


class Globals:
    """Per-session values: ``globals["key"]``, ``globals.get("key", default)``, ``globals.user_id`` ..."""

    _defaults: dict[str, Any] = {"user_id": None, "chat_history": {}, "global_parameters": {}, "lazyllm_files": {},
                                 "usage": {}, "trace": {}, "config": {}, "call_stack": [], "key_pool_state": {}}

    def __init__(self) -> None:
        object.__setattr__(self, "_store", _Store(self._defaults))

    # ---- the session id --------------------------------------------------------------

    @property
    def _sid(self) -> str:
        return current_sid()

    def _init_sid(self, sid: str | None = None) -> str:
        """Set the session id of the current context (``None``: LazyLLM's default, this thread's)."""
        sid = sid if sid is not None else f"tid-{hex(threading.get_ident())}"
        _explicit_sid.set(sid)
        return sid

    @contextmanager
    def _bind_sid(self, sid: str) -> Iterator[str]:
        token = _explicit_sid.set(sid)
        try:
            yield sid
        finally:
            _explicit_sid.reset(token)

    @property
    def _data(self) -> dict[str, Any]:
        return self._store.values(self._sid, _current_session_object())

    def _update(self, d: dict[str, Any] | None) -> None:
        if d:
            self._data.update(d)

    # ---- the mapping ---------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            raise KeyError(f"Cannot find key {key}, current session-id is {self._sid}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def pop(self, *args: Any) -> Any:
        return self._data.pop(*args)

    def clear(self) -> None:
        """Forget every value of the current session id (it starts from the defaults again)."""
        self._store.drop(self._sid)

    def _clear_all(self) -> None:
        self._store.drop_all()

    def __getattr__(self, key: str) -> Any:
        if key in type(self)._defaults:
            return self[key]
        raise AttributeError(f"Attr {key} not found in {type(self).__name__.lower()}")

    def __setattr__(self, key: str, value: Any) -> None:
        if key in type(self)._defaults:
            self[key] = value
        else:
            object.__setattr__(self, key, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__.lower()} of session {self._sid!r}: {sorted(self._data)}>"


class Locals(Globals):
    """Per-task values; a key it lacks is read from ``globals``."""

    _defaults: dict[str, Any] = {"bind_args": {}, "_lazyllm_agent": {}, "curr_key": {}}

    @property
    def _sid(self) -> str:
        sid = _local_sid.get()
        if sid is None:
            sid = f"local_{uuid.uuid4().hex}"
            _local_sid.set(sid)
        return sid

    def _init_sid(self, sid: str | None = None) -> str:
        sid = sid or f"local_{uuid.uuid4().hex}"
        _local_sid.set(sid)
        return sid

    @property
    def _data(self) -> dict[str, Any]:
        return self._store.values(self._sid)

    @contextmanager
    def _scope(self, sid: str | None = None) -> Iterator[str]:
        """A block with its own locals (a new, empty scope unless ``sid`` names one); a new one is dropped after."""
        owned = sid is None
        sid = sid if sid is not None else f"local_{uuid.uuid4().hex}"
        token = _local_sid.set(sid)
        try:
            yield sid
        finally:
            _local_sid.reset(token)
            if owned:
                self._store.drop(sid)

    def __getitem__(self, key: str) -> Any:
        data = self._data
        if key in data:
            return data[key]
        return globals[key]


globals = Globals()
locals = Locals()


def init_session(sid: str | None = None) -> str:
    """Give the current context a session id (LazyLLM's default, this thread's, when None); returns it."""
    sid = globals._init_sid(sid)
    locals._init_sid(sid)
    return sid


def teardown_session() -> None:
    """Forget the current session id's globals and locals."""
    globals.clear()
    locals.clear()


# ---- carrying the ids into other threads ------------------------------------------------------------


def before_handoff(local_scope: str = "isolated") -> None:
    """Pin the caller's ids in its context before it is copied for another thread (pool, Thread)."""
    current_sid()
    if local_scope == "inherit":
        locals._sid  # noqa: B018 - creates and pins the caller's locals id


def in_task(fn: Callable[..., Any], local_scope: str = "isolated") -> Callable[..., Any]:
    """``fn`` to run in its own locals scope (``isolated``) or the carried one (``inherit``)."""
    if local_scope == "inherit":
        return fn
    return functools.partial(_isolated, fn)


def _isolated(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # A fresh scope costs nothing until the task touches ``locals`` (its id is made on first use);
    # whatever the task stored there is dropped when it ends.
    token = _local_sid.set(None)
    try:
        return fn(*args, **kwargs)
    finally:
        sid = _local_sid.get()
        _local_sid.reset(token)
        if sid is not None:
            locals._store.drop(sid)


def copied_locals() -> dict[str, Any]:
    """A shallow copy of each value in the caller's locals (what a flow branch starts with)."""
    return {k: (v.copy() if hasattr(v, "copy") else v) for k, v in locals._data.items()}


def in_copied_scope(values: dict[str, Any], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with locals._scope():
        locals._update(values)
        return fn(*args, **kwargs)
