"""Secrets never enter a cassette: keys in headers, echoed keys, credential query parameters, configured patterns."""

from __future__ import annotations

import openai
import pytest

import lazystream_widget as lazyllm
from lazystream_widget.testing import HTTPError, Reply, ScriptedServer

KEY = "sk-proj-SECRETSECRET0123456789abcdef"  # sent as the bearer token
HEADER_KEY = "azure-key-0123456789abcdef0123"  # sent as an api-key header
QUERY_KEY = "AIza-query-key-not-for-files-01234567"  # sent as ?key=...
CUSTOMER = "ACME-778899"  # a customer number: the configured pattern removes it
SECRETS = (KEY, HEADER_KEY, QUERY_KEY, CUSTOMER, "SECRETSECRET")


def test_secrets_are_removed_before_anything_is_written(tmp_path) -> None:
    path = tmp_path / "secrets.json"
    prompt = f"My customer number is {CUSTOMER}; my key is {KEY}."
    script = [
        Reply(text=f"Noted: {CUSTOMER}. Never share {KEY} or {HEADER_KEY}."),  # a model that echoes secrets
        HTTPError(401, message=f"Incorrect API key provided: {KEY}. You can find your API key at ..."),
    ]
    with ScriptedServer(script) as server:
        with lazyllm.cassette(path, "record", redact=[r"ACME-\d{6}"]) as cassette:
            client = openai.OpenAI(base_url=cassette.url(server.base_url), api_key=KEY, max_retries=0,
                                   default_headers={"api-key": HEADER_KEY}, default_query={"key": QUERY_KEY})
            live = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": prompt}], stream=True) if c.choices)
            with pytest.raises(openai.AuthenticationError, match="Incorrect API key provided: sk-proj-SECRET"):
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "again"}])
        assert server.requests[0]["messages"][0]["content"] == prompt  # the real endpoint got the real request
    assert KEY in live, "recording must not change what the client sees"

    text = path.read_text()
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secrets written to the cassette: {leaked}"
    assert "authorization" not in text.lower() and "api-key" not in text.lower()  # no request header is kept
    assert text.count("[REDACTED]") >= 6  # prompt (2), answer (3), error (1), query (1)

    # The redacted recording still answers the same request, whose secrets are removed the same way.
    with lazyllm.cassette(path, "replay", 0) as cassette:
        client = openai.OpenAI(base_url=cassette.url("http://127.0.0.1:9/v1"), api_key="no-key-in-ci",
                               default_query={"key": "another"}, max_retries=0)
        replayed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True) if c.choices)
    assert replayed == "Noted: [REDACTED]. Never share [REDACTED] or [REDACTED]."
