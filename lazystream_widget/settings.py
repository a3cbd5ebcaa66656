"""``configure(**settings)``: the one place for settings given in code.

Every setting has a name, an environment variable (where one makes sense), a default and a
parser that validates a value and says what was wrong. A value given to :func:`configure`
wins over its environment variable; ``configure(name=None)`` forgets it again, so the
environment (or the default) applies. Runs read their settings once, when they start
(:func:`snapshot`), so a change never reaches a run already going.

Each feature adds its row to ``_SETTINGS`` below; nothing else needs to change.
"""

from __future__ import annotations

import contextvars
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable

_UNSET: Any = object()


@dataclass(frozen=True)
class Setting:
    name: str
    env: str | None  # environment variable read when the setting was not configured in code
    default: Any
    parse: Callable[[Any], Any]  # value (from code, or the env string) -> validated value; raises ValueError
    doc: str
    #: Called by configure() with every setting as it would be afterwards, when this one is given: raises a
    #: clear error for a combination that cannot work (e.g. replaying a cassette file that does not exist).
    check: Callable[[dict[str, Any]], None] | None = None


def _optional_str(name: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, (str, os.PathLike)):
            raise ValueError(f"{name} must be a string, got {type(value).__name__}")
        return os.fspath(value)

    return parse


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[Any], Any]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return text

    return parse


def _otlp_endpoint(value: Any) -> str | None:
    """An OTLP/HTTP endpoint: an http(s) URL with a host (``/v1/traces`` is added unless given)."""
    from urllib.parse import urlsplit

    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"otlp_endpoint must be a URL string, got {type(value).__name__}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"otlp_endpoint must be an http(s) URL of an OTLP/HTTP receiver such as http://127.0.0.1:4318, "
            f"got {mask_url(value)!r}"
        )
    return value.strip()


def _queue_url(value: Any) -> str | None:
    """``None`` (the file backend) or a Redis URL; anything else says what is accepted."""
    from urllib.parse import urlsplit

    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "file")):
        return None
    if not isinstance(value, str):
        raise ValueError(f"queue must be a URL string such as redis://127.0.0.1:6379/0, got {type(value).__name__}")
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise ValueError(
            "queue must be 'file' (the default) or a Redis URL: redis://[user:password@]host:port/db, "
            f"rediss://... (TLS) or unix:///path/to/redis.sock; got {mask_url(text)!r}"
        )
    return text


_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(name: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> float | None:
        if value is None or value == "":
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            match = _DURATION.fullmatch(str(value))
            if not match:
                raise ValueError(f"{name} must be seconds or a duration such as 30s, 10m, 2h or 1d, got {value!r}")
            seconds = float(match[1]) * _UNIT_S[(match[2] or "s").lower()]
        if seconds <= 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
        return seconds

    return parse


def _prices(value: Any) -> dict[str, tuple[float, float]]:
    if value is None:
        return {}
    if isinstance(value, str):  # from the environment: JSON {"model": [input, output]}
        import json

        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f'prices from the environment must be JSON like {{"gpt-4o": [2.5, 10]}}: {exc}') from None
    if not isinstance(value, dict):
        raise ValueError(f"prices must be a dict {{model: (input, output)}} per 1M tokens, got {type(value).__name__}")
    out: dict[str, tuple[float, float]] = {}
    for model, pair in value.items():
        try:
            inp, outp = (float(x) for x in pair)
        except (TypeError, ValueError):
            raise ValueError(
                f"prices[{model!r}] must be a pair (input, output) of prices per 1M tokens, got {pair!r}"
            ) from None
        if inp < 0 or outp < 0:
            raise ValueError(f"prices[{model!r}] must not be negative, got {pair!r}")
        out[str(model)] = (inp, outp)
    return out


def _currency(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"currency must be a short string such as '$' or 'EUR ', got {type(value).__name__}")
    if len(value) > 8 or any(ch in value for ch in "\n\r\t"):
        raise ValueError(f"currency must be a short one-line symbol (8 characters at most), got {value!r}")
    return value


def _cassette(value: Any) -> Any:
    """A cassette file path, or an open cassette (what ``with cassette(...)`` puts in force)."""
    if getattr(value, "__lazystream_cassette__", False):
        return value
    try:
        return _optional_str("cassette")(value)
    except ValueError:
        raise ValueError(
            f"cassette must be a file path or lazystream_widget.cassette(...), got {type(value).__name__}"
        ) from None


def _patterns(value: Any) -> tuple[str, ...]:
    """Regular expressions (from code: a list; from the environment: a JSON list or one per line)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ValueError(f'cassette_redact must be a JSON list of regular expressions: {exc}') from None
        else:
            value = [line for line in text.splitlines() if line.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise ValueError(f"cassette_redact must be a list of regular expressions (str), got {value!r}")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"cassette_redact: {pattern!r} is not a valid regular expression: {exc}") from None
    return tuple(value)


def _check_cassette(after: dict[str, Any]) -> None:
    from .cassettes.activation import check_settings

    check_settings(after)


def _positive_float(name: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if number < 0:
            raise ValueError(f"{name} must not be negative, got {value!r}")
        return number

    return parse


_SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("queue", "LAZYSTREAM_QUEUE", None, _queue_url,
                "Queue backend: unset (or 'file') for the file backend under LAZYSTREAM_HOME, or a Redis URL "
                "(redis://[user:password@]host:port/db, rediss:// for TLS, unix:///path.sock). "
                "Needs the [redis] extra."),
        Setting("queue_expiry", "LAZYSTREAM_QUEUE_EXPIRY", None, _duration("queue_expiry"),
                "Redis backend: a session's data is deleted this long after its last write or after its owner "
                "closed it (seconds, or 30s / 10m / 2h / 1d); default a day."),
        Setting("otlp_endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", None, _otlp_endpoint,
                "OTLP/HTTP endpoint that every run's spans are sent to live (e.g. http://127.0.0.1:4318; "
                "/v1/traces is added unless given); unset: nothing is sent. Needs the [otel] extra."),
        Setting("prices", "LAZYSTREAM_PRICES", {}, _prices,
                "Price per 1M tokens per model, {model: (input, output)}, for the cost roll-ups."),
        Setting("currency", "LAZYSTREAM_CURRENCY", "$", _currency,
                "The symbol shown before costs computed from `prices` (e.g. '$', '€', 'CNY ')."),
        Setting("cassette", "LAZYSTREAM_CASSETTE", None, _cassette,
                "A cassette file that every run records its model traffic to or replays it from "
                "(see lazystream_widget.cassette and docs/cassettes.md).", _check_cassette),
        Setting("cassette_mode", "LAZYSTREAM_CASSETTE_MODE", "auto", _choice("cassette_mode",
                ("auto", "record", "replay", "off")),
                "auto (replay if the cassette file exists, else record), record (record anew), "
                "replay (never the network), or off.", _check_cassette),
        Setting("cassette_speed", "LAZYSTREAM_CASSETTE_SPEED", 1.0, _positive_float("cassette_speed"),
                "Replay speed: 1.0 keeps the recorded timing, 2.0 is twice as fast, 0 replays at once.",
                _check_cassette),
        Setting("cassette_redact", "LAZYSTREAM_CASSETTE_REDACT", (), _patterns,
                "Extra regular expressions whose matches are replaced by [REDACTED] before anything is "
                "written to a cassette (API keys and credential headers are always removed).", _check_cassette),
        Setting("control_route", "LAZYSTREAM_CONTROL_ROUTE", "auto", _choice("control_route", ("auto", "shell")),
                "How a view's Stop and resync requests reach the kernel: auto (a kernel subshell where the kernel "
                "has them, so they work while a cell is busy) or shell (the kernel's main shell, between cells "
                "only). Applies to views made after the change."),
    )
}  # fmt: skip

_configured: dict[str, Any] = {}
_lock = threading.Lock()
#: Bumped by every configure() and reset(): lets hot paths notice a change with one attribute read.
generation = 0


class Settings(dict):
    """All settings as ``{name: value}``; its repr hides passwords in URLs."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {_mask(v)!r}" for k, v in self.items()) + "}"


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@]*):(?P<pw>[^@/]*)@", re.I)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for errors, traces and reprs)."""
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url)


def _mask(value: Any) -> Any:
    return mask_url(value) if isinstance(value, str) else value


def configure(**settings: Any) -> Settings:
    """Set settings for runs started from now on; return all settings in force.

    Keyword-only. ``configure()`` with no arguments just returns them. A setting given here
    wins over its environment variable; ``configure(name=None)`` drops it again. Unknown
    names and invalid values raise a clear error and change nothing.
    """
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        raise TypeError(
            f"configure() got unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"known settings: {', '.join(sorted(_SETTINGS))}"
        )
    parsed = {}
    for name, value in settings.items():
        if value is None:
            parsed[name] = _UNSET
            continue
        try:
            parsed[name] = _SETTINGS[name].parse(value)
        except ValueError as exc:
            raise ValueError(f"configure({name}=...): {exc}") from None
    checks = {_SETTINGS[name].check for name in parsed if _SETTINGS[name].check is not None}
    if checks:
        after = {name: _from_env_or_default(_SETTINGS[name]) if parsed.get(name) is _UNSET
                 else parsed[name] if name in parsed else get(name) for name in _SETTINGS}  # fmt: skip
        for check in checks:
            check(after)  # raises for a combination that cannot work: nothing is changed
    global generation
    with _lock:
        for name, value in parsed.items():
            if value is _UNSET:
                _configured.pop(name, None)
            else:
                _configured[name] = value
        generation += 1
    return snapshot()


#: Settings in force for the current context only (``with cassette(...)``); they win over configure().
_overrides: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "lazystream_settings_overrides", default=None
)


def override(**settings: Any) -> contextvars.Token:
    """Put settings in force for the current context (and threads and runs started from it) only.

    For context managers such as ``with cassette(...)``: a run started inside the block takes
    these values in its snapshot and keeps them after the block ends. Undo with
    :func:`reset_override` and the returned token.
    """
    unknown = sorted(set(settings) - set(_SETTINGS))
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(_SETTINGS))}")
    parsed = {name: _SETTINGS[name].parse(value) for name, value in settings.items()}
    return _overrides.set({**(_overrides.get() or {}), **parsed})


def reset_override(token: contextvars.Token) -> None:
    """Undo one :func:`override` (in the context that made it)."""
    _overrides.reset(token)


def get(name: str) -> Any:
    """The value of one setting: overridden for this context, configured in code, else from its
    environment variable, else the default."""
    setting = _SETTINGS[name]
    local = _overrides.get()
    if local and name in local:
        return local[name]
    with _lock:
        if name in _configured:
            return _configured[name]
    return _from_env_or_default(setting)


def _from_env_or_default(setting: Setting) -> Any:
    if setting.env:
        raw = os.environ.get(setting.env)
        if raw not in (None, ""):
            try:
                return setting.parse(raw)
            except ValueError as exc:
                raise ValueError(f"environment variable {setting.env}: {exc}") from None
    return setting.default


def snapshot() -> Settings:
    """Every setting's current value (what a run takes when it starts)."""
    return Settings((name, get(name)) for name in _SETTINGS)


#: The settings of the run the current code belongs to (set by the runner in the run's context).
_run_settings: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("lazystream_settings", default=None)


def current() -> Settings:
    """The settings in force for the current code: its run's snapshot inside a run, else :func:`snapshot`."""
    return _run_settings.get() or snapshot()


def current_value(name: str) -> Any:
    """One setting as :func:`current` has it, without building a whole snapshot outside a run."""
    snap = _run_settings.get()
    return snap[name] if snap is not None and name in snap else get(name)


def run_settings() -> Settings | None:
    """The snapshot of the run the current code belongs to; None outside a run."""
    return _run_settings.get()


def use(snap: Settings) -> contextvars.Token:
    """Make ``snap`` the settings of the current context (runners call it in the run's context)."""
    return _run_settings.set(snap)


def describe() -> list[Setting]:
    """The settings table, for the docs."""
    return list(_SETTINGS.values())


def reset() -> None:
    """Forget every setting given in code (tests)."""
    global generation
    with _lock:
        _configured.clear()
        generation += 1
