"""The gate floor: no test argument, marker or config may loosen what the release owner set."""

from __future__ import annotations

from pathlib import Path

import pytest

from igmu_audit.config import load_config
from igmu_audit.context import AuditContext, TestContext
from igmu_audit.errors import ConfigError
from igmu_audit.session import AuditSession


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def context(
    tmp_path: Path,
    spec_text: str,
    marker: dict[str, object] | None = None,
    task: str | None = None,
) -> AuditContext:
    spec = write(tmp_path / "audits" / "specs" / "x.yaml", spec_text)
    session = AuditSession(load_config(tmp_path, spec=spec))
    test = TestContext("tests/test_gate.py::test_a", marker or {})
    return AuditContext("assert_forgotten", session, test, task)


FLOOR = (
    "floor: {forgotten: {max_rate: 0.05, min_effective_prompts: 5, confidence: 0.95}}\n"
)


def test_looser_call_argument_names_both_sources(tmp_path: Path) -> None:
    ctx = context(tmp_path, FLOOR)
    with pytest.raises(ConfigError) as info:
        ctx.threshold("forgotten", "max_rate", 0.2)
    assert str(info.value).startswith(
        "max_rate=0.2 from call argument is looser than the gate floor 0.05 from "
        "audits/specs/x.yaml floor.forgotten.max_rate"
    )


def test_looser_marker_min_and_confidence_are_refused(tmp_path: Path) -> None:
    ctx = context(tmp_path, FLOOR, marker={"min_effective_prompts": 2})
    with pytest.raises(
        ConfigError,
        match=r"min_effective_prompts=2 from @pytest.mark.igmu is looser than the gate floor 5",
    ):
        ctx.threshold("forgotten", "min_effective_prompts", None)
    with pytest.raises(
        ConfigError, match=r"confidence=0.9 from call argument is looser .* 0.95"
    ):
        ctx.threshold("forgotten", "confidence", 0.9)


def test_stricter_values_apply_and_the_floor_fills_in(tmp_path: Path) -> None:
    ctx = context(tmp_path, FLOOR, marker={"min_effective_prompts": 8})
    strict = ctx.threshold("forgotten", "max_rate", 0.01)
    assert (strict.value, strict.source) == (0.01, "call argument")
    marker = ctx.threshold("forgotten", "min_effective_prompts", None)
    assert (marker.value, marker.source) == (8, "@pytest.mark.igmu")
    conf = ctx.threshold("forgotten", "confidence", 0.99)
    assert conf.value == 0.99
    equal = ctx.threshold("forgotten", "max_rate", 0.05)
    assert equal.source == "call argument"


def test_floor_replaces_a_looser_builtin_default(tmp_path: Path) -> None:
    # style's built-in forgotten.max_rate is 0.10: the floor's 0.05 is what gates
    ctx = context(tmp_path, FLOOR, task="style")
    found = ctx.threshold("forgotten", "max_rate", None)
    assert (found.value, found.source) == (
        0.05,
        "audits/specs/x.yaml floor.forgotten.max_rate",
    )
    conf = ctx.threshold("forgotten", "confidence", None)
    assert conf.value == 0.95
    # an aspect without a floor keeps its default
    assert ctx.threshold("robust_to", "max_rate", None).value == 0.20


def test_floor_alone_is_the_threshold_where_there_is_no_default(tmp_path: Path) -> None:
    ctx = context(tmp_path, "floor: {preserved: {max_kid: 0.02}}\n")
    found = ctx.threshold("preserved", "max_kid", None)
    assert (found.value, found.source) == (
        0.02,
        "audits/specs/x.yaml floor.preserved.max_kid",
    )
    with pytest.raises(ConfigError, match=r"max_kid=0.5 from call argument"):
        ctx.threshold("preserved", "max_kid", 0.5)


def test_a_stricter_default_confidence_beats_a_lower_floor(tmp_path: Path) -> None:
    ctx = context(tmp_path, "floor: {forgotten: {confidence: 0.9}}\n")
    assert ctx.threshold("forgotten", "confidence", None).value == 0.95


@pytest.mark.parametrize(
    ("spec_text", "message"),
    [
        (
            FLOOR + "thresholds: {forgotten: {max_rate: 0.2}}\n",
            r"max_rate=0.2 from x.yaml thresholds.forgotten.max_rate is looser than the "
            r"gate floor 0.05 from audits/specs/x.yaml floor.forgotten.max_rate",
        ),
        (
            FLOOR + "confidence: 0.9\n",
            r"confidence=0.9 from x.yaml confidence is looser .* floor.forgotten.confidence",
        ),
        (
            "floor: {forgotten: {max_rate: 5}}\n",
            r"x.yaml floor.forgotten.max_rate: expected a number in \[0, 1\] but got 5",
        ),
        ("floor: [1]\n", r"x.yaml floor: expected a mapping"),
    ],
)
def test_configured_values_looser_than_the_floor_fail_when_read(
    tmp_path: Path, spec_text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        context(tmp_path, spec_text)


def test_pyproject_profile_looser_than_floor_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[tool.igmu_audit.floor]\nforgotten = { max_rate = 0.05 }\n"
        "[tool.igmu_audit.profiles.style]\nforgotten = { max_rate = 0.3 }\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"max_rate=0.3 from pyproject.toml \[tool.igmu_audit.profiles.style\] "
        r"forgotten.max_rate is looser than the gate floor 0.05 from "
        r"pyproject.toml \[tool.igmu_audit\] floor.forgotten.max_rate",
    ):
        load_config(tmp_path)


def test_two_floors_combine_to_the_stricter(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        "[tool.igmu_audit.floor]\nforgotten = { max_rate = 0.02, confidence = 0.9 }\n",
    )
    spec = write(
        tmp_path / "s.yaml", "floor: {forgotten: {max_rate: 0.05, confidence: 0.99}}\n"
    )
    config = load_config(tmp_path, spec=spec)
    assert config.floor == {"forgotten": {"max_rate": 0.02, "confidence": 0.99}}
    assert config.floor_of("forgotten", "max_rate") == (
        0.02,
        "pyproject.toml [tool.igmu_audit] floor.forgotten.max_rate",
    )
    assert config.floor_of("forgotten", "confidence") == (
        0.99,
        "s.yaml floor.forgotten.confidence",
    )


def test_floor_cannot_come_from_the_command_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"command line floor: unknown key"):
        load_config(tmp_path, cli={"floor": {"forgotten": {"max_rate": 0.5}}})


def test_marker_override_of_config_is_checked_against_the_floor(tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", FLOOR)
    config = load_config(tmp_path, spec=spec)
    with pytest.raises(ConfigError, match=r"from @pytest.mark.igmu thresholds."):
        config.with_overrides(
            "@pytest.mark.igmu", thresholds={"forgotten": {"max_rate": 0.5}}
        )
