"""The pytest integration, run for real in a child pytest: marker, --cassette-mode, cassettes beside the test."""

from __future__ import annotations

import json

import pytest

from tests.conftest import _plugin_is_installed

pytest_plugins = ["pytester"]

TEST_FILE = '''
import pytest
import lazystream_widget as lazyllm
from lazystream_widget.testing import ScriptedServer

ANSWER = "Hello from the model."


@pytest.mark.cassette("greeting")
def test_greeting(cassette):
    # the model server is needed only to record: a replay answers alone
    server = ScriptedServer([ANSWER]).start() if cassette.mode == "record" else None
    try:
        llm = lazyllm.OnlineChatModule(base_url=server.base_url if server else "http://127.0.0.1:9/v1", model="m")
        assert llm("hi") == ANSWER
    finally:
        if server is not None:
            server.stop()


def test_default_name(cassette):
    assert cassette.path.name == "test_default_name.json" and cassette.path.parent.name == "test_demo"
    assert lazyllm.configure()["cassette"] is cassette  # in force during the test
'''


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    plugin = [] if _plugin_is_installed() else ["-p", "lazystream_widget.testing.pytest_plugin"]
    return pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", *args, timeout=120)


OTHER_FILE = '''
import pytest
import lazystream_widget as lazyllm


@pytest.mark.cassette("greeting")
def test_asks_something_else():
    llm = lazyllm.OnlineChatModule(base_url="http://127.0.0.1:9/v1", model="m")
    llm("hello?")


@pytest.mark.cassette("never_recorded", mode="replay")
def test_without_its_cassette():
    pass
'''


def test_record_with_the_option_then_replay_from_beside_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=TEST_FILE)
    recorded = _run(pytester, "--cassette-mode=record")
    recorded.assert_outcomes(passed=2)
    assert "lazystream cassettes: --cassette-mode=record" in recorded.stdout.str()
    path = pytester.path / "cassettes" / "greeting.json"
    entry = json.loads(path.read_text())["entries"][0]
    assert entry["request"]["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert json.loads((pytester.path / "cassettes" / "test_demo" / "test_default_name.json").read_text())[
        "entries"] == []  # a test that calls no model records that

    pytester.makepyfile(test_other=OTHER_FILE)
    replayed = _run(pytester, "--cassette-mode=replay", "-rfE")  # no model server runs now
    replayed.assert_outcomes(passed=2, failed=1, errors=1)
    replayed.stdout.fnmatch_lines_random([
        "*CassetteMismatchError*greeting.json*no recorded answer*",
        '*messages?0?.content: recorded "hi" ≠ now "hello?"*',  # fnmatch: [0] would be a class
        "*CassetteNotFoundError*never_recorded.json* does not exist*",
    ])


FAILING_FILE = '''
import pytest


@pytest.mark.cassette("broken")
def test_fails_before_calling_a_model():
    assert False, "the test failed"


@pytest.mark.cassette("quiet")
def test_calls_no_model():
    pass
'''


def test_a_failed_test_records_no_cassette(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail=FAILING_FILE)
    _run(pytester, "--cassette-mode=record").assert_outcomes(passed=1, failed=1)
    assert not (pytester.path / "cassettes" / "broken.json").exists(), "it would replay 'no recorded requests'"
    assert json.loads((pytester.path / "cassettes" / "quiet.json").read_text())["entries"] == []
