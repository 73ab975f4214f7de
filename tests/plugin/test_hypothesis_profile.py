"""Which Hypothesis profile an audit run loads: one rule, in ``prompts/profiles.py``."""

from __future__ import annotations

import pytest

from igmu_audit.prompts.profiles import (
    chosen_profile,
    load_profile,
    profile_for_environment,
)

CI = {"CI": "true"}


@pytest.mark.parametrize(
    ("igmu_profile", "environ", "expected"),
    [
        (None, {}, None),  # a developer's run: Hypothesis' own default
        (None, CI, "igmu-ci"),  # CI derandomises
        (None, {"CI": ""}, None),  # an empty CI variable is not CI
        ("ci", {}, "igmu-ci"),
        ("igmu-ci", {}, "igmu-ci"),
        ("dev", CI, "igmu-dev"),  # the settings profile beats the environment
        ("igmu-dev", {}, "igmu-dev"),
        ("gpu", CI, None),  # another settings profile leaves Hypothesis alone
    ],
)
def test_the_settings_profile_and_the_environment_choose_the_hypothesis_profile(
    igmu_profile: str | None, environ: dict[str, str], expected: str | None
) -> None:
    assert chosen_profile(igmu_profile, environ) == expected


def test_profile_for_environment_follows_the_same_rule() -> None:
    assert profile_for_environment(CI) == "igmu-ci"
    assert profile_for_environment({}) == "igmu-dev"


def test_the_users_own_hypothesis_profile_wins() -> None:
    assert load_profile("ci", hypothesis_profile="mine", environ=CI) is None
    assert load_profile("gpu", environ=CI) is None


def test_dev_settings_profile_loads_igmu_dev_under_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(
        "from hypothesis import settings\n"
        "def test_profile():\n"
        "    assert not settings.default.derandomize\n"
        "    assert settings.default.deadline is None\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--igmu-profile=dev"
    )
    result.assert_outcomes(passed=1)


def test_shrinking_uses_the_loaded_profile_not_only_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `--igmu-profile ci` without a CI variable loads igmu-ci; the shrinker used to
    # re-decide from the environment (igmu-dev: example database on), so a second run
    # replayed the first one's leak and wrote another shrink trail.
    import hypothesis
    from hypothesis import settings
    from hypothesis import strategies as st

    from igmu_audit.robustness import shrink_leak

    monkeypatch.delenv("CI", raising=False)
    seen: list[settings] = []

    def fake_find(specifier: object, condition: object, *, settings: settings, **_: object) -> None:  # fmt: skip
        seen.append(settings)
        raise hypothesis.errors.NoSuchExample("x")

    previous = settings.get_current_profile_name()
    assert load_profile("ci", environ={}) == "igmu-ci"
    try:
        monkeypatch.setattr(hypothesis, "find", fake_find)
        shrink_leak(st.just("a striped circle"), [0], lambda p, s: False, key="k")
    finally:
        settings.load_profile(previous)
    assert seen
    assert all(s.derandomize and s.database is None for s in seen)
