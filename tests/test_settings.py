"""The settings object: command line over ini file over environment over default, passed down."""
from __future__ import annotations

import os
from dataclasses import FrozenInstanceError, fields

import pytest

from loraplace.evidence.registry import OPTIONS
from loraplace.settings import Settings, SettingsError

pytest_plugins = ["pytester"]


def test_nothing_given_is_the_defaults():
    assert Settings.from_sources({}, {}, {}) == Settings()


@pytest.mark.parametrize("options, ini, env, want", [
    ({"profile": "smoke"}, {"profile": "full"}, {}, "smoke"),   # the command line wins
    ({"profile": None}, {"profile": "full"}, {}, "full"),       # else the ini file
    ({"profile": None}, {"profile": ""}, {}, "default"),        # an empty ini value is not given
])
def test_precedence_of_a_value(options, ini, env, want):
    assert Settings.from_sources(options, ini, env).profile == want


@pytest.mark.parametrize("option, env, want", [
    (None, {}, False),
    (None, {"LORAPLACE_ALLOW_UNSANDBOXED": "1"}, True),
    (None, {"LORAPLACE_ALLOW_UNSANDBOXED": "0"}, False),
    (True, {}, True),
])
def test_a_flag_comes_from_the_command_line_or_the_environment(option, env, want):
    assert Settings.from_sources({"allow_unsandboxed": option}, {}, env).allow_unsandboxed is want


def test_repeated_tracks_are_kept_once_in_order():
    got = Settings.from_sources({"evidence": ["published", "tiny", "published"]})
    assert got.evidence == ("published", "tiny")


def test_an_invalid_verdict_mode_is_refused_with_the_valid_ones():
    with pytest.raises(SettingsError, match="assert, record"):
        Settings.from_sources({}, {"verdicts": "maybe"})


def test_settings_are_frozen():
    with pytest.raises(FrozenInstanceError):
        Settings().profile = "full"


def test_track_options_are_exactly_the_registry_options():
    assert set(Settings().track_options()) == set(OPTIONS)
    assert {f.name for f in fields(Settings)} >= set(OPTIONS)


def test_allow_unsandboxed_reaches_the_loader_as_an_argument_not_the_environment(pytester, monkeypatch):
    """--allow-unsandboxed is passed down in the settings; the environment is left as it was."""
    monkeypatch.delenv("LORAPLACE_ALLOW_UNSANDBOXED", raising=False)
    pytester.makeconftest('pytest_plugins = ["loraplace.pytest_plugin.fixtures"]')
    pytester.makepyfile("""
        import os
        from loraplace.pytest_plugin.plugin import track_options

        def test_it(request, loraplace_settings):
            assert loraplace_settings.allow_unsandboxed is True
            assert track_options(request.config)["allow_unsandboxed"] is True
            assert "LORAPLACE_ALLOW_UNSANDBOXED" not in os.environ
    """)
    result = pytester.runpytest_inprocess("--allow-unsandboxed", "--evidence", "published", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "LORAPLACE_ALLOW_UNSANDBOXED" not in os.environ
