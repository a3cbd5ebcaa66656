"""What can go wrong with a cassette, as exceptions that name the cassette and say what to do."""

from __future__ import annotations


class CassetteError(RuntimeError):
    """Base class: something about a cassette (its file, its mode, a request it cannot answer)."""


class CassetteNotFoundError(CassetteError, FileNotFoundError):
    """Replay mode, and the cassette file does not exist."""


class CassetteFileError(CassetteError, OSError):
    """The cassette's file cannot be used: the path is a folder, or recording cannot write it."""


class CassetteFormatError(CassetteError, ValueError):
    """The cassette file is not a cassette this version can read (bad JSON, unknown format or version)."""


class CassetteMismatchError(CassetteError):
    """Replay mode, and no recorded request matches the one being made (nothing was sent to the network).

    ``closest`` is the index of the most similar recorded entry (None for an empty cassette)
    and ``differences`` what differs from it, one line each.
    """

    def __init__(self, message: str, *, closest: int | None = None, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.closest = closest
        self.differences = list(differences or [])
