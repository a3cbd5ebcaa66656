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

from .cassette import MODES, Cassette
from .errors import (
    CassetteError,
    CassetteFormatError,
    CassetteMismatchError,
    CassetteNotFoundError,
)
from .matcher import DEFAULT_MATCH_ON, MatchRule

__all__ = [
    "DEFAULT_MATCH_ON",
    "MatchRule",
    "MODES",
    "Cassette",
    "CassetteError",
    "CassetteFormatError",
    "CassetteMismatchError",
    "CassetteNotFoundError",
    "cassette",
]


#: ``cassette(path, mode=None, speed=None, *, match_on=None, redact=(), redirect=None, note=None)``: open a
#: cassette, to use as ``with cassette(path): ...`` (see :class:`Cassette` for the arguments).
cassette = Cassette
