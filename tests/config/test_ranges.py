"""Range checks: edge values pass, every source is named the way the user wrote the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from igmu_audit.config import load_config
from igmu_audit.config.schema import MAX_SEED
from igmu_audit.config.sources import Layer
from igmu_audit.context import AuditContext, TestContext
from igmu_audit.errors import ConfigError
from igmu_audit.session import AuditSession


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_edge_values_are_accepted(tmp_path: Path) -> None:
    spec = write(
        tmp_path / "s.yaml",
        f"seeds: [0, {MAX_SEED}]\nsteps: 10000\nbatch_size: 1024\nresolution: [8, 4096]\n"
        "guidance_scale: 0\nconfidence: 0.5\n"
        "thresholds:\n  forgotten: {max_rate: 0, min_effective_prompts: 1, confidence: 0.9999}\n"
        "  preserved: {max_csdr: 1, min_accuracy: 1.0, max_kid: 1000000, max_fd: 0}\n",
    )
    config = load_config(tmp_path, spec=spec)
    assert config.seeds == (0, MAX_SEED)
    assert (config.steps, config.batch_size, config.resolution) == (
        10000,
        1024,
        (8, 4096),
    )
    assert config.confidence == 0.5
    assert config.thresholds["forgotten"] == {
        "max_rate": 0.0,
        "min_effective_prompts": 1,
        "confidence": 0.9999,
    }
    assert config.thresholds["preserved"]["max_kid"] == 1e6


def test_text_sources_parse_numbers_and_name_the_flag_or_ini_key(
    tmp_path: Path,
) -> None:
    config = load_config(
        tmp_path, cli={"steps": "12", "guidance_scale": "3.5"}, ini={"batch_size": "4"}
    )
    assert (config.steps, config.guidance_scale, config.batch_size) == (12, 3.5, 4)
    with pytest.raises(ConfigError, match=r"^command line --igmu-guidance: expected"):
        load_config(tmp_path, cli={"guidance_scale": "inf"})
    with pytest.raises(ConfigError, match=r"^command line --igmu-device: expected"):
        load_config(tmp_path, cli={"devices": "gpu"})
    with pytest.raises(
        ConfigError,
        match=r"^pytest ini igmu_steps: expected an integer in \[1, 10000\]",
    ):
        load_config(tmp_path, ini={"steps": "0"})


def test_cli_labels_match_the_plugin_options() -> None:
    from igmu_audit.plugin import FLAGS, OPTIONS

    layer = Layer("command line", {}, Path())
    flags = {key: flag for flag, key, _ in OPTIONS} | {
        key: flag for flag, key, _, _ in FLAGS
    }
    flags.pop("spec")
    assert {key: layer.label(key) for key in flags} == flags


def test_integral_floats_are_not_counts(tmp_path: Path) -> None:
    spec = write(
        tmp_path / "s.yaml", "thresholds: {forgotten: {min_effective_prompts: 3.0}}\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"s.yaml thresholds.forgotten.min_effective_prompts: expected an integer in \[1, 100000\] but got 3.0",
    ):
        load_config(tmp_path, spec=spec)


def _context(tmp_path: Path, marker: dict[str, object]) -> AuditContext:
    session = AuditSession(load_config(tmp_path))
    return AuditContext(
        "assert_forgotten", session, TestContext("t.py::test_x", marker), None
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("max_rate", 5, r"a number in \[0, 1\] but got 5"),
        ("max_rate", float("nan"), r"a number in \[0, 1\] but got nan"),
        ("max_rate", True, r"a number in \[0, 1\] but got True"),
        ("max_rate", "0.05", r"a number in \[0, 1\] but got '0.05'"),
        ("max_kid", float("inf"), r"a finite number >= 0 but got inf"),
        ("max_fd", -1.0, r"a finite number >= 0 but got -1.0"),
        ("confidence", 1.0, r"a number in \[0.5, 1\) but got 1.0"),
        ("confidence", 7, r"a number in \[0.5, 1\) but got 7"),
        ("min_effective_prompts", 2.5, r"an integer in \[1, 100000\] but got 2.5"),
        ("min_effective_prompts", 0, r"an integer in \[1, 100000\] but got 0"),
    ],
)
def test_call_arguments_and_markers_are_range_checked(
    tmp_path: Path, name: str, value: object, expected: str
) -> None:
    ctx = _context(tmp_path, {name: value})
    aspect = "preserved" if name in {"max_kid", "max_fd"} else "forgotten"
    with pytest.raises(
        ConfigError, match=rf"^call argument {name}: expected {expected}"
    ):
        ctx.threshold(aspect, name, value)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError,
        match=rf"^@pytest.mark.igmu on t.py::test_x {name}: expected {expected}",
    ):
        ctx.threshold(aspect, name, None)


def test_valid_call_and_marker_values_keep_their_source(tmp_path: Path) -> None:
    ctx = _context(tmp_path, {"max_rate": 0.2})
    assert ctx.threshold("forgotten", "max_rate", None).source == "@pytest.mark.igmu"
    found = ctx.threshold("forgotten", "max_rate", 0.01)
    assert (found.value, found.source) == (0.01, "call argument")
    assert ctx.threshold("forgotten", "confidence", None).value == 0.95


def test_a_nonsense_threshold_stops_the_run_before_any_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makefile(".yaml", spec="thresholds: {forgotten: {max_rate: 5}}\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--igmu-spec=spec.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*igmu-audit: spec.yaml thresholds.forgotten.max_rate: "
            "expected a number in [[]0, 1[]] but got 5*"
        ]
    )
