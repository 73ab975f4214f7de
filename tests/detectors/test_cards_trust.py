"""A leak audit's detector trust: which card, the corrected judge, the record block."""

from __future__ import annotations

from pathlib import Path

import pytest

from igmu_audit._paths import fixtures_dir
from igmu_audit.config import load_config
from igmu_audit.detector_trust import (
    DetectorScores,
    card_path,
    missing_card_check,
    trust_of,
    trust_record,
    trusted_judge,
)
from igmu_audit.errors import ConfigError
from igmu_audit.results import Threshold
from igmu_audit.toyworld.detector import ToyWorldDetector

CARDS = fixtures_dir() / "toyworld" / "cards"
MAX_RATE = Threshold("max_rate", 0.10, "test")


def _config(tmp_path: Path, text: str) -> object:
    (tmp_path / "audit.yaml").write_text(text)
    return load_config(tmp_path, spec=tmp_path / "audit.yaml")


def test_card_path_rules() -> None:
    circle = ToyWorldDetector("circle")
    assert card_path(None, circle) is None
    assert card_path(str(CARDS), circle) == CARDS / "circle.json"
    assert card_path({"toyworld": str(CARDS)}, circle) == CARDS / "circle.json"
    assert card_path({"nudenet-igmu": "x.json"}, circle) is None


def test_a_valid_card_from_the_config(tmp_path: Path) -> None:
    trust = trust_of(
        _config(tmp_path, f"detector_card: {CARDS}\n"), ToyWorldDetector("red")
    )
    assert trust.card is not None
    assert trust.card.concept == "red"
    assert (trust.problem, trust.required, trust.margin, trust.blocks) == (
        None,
        False,
        0.05,
        False,
    )


def test_a_card_for_another_concept_is_not_used_and_says_why(tmp_path: Path) -> None:
    config = _config(
        tmp_path, f"detector_card: {CARDS / 'blue.json'}\nrequire_card: true\n"
    )
    trust = trust_of(config, ToyWorldDetector("red"))
    assert trust.card is None
    assert trust.blocks
    assert trust.problem is not None
    assert "concept: card has 'blue', the detector in use has 'red'" in trust.problem
    check = missing_card_check(trust, 0.95)
    assert check.verdict == "inconclusive"
    assert "require_card is true (from" in check.note
    assert "calibrate" in check.note


def test_an_unreadable_card_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="'format' is None"):
        trust_of(
            _config(tmp_path, "detector_card: bad.json\n"), ToyWorldDetector("red")
        )


def test_no_card_gives_the_raw_check_and_an_uncalibrated_record(tmp_path: Path) -> None:
    trust = trust_of(
        _config(tmp_path, "require_card: false\n"), ToyWorldDetector("red")
    )
    scores = [0.9] * 3 + [0.1] * 297
    check = trusted_judge(
        trust, scores, 30, MAX_RATE, 0.5, interval="independent", looks=1
    )(0.95)
    assert check.value == pytest.approx(0.01)
    assert check.verdict == "pass"
    block = trust_record(
        trust,
        DetectorScores(scores, 30),
        MAX_RATE,
        0.5,
        confidence=0.95,
        interval="independent",
        looks=1,
    )
    assert block["calibrated"] is False
    assert block["card"] is None
    assert "no detector card" in block["card_problem"]
    assert "correction" not in block
    assert block["sensitivity"]["sensitive"] is False


def test_with_a_card_the_check_is_corrected_and_the_raw_rate_kept(
    tmp_path: Path,
) -> None:
    trust = trust_of(
        _config(tmp_path, f"detector_card: {CARDS}\n"), ToyWorldDetector("red")
    )
    scores = [0.9] * 12 + [0.1] * 288
    judge = trusted_judge(
        trust, scores, 30, MAX_RATE, 0.5, interval="independent", looks=1
    )
    raw = trusted_judge(
        trust_of(_config(tmp_path, "require_card: false\n"), ToyWorldDetector("red")),
        scores, 30, MAX_RATE, 0.5, interval="independent", looks=1,
    )(0.95)  # fmt: skip
    check = judge(0.95)
    assert check.value == pytest.approx(0.04)  # the toy card: se = sp = 1 on renders
    assert check.interval.high > raw.interval.high  # calibration uncertainty widens it
    assert "rogan-gladen" in check.interval.method
    assert "raw rate 0.040" in check.note
    block = trust_record(
        trust,
        DetectorScores(scores, 30),
        MAX_RATE,
        0.5,
        confidence=0.95,
        interval="independent",
        looks=1,
    )
    assert block["calibrated"] is True
    assert block["card"]["concept"] == "red"
    assert block["correction"]["raw"] == pytest.approx(0.04)
    assert block["correction"]["raw_interval"] == [raw.interval.low, raw.interval.high]
    assert "scores" not in block["card"]


def test_scores_bunched_at_the_threshold_are_detector_sensitive(tmp_path: Path) -> None:
    trust = trust_of(
        _config(tmp_path, f"detector_card: {CARDS}\ndetector_margin: 0.1\n"),
        ToyWorldDetector("red"),
    )
    scores = [0.55] * 60 + [0.1] * 240  # 20 % at 0.5, none above 0.55
    block = trust_record(
        trust,
        DetectorScores(scores, 30),
        MAX_RATE,
        0.5,
        confidence=0.95,
        interval="independent",
        looks=1,
    )
    assert block["sensitivity"]["sensitive"] is True
    verdicts = dict(block["sensitivity"]["verdicts"])
    assert verdicts[0.5] == "fail"
    assert verdicts[0.6] == "pass"
