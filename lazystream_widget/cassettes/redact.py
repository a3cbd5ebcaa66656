"""Secrets never enter a cassette: what is removed before anything is written, and how.

* Request headers are never recorded at all (so ``Authorization``, ``api-key``, cookies and
  every other credential header stay out by construction); of the response headers only
  ``content-type`` and ``retry-after`` are kept (no ``set-cookie``, no request ids).
* The values of the credential headers a request carried (the API key itself) are searched
  for everywhere in the recorded exchange (URL, bodies, every streamed event: servers echo
  keys in error messages) and replaced by ``[REDACTED]``.
* Query parameters that carry credentials (``key``, ``api_key``, ``token``, ``sig``...) are
  replaced by ``[REDACTED]``.
* Built-in patterns catch well-known key formats (``sk-...``, Google ``AIza...``, bearer
  tokens, JWTs); configured patterns (``cassette(..., redact=[...])`` or the
  ``cassette_redact`` setting) catch anything else.
* This machine's folders are written as placeholders: LazyLLM's home (``$LAZYLLM_HOME``, which
  LazyLLM 1.4.0's agents put in their system prompt as their workspace) and the user's home
  (``~``). A recording then names no user, and replays on a machine whose folders differ.

The same scrubbing is applied to an incoming request before it is matched against the
recording, so a request whose prompt held a secret (or a folder of this machine) still
matches its recording.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ..limits import REDACT_MIN_KEY_CHARS

MARK = "[REDACTED]"

#: Request headers whose values are credentials (compared lower-case).
CREDENTIAL_HEADERS = frozenset({
    "authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "cookie",
    "x-auth-token", "ocp-apim-subscription-key",
})

#: Response headers a cassette keeps (compared lower-case); every other one is dropped.
KEPT_RESPONSE_HEADERS = ("content-type", "retry-after")

#: Query parameter names whose values are credentials (compared lower-case).
CREDENTIAL_QUERY = re.compile(r"^(api[-_]?key|key|token|access[-_]?token|secret|password|signature|sig|auth)$",
                              re.I)

#: Well-known key formats, removed wherever they appear.
BUILTIN_PATTERNS = (
    r"\bsk-[A-Za-z0-9_\-]{16,}",  # OpenAI, DeepSeek, Anthropic (sk-ant-...), most OpenAI-compatible providers
    r"\bAIza[0-9A-Za-z_\-]{30,}",  # Google API keys
    r"(?i)\bbearer\s+[A-Za-z0-9._~+/=\-]{16,}",  # a bearer token quoted in text
    r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
)


def machine_paths() -> list[tuple[str, str]]:
    """``(folder, placeholder)`` for this machine's folders that prompts may quote, most specific first."""
    found: list[tuple[str, str]] = []
    lazyllm = sys.modules.get("lazyllm")  # never imported for this
    if lazyllm is not None:
        try:
            home = lazyllm.config["home"]
        except Exception:  # another lazyllm, or its config unreadable: nothing to replace
            home = None
        if isinstance(home, str) and home:
            found.append((os.path.abspath(os.path.expanduser(home)), "$LAZYLLM_HOME"))
    found.append((os.path.abspath(os.path.expanduser("~")), "~"))
    return [(folder, mark) for folder, mark in found if folder.count(os.sep) >= 1 and len(folder) > 1]


def header_secrets(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The credential values a request carries (``Bearer x`` gives ``x``), long enough to search for."""
    found = []
    for name, value in headers:
        if name.lower() not in CREDENTIAL_HEADERS:
            continue
        for part in re.split(r"[;,]\s*", value):
            token = part.split(None, 1)[-1] if " " in part.strip() else part  # "Bearer abc" -> "abc"
            token = token.split("=", 1)[-1] if name.lower() == "cookie" else token
            if len(token.strip()) >= REDACT_MIN_KEY_CHARS:
                found.append(token.strip())
    return found


class Redactor:
    """Replaces secrets in strings and in JSON structures (string leaves only, so JSON stays valid)."""

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[str] = (),
                 paths: Iterable[tuple[str, str]] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first
        self.patterns = [re.compile(p) for p in (*BUILTIN_PATTERNS, *patterns)]
        # a folder as a whole path component: "/root" in "/root/x", never in "/rooted" or "/a/root"
        self.paths = [(re.compile(r"(?<![\w.\-/])" + re.escape(folder.rstrip("/")) + r"(?![\w.\-])"), mark)
                      for folder, mark in paths]

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MARK)
        for pattern in self.patterns:
            value = pattern.sub(MARK, value)
        for folder, mark in self.paths:
            if "/" in value:
                value = folder.sub(mark, value)
        return value

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where secrets are in ``text`` (start, end), merged, in order."""
        found = []
        for secret in self.secrets:
            start = text.find(secret)
            while start != -1:
                found.append((start, start + len(secret)))
                start = text.find(secret, start + 1)
        for pattern in self.patterns:
            found.extend(m.span() for m in pattern.finditer(text) if m.end() > m.start())
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def stream(self, payloads: list[Any]) -> None:
        """Secrets split across a stream's events (a key echoed token by token) are removed too.

        The string fields at the same place in successive JSON payloads (``choices[0].delta.content``...)
        are read as one text; a secret found there becomes ``[REDACTED]`` in the event where it starts,
        and its other pieces are cut from the events that follow. Payloads are changed in place.
        """
        groups: dict[tuple, list[tuple[Any, Any]]] = {}
        for payload in payloads:
            _leaves(payload, (), groups)
        for refs in groups.values():
            pieces = [container[key] for container, key in refs]
            spans = self.spans("".join(pieces))
            if spans:
                for (container, key), piece in zip(refs, _cut(pieces, spans), strict=True):
                    container[key] = piece

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:  # user:password@host
            netloc = f"{MARK}@{netloc.rsplit('@', 1)[1]}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, MARK if CREDENTIAL_QUERY.match(k) else self.text(v)) for k, v in pairs],
                              safe="[]", quote_via=quote)
        return urlunsplit((parts.scheme, netloc, self.text(parts.path), query, ""))


def kept_response_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k.lower(): v for k, v in items if k.lower() in KEPT_RESPONSE_HEADERS}


def _leaves(value: Any, path: tuple, groups: dict[tuple, list[tuple[Any, Any]]]) -> None:
    """Every string leaf of a JSON value, as (container, key), grouped by its path."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, str):
            groups.setdefault((*path, key), []).append((value, key))
        else:
            _leaves(item, (*path, key), groups)


def _cut(pieces: list[str], spans: list[tuple[int, int]]) -> list[str]:
    """``pieces`` with each span of their concatenation replaced by one MARK, in the piece where it starts."""
    out, offset, i = [], 0, 0
    for piece in pieces:
        kept = []
        for pos, char in enumerate(piece, offset):
            while i < len(spans) and spans[i][1] <= pos:
                i += 1
            if i < len(spans) and spans[i][0] <= pos:
                if pos == spans[i][0]:
                    kept.append(MARK)
                continue
            kept.append(char)
        out.append("".join(kept))
        offset += len(piece)
    return out
