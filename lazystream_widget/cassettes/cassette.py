"""``Cassette``: one cassette file opened in one mode, and the context manager that puts it in force."""

from __future__ import annotations

import os
import re
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import settings
from ..limits import CASSETTE_IN_FLIGHT_WAIT_S
from .cells import cell_execution
from .errors import CassetteFileError, CassetteNotFoundError
from .fileformat import load, save
from .matcher import Matcher, MatchRule
from .model import Entry
from .redact import Redactor, machine_paths
from .tape import Tape

MODES = ("auto", "record", "replay", "off")


@dataclass
class _Slot:
    """A recorded exchange's place in request order (``entry`` is None until its answer has ended)."""

    ordinal: int
    entry: Entry | None = None
    done: bool = False  # its answer has ended (recorded, or nothing to record)


@dataclass
class _CellRuns:
    """The runs one notebook cell recorded in its latest execution (see ``Cassette._ordinal_for``)."""

    execution: str
    ordinals: list[int] = field(default_factory=list)
    reusable: list[int] = field(default_factory=list)  # run numbers of its previous execution, to take over


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
        if self.path.is_dir():
            raise CassetteFileError(
                f"cassette path {self.name!r} is a folder; give the path of a cassette file, "
                f"e.g. {os.path.join(self.name, 'weather.json')!r}"
            )
        requested = mode if mode is not None else now["cassette_mode"]
        if requested not in MODES:
            raise ValueError(f"cassette mode must be one of {', '.join(map(repr, MODES))}, got {requested!r}")
        self.requested_mode = requested
        speed = now["cassette_speed"] if speed is None else speed
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or speed < 0:
            raise ValueError(f"cassette speed must be a number >= 0 (1.0: recorded timing, 0: at once), got {speed!r}")
        self.speed = float(speed)
        self.matcher = Matcher(match_on)
        if isinstance(redact, str):
            raise TypeError(f"redact must be a list of regular expressions, e.g. [{redact!r}], not a string")
        for pattern in redact:  # invalid patterns fail here, in the caller's frame, saying which argument
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise ValueError(
                    f"cassette(redact=...): {pattern!r} is not a valid regular expression: {exc}"
                ) from None
        self.redact_patterns = tuple(now["cassette_redact"]) + tuple(redact)
        self.redirect = {k.rstrip("/"): v.rstrip("/") for k, v in (redirect or {}).items()}
        self.note = note
        self._lock = threading.RLock()
        self._finished = threading.Condition(self._lock)  # notified whenever a recording ends
        self._slots: list[_Slot] = []
        self._ordinals = 0
        self._cells: dict[str, _CellRuns] = {}
        self._default_tape: Tape | None = None
        self._run_tapes: dict[int, Tape] = {}
        self._tokens = threading.local()
        self.replayed = 0
        self.recorded = 0
        self.attempted = 0  # requests sent to the real endpoint while recording (answered or not)
        self.write_error: OSError | None = None  # the last failure to write the file while recording
        self._write_error_raised = False
        if requested == "auto":
            requested = "replay" if self.path.exists() else "record"
        self.mode = requested
        if self.mode == "record":
            _check_writable(self.path, self.name)
        if self.mode == "replay":
            if not self.path.exists():
                where = "" if self.name == str(self.path) else f" (looked for {str(self.path)!r})"
                raise CassetteNotFoundError(
                    f"cassette {self.name!r} does not exist{where}; replay mode needs it. "
                    "Record it first with mode='record' or mode='auto' (recording needs the model's API key)."
                )
            entries, file_note, file_redact = load(self.path)
            self._slots = [_Slot(e.run, e, done=True) for e in entries]
            self.matcher.check_against([e.request for e in entries], self.name)
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

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        settings.reset_override(self._tokens.stack.pop())
        if self._tokens.stack or self.mode != "record":
            return
        with self._lock:
            # A client may return before the proxy has finished with its exchange (it stops reading at
            # the last event, or broke off early): the block ends once the file holds every answer.
            self._finished.wait_for(lambda: all(slot.done for slot in self._slots), timeout=CASSETTE_IN_FLIGHT_WAIT_S)
            if exc_type is None and not self.attempted and not self.path.exists():
                # "this code calls no model" is a recording too; an existing file is never replaced by
                # nothing, and a block that failed (or whose requests failed) records nothing at all
                try:
                    save(self.path, [], note=self.note, redact=self.redact_patterns)
                except OSError as err:
                    self.write_error = err
            error, report = self.write_error, not self._write_error_raised
            self._write_error_raised = self._write_error_raised or error is not None
        if error is not None and report and exc_type is None:
            raise CassetteFileError(f"{_write_failure(self, error)}; nothing after that was recorded.") from error

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
            return [slot.entry for slot in self._slots if slot.entry is not None]

    def tape(self) -> Tape:
        """The tape of the current code: its run's (inside a run), else this cassette's own."""
        run = settings.run_settings()
        with self._lock:
            if run is None:
                if self._default_tape is None:
                    # shared by everything outside runs; it starts over when its answers are used up
                    self._default_tape = Tape(self, shared=True)
                return self._default_tape
            key = id(run)
            tape = self._run_tapes.get(key)
            if tape is None:
                from ..runner import current_run

                tape = self._run_tapes[key] = Tape(self, run=current_run(), cell=cell_execution())
                weakref.finalize(run, self._run_tapes.pop, key, None)  # the run is gone: so is its tape
                tape.tell(announcement(self))
            return tape

    def redactor(self, secrets: Sequence[str] = ()) -> Redactor:
        return Redactor(secrets, self.redact_patterns, machine_paths())

    def upstream_for(self, recorded_base: str) -> str:
        """Where record mode really sends requests meant for ``recorded_base`` (see ``redirect``)."""
        return self.redirect.get(recorded_base.rstrip("/"), recorded_base)

    # ---- used by tapes and the proxy -------------------------------------------------

    def _ordinal_for(self, tape: Tape) -> int:
        """The run number of ``tape`` (at its first model call).

        Recording from a notebook cell that ran before: the cell's new runs replace the runs of
        its previous execution (their entries are dropped and their run numbers taken over), so
        re-running a cell until you like its answer records only the last answer.
        """
        with self._lock:
            cell = tape.cell if self.mode == "record" else None
            if cell is None:
                return self._new_ordinal()
            cell_id, execution = cell
            runs = self._cells.get(cell_id)
            if runs is None or runs.execution != execution:
                old = runs.ordinals + runs.reusable if runs is not None else []
                if old:
                    self._slots = [slot for slot in self._slots if slot.ordinal not in old]
                runs = self._cells[cell_id] = _CellRuns(execution, reusable=sorted(old))
            ordinal = runs.reusable.pop(0) if runs.reusable else self._new_ordinal()
            runs.ordinals.append(ordinal)
            return ordinal

    def _new_ordinal(self) -> int:
        self._ordinals += 1
        return self._ordinals - 1

    def _count_replayed(self) -> None:
        with self._lock:
            self.replayed += 1

    def _begin_record(self, ordinal: int) -> _Slot:
        """Reserve the next place (request order, even when responses finish out of order)."""
        with self._lock:
            slot = _Slot(ordinal)
            self._slots.append(slot)
            self.attempted += 1
            return slot

    def _finish_record(self, slot: _Slot, entry: Entry | None, tape: Tape) -> None:
        """Store a finished exchange (None: nothing to record) and write the file at once.

        A file that cannot be written (its folder became read-only, the disk is full) does not
        break the run that is being answered: its run gets a notice, and the ``with`` block that
        put the cassette in force raises when it ends.
        """
        with self._lock:
            slot.entry, slot.done = entry, True
            self._finished.notify_all()
            if entry is None:
                return
            self.recorded += 1
            try:
                save(self.path, self.entries, note=self.note, redact=self.redact_patterns)
                return
            except OSError as err:
                self.write_error = failure = err
        tape.tell(f"{_write_failure(self, failure)}: this answer is not in the cassette.")


def announcement(cassette: Cassette) -> str:
    """The one-line notice of a run whose model traffic this cassette records or replays."""
    if cassette.mode == "replay":
        pace = "at the recorded pace" if cassette.speed == 1.0 else (
            "at once" if cassette.speed == 0 else f"at {cassette.speed:g}x the recorded pace")
        return f"Replaying recorded model traffic from cassette {Path(cassette.name).name}, {pace}."
    return f"Recording model traffic to cassette {Path(cassette.name).name}."


def _write_failure(cassette: Cassette, error: OSError) -> str:
    why = error.strerror or str(error) or type(error).__name__
    return f"cassette {cassette.name!r} could not be written ({type(error).__name__}: {why})"


def _check_writable(path: Path, name: str) -> None:
    """Recording must be able to write ``path``: fail now, in the caller's frame, rather than lose the recording."""
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # the folder is created when the first exchange is written
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "not a folder", str(existing))
        fd, probe = tempfile.mkstemp(prefix=".lazystream-cassette-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CassetteFileError(
            f"cassette {name!r} cannot be recorded: the folder {str(existing)!r} is not writable "
            f"({type(err).__name__}: {err.strerror or err}). Record it in a folder you can write to, or fix the "
            "folder's permissions."
        ) from None
