"""``configure()``: keyword-only, merging, code wins over the environment, clear errors, masked reprs."""

from __future__ import annotations

import pytest

import lazystream_widget as lsw
from lazystream_widget import settings


def test_no_arguments_returns_every_setting_with_its_default() -> None:
    current = lsw.configure()
    assert set(current) == {s.name for s in settings.describe()}
    assert current["cassette_mode"] == "auto"
    assert current["queue"] is None


def test_each_call_merges_and_returns_all_settings() -> None:
    lsw.configure(cassette_mode="replay")
    current = lsw.configure(prices={"gpt-x": (1, 2)})
    assert current["cassette_mode"] == "replay"
    assert current["prices"] == {"gpt-x": (1.0, 2.0)}


def test_code_wins_over_the_environment_and_none_gives_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYSTREAM_CASSETTE_MODE", "record")
    assert settings.get("cassette_mode") == "record"
    lsw.configure(cassette_mode="off")
    assert settings.get("cassette_mode") == "off"
    lsw.configure(cassette_mode=None)
    assert settings.get("cassette_mode") == "record"


def test_unknown_keyword_lists_the_known_ones_and_changes_nothing() -> None:
    with pytest.raises(TypeError) as info:
        lsw.configure(cassette_mode="replay", queu="redis://x")
    message = str(info.value)
    assert "'queu'" in message and "queue" in message and "otlp_endpoint" in message
    assert settings.get("cassette_mode") == "auto"  # the valid keyword of the failed call was not applied


def test_invalid_value_names_the_setting() -> None:
    with pytest.raises(ValueError, match=r"configure\(cassette_mode=...\).*one of 'auto'"):
        lsw.configure(cassette_mode="sometimes")
    with pytest.raises(ValueError, match=r"prices\['m'\] must be a pair"):
        lsw.configure(prices={"m": 3})


def test_invalid_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYSTREAM_CASSETTE_MODE", "sometimes")
    with pytest.raises(ValueError, match="LAZYSTREAM_CASSETTE_MODE"):
        settings.get("cassette_mode")


def test_positional_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        lsw.configure("redis://localhost")  # type: ignore[misc]


def test_repr_hides_url_passwords() -> None:
    current = lsw.configure(queue="redis://user:s3cret@127.0.0.1:6379/0")
    assert current["queue"] == "redis://user:s3cret@127.0.0.1:6379/0"  # the value itself is intact
    assert "s3cret" not in repr(current)
    assert settings.mask_url("rediss://:pw@h:1/0") == "rediss://:***@h:1/0"


def test_a_run_keeps_the_settings_it_started_with() -> None:
    import threading

    from lazystream_widget.runner import Run

    release = threading.Event()
    seen: list[str] = []

    def module(_query: str) -> str:
        release.wait(10)
        seen.append(settings.current()["cassette_mode"])
        return "ok"

    lsw.configure(cassette_mode="replay")
    run = Run(module, "q").start()
    lsw.configure(cassette_mode="off")  # after the start: must not reach the run
    release.set()
    assert run.wait(10) == "ok"
    assert seen == ["replay"]
    assert run.settings["cassette_mode"] == "replay"
    assert settings.current()["cassette_mode"] == "off"  # outside a run: what is in force now
