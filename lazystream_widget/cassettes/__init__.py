"""Cassettes: record a real model run's traffic once, replay it anywhere, without keys or network.

    import lazystream_widget as lazyllm

    with lazyllm.cassette("notebooks/cassettes/weather.json"):  # records if missing, replays if present
        run = view.ask("What's the weather like today in celsius in Tokyo and Paris?", wait=True)

Modules (one concept each): :mod:`.cassette` (the file opened in a mode; the context
manager), :mod:`.tape` (one run's view of it; matching in order), :mod:`.matcher` (which
recorded request answers, and what differs), :mod:`.proxy` (the loopback record/replay HTTP
server) and :mod:`.recorder` (record mode's forwarding), :mod:`.fileformat` (the versioned
JSON file), :mod:`.sse` (server-sent events), :mod:`.redact` (secrets never recorded),
:mod:`.activation` (which cassette is in force; the hooks our chat models call).
See docs/cassettes.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .cassette import MODES, Cassette
from .errors import (
    CassetteError,
    CassetteFormatError,
    CassetteMismatchError,
    CassetteNotFoundError,
    CassetteRecordError,
)
from .matcher import DEFAULT_MATCH_ON, MatchRule

__all__ = [
    "DEFAULT_MATCH_ON",
    "MODES",
    "Cassette",
    "CassetteError",
    "CassetteFormatError",
    "CassetteMismatchError",
    "CassetteNotFoundError",
    "CassetteRecordError",
    "cassette",
]


def cassette(
    path: str | os.PathLike[str],
    mode: str | None = None,
    speed: float | None = None,
    *,
    match_on: Sequence[MatchRule] | None = None,
    redact: Sequence[str] = (),
    redirect: Mapping[str, str] | None = None,
    note: str | None = None,
) -> Cassette:
    """Open a cassette; use it as ``with cassette(path): ...``.

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
    """
    return Cassette(path, mode, speed, match_on=match_on, redact=redact, redirect=redirect, note=note)
