"""``Cassette``: one cassette file opened in one mode, and the context manager that puts it in force."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import settings
from .errors import CassetteNotFoundError
from .fileformat import load, save
from .matcher import Matcher, MatchRule
from .model import Entry
from .redact import Redactor
from .tape import Tape

MODES = ("auto", "record", "replay", "off")


class Cassette:
    """Recorded model traffic in one file, opened for recording or for replaying.

    Use it as a context manager (``with cassette(path):``): runs started in the block, and
    model calls made in it, record to it or replay from it. A run keeps the cassette it
    started with even when it outlives the block. ``cassette.url(base_url)`` gives the
    address a foreign client (the ``openai`` client, LazyLLM) should use instead of
    ``base_url`` to go through the cassette.

    Args:
        path: the cassette file (JSON; see docs/cassettes.md for the format).
        mode: ``auto`` (replay if the file exists, else record), ``record`` (record anew,
            replacing the file once the first exchange is recorded), ``replay`` (answer
            from the file only; never the network), or ``off``. Default: the
            ``cassette_mode`` setting (``LAZYSTREAM_CASSETTE_MODE``), else ``auto``.
        speed: replay speed: 1.0 keeps the recorded timing, 2.0 is twice as fast, 0 sends
            everything at once. Default: the ``cassette_speed`` setting, else 1.0.
        match_on: how a request finds its recorded answer: names (``method``, ``path``,
            ``host``, ``url``, ``query``, ``body``, or a body field such as ``model``) or
            functions ``rule(recorded, incoming) -> bool | str | None``. Default:
            ``method, path, model, messages, tools, stream``.
        redact: regular expressions removed (as ``[REDACTED]``) from everything recorded,
            besides API keys and credential headers, which are always removed.
        redirect: record mode only: ``{recorded base URL: real base URL}``: requests meant
            for the first are sent to the second but recorded as the first (to record a
            staging server, or a local reconstruction, as the real provider).
        note: a free text written into the file (how and where it was recorded).

    Attributes: ``path``, ``mode`` (``record``, ``replay`` or ``off``: ``auto`` is resolved
    when the cassette is opened), ``requested_mode``, ``speed``, ``matcher``, ``note``,
    ``entries`` (the recorded exchanges), ``replayed`` / ``recorded`` (counts so far).
    """

    __lazystream_cassette__ = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        mode: str | None = None,
        speed: float | None = None,
        *,
        match_on: Sequence[MatchRule] | None = None,
        redact: Sequence[str] = (),
        redirect: Mapping[str, str] | None = None,
        note: str | None = None,
    ) -> None:
        now = settings.current()
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise TypeError(f"cassette() takes the path of a cassette file, got {path!r}")
        self.name = os.fspath(path)
        self.path = Path(os.path.abspath(os.path.expanduser(self.name)))
        requested = mode if mode is not None else now["cassette_mode"]
        if requested not in MODES:
            raise ValueError(f"cassette mode must be one of {', '.join(map(repr, MODES))}, got {requested!r}")
        self.requested_mode = requested
        speed = now["cassette_speed"] if speed is None else speed
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed < 0:
            raise ValueError(f"cassette speed must be a number >= 0 (1.0: recorded timing, 0: at once), got {speed!r}")
        self.speed = float(speed)
        self.matcher = Matcher(match_on)
        self.redact_patterns = tuple(now["cassette_redact"]) + tuple(redact)
        Redactor(patterns=self.redact_patterns)  # invalid patterns fail here, in the caller's frame
        self.redirect = {k.rstrip("/"): v.rstrip("/") for k, v in (redirect or {}).items()}
        self.note = note
        self._lock = threading.RLock()
        self._entries: list[Entry | None] = []
        self._ordinals = 0
        self._default_tape: Tape | None = None
        self._run_tapes: dict[int, Tape] = {}
        self._tokens = threading.local()
        self.replayed = 0
        self.recorded = 0
        if requested == "auto":
            requested = "replay" if self.path.exists() else "record"
        self.mode = requested
        if self.mode == "replay":
            if not self.path.exists():
                where = "" if self.name == str(self.path) else f" (looked for {str(self.path)!r})"
                raise CassetteNotFoundError(
                    f"cassette {self.name!r} does not exist{where}; replay mode needs it. "
                    "Record it first with mode='record' or mode='auto' (recording needs the model's API key)."
                )
            entries, file_note, file_redact = load(self.path)
            self._entries = list(entries)
            self.note = note or file_note
            # a replay removes what the recording removed, so requests holding those secrets still match
            self.redact_patterns += tuple(p for p in file_redact if p not in self.redact_patterns)

    def __repr__(self) -> str:
        return f"<Cassette {self.name!r} {self.mode} speed={self.speed:g} entries={len(self.entries)}>"

    # ---- putting it in force ---------------------------------------------------------

    def __enter__(self) -> Cassette:
        stack = getattr(self._tokens, "stack", None)
        if stack is None:
            stack = self._tokens.stack = []
        stack.append(settings.override(cassette=self, cassette_mode=self.mode, cassette_speed=self.speed))
        return self

    def __exit__(self, *exc: object) -> None:
        settings.reset_override(self._tokens.stack.pop())
        with self._lock:
            if self.mode == "record" and not self._tokens.stack and not self.recorded and not self.path.exists():
                # "this code calls no model" is a recording too; an existing file is never replaced by nothing
                save(self.path, [], note=self.note, redact=self.redact_patterns)

    def url(self, base_url: str) -> str:
        """The address to give a client instead of ``base_url`` so its calls go through this cassette.

        In ``off`` mode it is ``base_url`` itself. Inside a run, the run's own tape is used.
        """
        if self.mode == "off":
            return base_url
        return self.tape().route(base_url).url

    # ---- reading ---------------------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        """The recorded exchanges (while recording: the ones finished so far), in request order."""
        with self._lock:
            return [e for e in self._entries if e is not None]

    def tape(self) -> Tape:
        """The tape of the current code: its run's (inside a run), else this cassette's own."""
        run = settings.run_settings()
        with self._lock:
            if run is None:
                if self._default_tape is None:
                    self._default_tape = Tape(self)
                return self._default_tape
            key = id(run)
            tape = self._run_tapes.get(key)
            if tape is None:
                tape = self._run_tapes[key] = Tape(self)
                weakref.finalize(run, self._run_tapes.pop, key, None)  # the run is gone: so is its tape
                _notify_run(self)
            return tape

    def redactor(self, secrets: Sequence[str] = ()) -> Redactor:
        return Redactor(secrets, self.redact_patterns)

    def upstream_for(self, recorded_base: str) -> str:
        """Where record mode really sends requests meant for ``recorded_base`` (see ``redirect``)."""
        return self.redirect.get(recorded_base.rstrip("/"), recorded_base)

    # ---- used by tapes and the proxy -------------------------------------------------

    def _next_ordinal(self) -> int:
        with self._lock:
            self._ordinals += 1
            return self._ordinals - 1

    def _count_replayed(self) -> None:
        with self._lock:
            self.replayed += 1

    def _begin_record(self) -> int:
        """Reserve the next place (request order, even when responses finish out of order)."""
        with self._lock:
            self._entries.append(None)
            return len(self._entries) - 1

    def _finish_record(self, slot: int, entry: Entry | None) -> None:
        """Store a finished exchange (None: nothing to record) and write the file at once."""
        with self._lock:
            self._entries[slot] = entry
            if entry is None:
                return
            self.recorded += 1
            save(self.path, self.entries, note=self.note, redact=self.redact_patterns)


def _notify_run(cassette: Cassette) -> None:
    """Tell the run's display that its model traffic is recorded or replayed (a one-line notice)."""
    from ..runner import current_run

    run = current_run()
    if run is None:
        return
    if cassette.mode == "replay":
        pace = "at the recorded pace" if cassette.speed == 1.0 else (
            "at once" if cassette.speed == 0 else f"at {cassette.speed:g}x the recorded pace")
        run.add_notice(f"Replaying recorded model traffic from cassette {Path(cassette.name).name}, {pace}.")
    else:
        run.add_notice(f"Recording model traffic to cassette {Path(cassette.name).name}.")
