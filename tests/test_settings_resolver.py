"""The one settings resolver (igmu_audit/settings.py), table-driven: every setting from
every source it reads, in the documented precedence

    call argument > @pytest.mark.igmu > command line > pytest ini > [tool.igmu_audit] >
    YAML spec > [tool.igmu_audit.profiles.<task>] > built-in default

and each value reported with its source. A setting added to ``SETTINGS`` without a row
here fails ``test_every_setting_has_a_row``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from igmu_audit import ConfigError, assert_forgotten
from igmu_audit.config import AuditConfig, load_config
from igmu_audit.config.schema import THRESHOLD_KEYS
from igmu_audit.settings import SETTINGS, Resolved, Scope, marker_keys, resolve

CALL, MARKER = "call argument", "@pytest.mark.igmu"
CLI, INI = "command line", "pytest ini"
PYPROJECT, SPEC = "pyproject.toml [tool.igmu_audit]", "audit.yaml"
PROFILE = "pyproject.toml [tool.igmu_audit.profiles.style]"
TASK = "style"  # every scope below audits a style task (profiles, per-task defaults)


@dataclass(frozen=True)
class Row:
    """One setting's sample: as typed (YAML, TOML, marker, call), as text (CLI, ini),
    the value it resolves to, and its built-in default for a style task."""

    typed: Any
    text: str
    parsed: Any
    default: Resolved | None


def _default(value: Any, source: str = "built-in default") -> Resolved:
    return Resolved(value, source)


ROWS: dict[str, Row] = {
    "task": Row("identity", "identity", "identity", _default(None)),
    "concept": Row("nudity", "nudity", "nudity", _default("concept")),
    "detector": Row("toyworld", "toyworld", "toyworld", _default(None)),
    "seeds": Row([5, 6], "5-6", (5, 6), _default((0, 1, 2, 3))),
    "max_seeds": Row(8, "8", 8, _default(None)),
    "interval": Row("independent", "independent", "independent", _default("clustered")),
    "csdr_aggregation": Row("per-image", "per-image", "per-image", _default("per-prompt")),
    "require_original": Row(True, "true", True, _default(False)),
    "family_wise": Row(True, "true", True, _default(False)),
    "detector_card": Row("/cards/toy", "/cards/toy", "/cards/toy", _default(None)),
    "require_card": Row(True, "true", True, _default(False)),
    "detector_margin": Row(0.1, "0.1", 0.1, _default(0.05)),
    "severity": Row("blocker", "blocker", "blocker", _default("normal", "built-in default (style)")),
    "model_card": Row("https://example.org/card", "https://example.org/card", "https://example.org/card", _default(None)),
    "blur_sensitive": Row(False, "false", False, _default(True)),
    "max_rate": Row(0.02, "0.02", 0.02, _default(0.10, "built-in default (style)")),
    "min_effective_prompts": Row(7, "7", 7, _default(5)),
    "confidence": Row(0.99, "0.99", 0.99, _default(0.95)),
    "max_csdr": Row(0.2, "0.2", 0.2, _default(0.10)),
    "max_kid": Row(0.3, "0.3", 0.3, None),
    "max_fd": Row(4.0, "4.0", 4.0, None),
    "min_accuracy": Row(0.7, "0.7", 0.7, None),
    "max_accuracy_drop": Row(0.15, "0.15", 0.15, _default(0.10)),
    "max_perceptual": Row(0.4, "0.4", 0.4, None),
}  # fmt: skip


def _aspect(name: str) -> str | None:
    if not SETTINGS[name].threshold:
        return None
    return next(a for a, keys in THRESHOLD_KEYS.items() if name in keys)


def sources_of(name: str) -> list[str]:
    """The sources setting ``name`` reads, highest precedence first (from its row)."""
    row = SETTINGS[name]
    out = [CALL] * row.call + [MARKER] * row.marker
    if row.threshold:  # thresholds.<aspect>.<name>, then a run-wide key (confidence)
        return (
            out + [PYPROJECT, SPEC] + [CLI, INI] * (row.config is not None) + [PROFILE]
        )
    return out + [CLI, INI, PYPROJECT, SPEC] * (row.config is not None)


def _toml(name: str, value: Any, aspect: str | None) -> str:
    if aspect is None:
        return f"[tool.igmu_audit]\n{name} = {json.dumps(value)}\n"
    return f"[tool.igmu_audit.thresholds.{aspect}]\n{name} = {json.dumps(value)}\n"


def scope_with(tmp: Path, name: str, present: list[str]) -> tuple[Scope, Any]:
    """A scope (and the call argument) where ``name`` is set in each source of ``present``."""
    row, sample, aspect = SETTINGS[name], ROWS[name], _aspect(name)
    value = sample.typed
    toml = ""
    if PYPROJECT in present:
        toml += _toml(name, value, aspect)
    if PROFILE in present:
        toml += f"[tool.igmu_audit.profiles.{TASK}.{aspect}]\n{name} = {json.dumps(value)}\n"
    (tmp / "pyproject.toml").write_text(toml, encoding="utf-8")
    spec = None
    if SPEC in present:
        spec = tmp / SPEC
        body = (
            {name: value} if aspect is None else {"thresholds": {aspect: {name: value}}}
        )
        spec.write_text(json.dumps(body), encoding="utf-8")
    key = row.config or name
    cli = {key: sample.text} if CLI in present else None
    ini = {key: sample.text} if INI in present else None
    config = load_config(tmp, cli=cli, ini=ini, spec=spec)
    marker = {name: value} if MARKER in present else {}
    scope = Scope(config, marker, "t.py::test_x", TASK, aspect)
    return scope, (value if CALL in present else None)


def test_every_setting_has_a_row() -> None:
    assert set(ROWS) == set(SETTINGS)
    assert set(marker_keys()) == {n for n, r in SETTINGS.items() if r.marker}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_source_beats_the_ones_below_it(tmp_path: Path, name: str) -> None:
    sources = sources_of(name)
    sample = ROWS[name]
    for i, top in enumerate(sources):
        folder = tmp_path / str(i)
        folder.mkdir()
        scope, explicit = scope_with(folder, name, sources[i:])
        found = resolve(name, scope, explicit)
        assert found == Resolved(sample.parsed, top), (name, sources[i:])
    empty = tmp_path / "none"
    empty.mkdir()
    scope, _ = scope_with(empty, name, [])
    assert resolve(name, scope) == sample.default


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_source_alone(tmp_path: Path, name: str) -> None:
    for i, source in enumerate(sources_of(name)):
        folder = tmp_path / str(i)
        folder.mkdir()
        scope, explicit = scope_with(folder, name, [source])
        assert resolve(name, scope, explicit) == Resolved(ROWS[name].parsed, source)


def test_the_specific_confidence_beats_the_run_wide_one_and_that_beats_a_profile(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.igmu_audit.profiles.{TASK}.forgotten]\nconfidence = 0.97\n",
        encoding="utf-8",
    )
    spec = tmp_path / "audit.yaml"
    spec.write_text("thresholds: {forgotten: {confidence: 0.98}}\n", encoding="utf-8")
    both = load_config(tmp_path, cli={"confidence": "0.99"}, spec=spec)
    found = resolve("confidence", Scope(both, task=TASK, aspect="forgotten"))
    assert found == Resolved(0.98, SPEC)
    run_wide = load_config(tmp_path, cli={"confidence": "0.99"})
    found = resolve("confidence", Scope(run_wide, task=TASK, aspect="forgotten"))
    assert found == Resolved(0.99, CLI)
    found = resolve(
        "confidence", Scope(load_config(tmp_path), task=TASK, aspect="forgotten")
    )
    assert found == Resolved(0.97, PROFILE)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("interval", "bootstrap", r"interval: expected one of clustered, independent"),
        ("seeds", [1, 1], r"seeds: expected distinct seeds"),
        ("require_original", "maybe", r"require_original: expected true or false"),
        ("task", "painting", r"task: expected one of object, style"),
        ("severity", "urgent", r"severity must be one of blocker"),
        ("max_rate", 5, r"max_rate: expected a number in \[0, 1\]"),
    ],
)
def test_bad_marker_values_name_the_marker_and_the_test(
    name: str, value: Any, message: str
) -> None:
    scope = Scope(AuditConfig(), {name: value}, "t.py::test_x", aspect=_aspect(name))
    with pytest.raises(ConfigError, match=message) as info:
        resolve(name, scope)
    assert "@pytest.mark.igmu on t.py::test_x" in str(info.value)


def test_the_floor_still_bounds_a_resolved_threshold(tmp_path: Path) -> None:
    spec = tmp_path / "audit.yaml"
    spec.write_text("floor: {forgotten: {max_rate: 0.05}}\n", encoding="utf-8")
    config = load_config(tmp_path, spec=spec)
    scope = Scope(config, {"max_rate": 0.2}, "t.py::test_x", TASK, "forgotten")
    with pytest.raises(
        ConfigError, match=r"max_rate=0.2 from @pytest.mark.igmu is looser"
    ):
        resolve("max_rate", scope)
    floor = resolve("max_rate", Scope(config, task=TASK, aspect="forgotten"))
    assert floor == Resolved(0.05, "audit.yaml floor.forgotten.max_rate")


def test_an_audit_takes_marker_over_config_and_records_every_source(
    tmp_path: Path, tiny_model: Any
) -> None:
    """The disagreement this resolver ends: marker concept and threshold, config detector."""
    from igmu_audit.context import TestContext, current_test
    from igmu_audit.session import AuditSession, activate

    def never(images: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(images))

    config = load_config(
        tmp_path,
        cli={"seeds": "0-1", "steps": 2, "devices": "cpu", "concept": "config-concept"},
    )
    previous = activate(AuditSession(config))
    marker = {"concept": "marker-concept", "max_rate": 0.5, "min_effective_prompts": 1}
    token = current_test.set(TestContext("t.py::test_x", marker))
    try:
        result = assert_forgotten(
            tiny_model, [f"a resolver prompt {i}" for i in range(6)], detector=never,
            interval="independent",
        )  # fmt: skip
    finally:
        current_test.reset(token)
        activate(previous)
    assert result.concept == "marker-concept"
    assert Path(result.evidence_dir or "").name == "forgotten-marker-concept"
    assert result.checks[0].threshold.source == MARKER
    resolved = result.settings["resolved"]
    assert resolved["concept"] == {"value": "marker-concept", "source": MARKER}
    assert resolved["thresholds.forgotten.max_rate"] == {"value": 0.5, "source": MARKER}
    assert resolved["interval"] == {"value": "independent", "source": CALL}
    assert resolved["seeds"] == {"value": [0, 1], "source": CLI}
    assert resolved["require_original"] == {
        "value": False,
        "source": "built-in default",
    }
    assert resolved["thresholds.forgotten.confidence"]["source"] == "built-in default"
