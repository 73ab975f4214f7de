"""Preservation metrics are declared once (igmu_audit/preservation_metrics.py) and
everything else derives from the declaration: thresholds, defaults, the keyword
arguments, the "can this be measured" check before any image, and the README table."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import torch

from igmu_audit import ConfigError, assert_preserved
from igmu_audit.config.profiles import GLOBAL
from igmu_audit.config.thresholds import THRESHOLD_KEYS, check_threshold
from igmu_audit.pipelines import generation
from igmu_audit.preservation_audit import NOTHING
from igmu_audit.preservation_metrics import (
    BY_NAME,
    DEFAULTS,
    KEYS,
    METRICS,
    metrics_table,
)

README = Path(__file__).resolve().parents[1] / "README.md"
PROMPTS = [f"a retained prompt number {i}" for i in range(3)]


def test_the_readme_table_is_the_declaration() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- preservation-metrics:start")
    body = text[
        text.index("\n", start) + 1 : text.index("<!-- preservation-metrics:end")
    ]
    assert body.strip() == metrics_table()
    assert len(metrics_table().splitlines()) == 2 + len(METRICS)


def test_thresholds_defaults_and_keywords_derive_from_the_declaration() -> None:
    assert THRESHOLD_KEYS["preserved"] == (*KEYS, "confidence")
    assert (
        GLOBAL["preserved"] == DEFAULTS == {"max_csdr": 0.10, "max_accuracy_drop": 0.10}
    )
    params = inspect.signature(assert_preserved).parameters
    thresholds = [n for n in params if n.startswith(("max_", "min_"))]
    assert sorted(thresholds) == sorted(KEYS)
    assert all(params[key].default is None for key in KEYS)
    for m in METRICS:
        if m.share:
            with pytest.raises(ConfigError, match=r"a number in \[0, 1\]"):
                check_threshold("call argument", m.key, 1.5)
        else:
            assert check_threshold("call argument", m.key, 1.5) == 1.5


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many images the pipelines were asked to draw, batch by batch."""
    counts: list[int] = []
    real = generation._run_pipeline

    def counting(pipe: Any, fields: Any) -> Any:
        counts.append(len(fields))
        return real(pipe, fields)

    monkeypatch.setattr(generation, "_run_pipeline", counting)
    return counts


def _pngs(session: Any) -> list[Path]:
    return list(Path(session.config.cache_dir).rglob("*.png"))


def test_nothing_judgeable_is_refused_before_any_image(
    audit_session: Any, tiny_model: Any, generated: list[int]
) -> None:
    # only built-in defaults (CSDR, accuracy drop) and neither CLIP nor a detector given
    with pytest.raises(ConfigError) as info:
        assert_preserved(tiny_model, tiny_model, PROMPTS)
    assert str(info.value) == NOTHING
    with pytest.raises(
        ConfigError,
        match=r"^max_kid=0.1 \(from call argument\) cannot be measured without features=",
    ):
        assert_preserved(tiny_model, tiny_model, PROMPTS, max_kid=0.1)
    with pytest.raises(
        ConfigError, match=r"max_fd needs at least 4 image pairs .* got 2"
    ):
        assert_preserved(
            tiny_model, tiny_model, PROMPTS[:1], features=lambda x: x, max_fd=1.0
        )
    assert generated == []
    assert _pngs(audit_session) == []


def test_measured_values_carry_their_declared_name_and_direction(
    audit_session: Any, tiny_model: Any, generated: list[int]
) -> None:
    from igmu_audit.detectors import CustomDetector

    def ones(images: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(images))

    result = assert_preserved(
        tiny_model, tiny_model, {"red": PROMPTS}, detector=lambda c: CustomDetector(ones, name=c),
        min_accuracy=0.2, max_accuracy_drop=0.5,
    )  # fmt: skip
    assert [c.metric for c in result.checks] == ["accuracy drop", "accuracy"]
    for check in result.checks:
        metric = BY_NAME[check.metric]
        assert (check.direction, check.threshold.name) == (metric.direction, metric.key)
    # 3 prompts x 2 seeds; the original is the same model, so its images are cache hits
    assert sum(generated) == len(PROMPTS) * 2


def test_configured_retain_detector_is_used_without_detector_argument(
    tmp_path: Path, tiny_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from igmu_audit import register_detector
    from igmu_audit.config import load_config
    from igmu_audit.detectors import CustomDetector, registry
    from igmu_audit.session import AuditSession, activate, current_session

    def ones(images: torch.Tensor) -> torch.Tensor:
        return torch.ones(len(images))

    monkeypatch.setattr(registry, "_registered", {})
    register_detector("always-yes", lambda concept: CustomDetector(ones, name=concept))
    cli = {
        "seeds": "0-1",
        "steps": 2,
        "devices": "cpu",
        "retain_detector": "always-yes",
    }
    previous = current_session()
    activate(AuditSession(load_config(tmp_path, cli=cli)))
    try:
        result = assert_preserved(
            tiny_model,
            tiny_model,
            {"red": PROMPTS},
            min_accuracy=0.2,
            max_accuracy_drop=0.5,
        )
    finally:
        activate(previous)
    assert [c.metric for c in result.checks] == ["accuracy drop", "accuracy"]
    assert result.checks[1].value == 1.0


def test_accuracy_is_broken_down_per_retain_class() -> None:
    """A pooled drop can hide an untouched class beside a wrecked one: each class is shown."""
    from igmu_audit.detectors import CustomDetector
    from igmu_audit.preservation import MeasurePlan, measure
    from igmu_audit.results import PreservationResult

    def bright(images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1).mean(1)

    def always(images: torch.Tensor) -> torch.Tensor:
        return torch.ones(images.shape[0])

    unlearned, original = torch.zeros(6, 3, 8, 8), torch.ones(6, 3, 8, 8)
    unlearned[5:] = 1.0  # one of the three "dark" pairs is intact
    detectors = {"lit": CustomDetector(always, name="lit"), "dark": CustomDetector(bright, name="dark")}  # fmt: skip
    plan = MeasurePlan(None, None, detectors, 0.95, lambda key: True)
    measured = measure(unlearned, original, ["p"] * 6, ["lit"] * 3 + ["dark"] * 3, plan)
    drop = next(m for m in measured if m.key == "max_accuracy_drop")
    rows = drop.extra["by_category"]
    assert rows["lit"] == {"n": 3, "accuracy_original": 1.0, "accuracy_unlearned": 1.0, "drop": 0.0}  # fmt: skip
    assert rows["dark"]["n"] == 3
    assert rows["dark"]["drop"] == pytest.approx(2 / 3)
    assert drop.value == pytest.approx(2 / 6)
    from igmu_audit.prompt_evidence import ModelInfo

    result = PreservationResult(
        assertion="assert_preserved", concept="retain", verdict="fail", checks=(),
        model=ModelInfo("m", "sha256:0"), metrics={"accuracy drop": {"value": drop.value, **drop.extra}},
    )  # fmt: skip
    lines = "\n".join(result.detail_lines())
    assert "class       dark: accuracy 1.000 -> 0.333 (drop +0.667, n = 3)" in lines
    assert "class       lit: accuracy 1.000 -> 1.000 (drop +0.000, n = 3)" in lines


def test_csdr_is_broken_down_per_retain_class() -> None:
    """A pooled CSDR under its threshold can hide one damaged class: each class is shown."""
    import numpy as np

    from igmu_audit.clip_models import load_clip
    from igmu_audit.preservation import MeasurePlan, measure
    from igmu_audit.toyworld.data import render, to_tensor

    rng = np.random.default_rng(0)
    prompts = ["a plain red circle"] * 2 + ["a dotted blue square"] * 2
    drawn = [render("circle", "red", "plain", 0.5, rng) for _ in range(2)]
    drawn += [render("square", "blue", "dotted", 0.5, rng) for _ in range(2)]
    original = to_tensor(np.stack(drawn))
    unlearned = original.clone()
    unlearned[2:] = to_tensor(
        np.stack([render("circle", "green", "striped", 0.5, rng)] * 2)
    )
    plan = MeasurePlan(load_clip("toyworld"), None, None, 0.95, lambda key: True, [0, 0, 1, 1], "per-prompt")  # fmt: skip
    measured = measure(unlearned, original, prompts, ["plain", "plain", "dotted", "dotted"], plan)  # fmt: skip
    rows = next(m for m in measured if m.key == "max_csdr").extra["by_category"]
    assert rows["plain"]["csdr"] == 0.0
    assert rows["plain"]["n"] == 1  # one prompt (per-prompt aggregation)
    assert rows["dotted"]["csdr"] > 0.1
    assert rows["dotted"]["low"] <= rows["dotted"]["csdr"] <= rows["dotted"]["high"]
