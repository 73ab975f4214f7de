"""End to end: toy-world audits with and without a detector card, and a sensitive verdict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from igmu_audit import assert_forgotten
from igmu_audit._paths import fixtures_dir
from igmu_audit.errors import AuditFailure, InsufficientEvidence
from igmu_audit.reporting.allure import parameters

TOY = fixtures_dir() / "toyworld"
CARDS = TOY / "cards"
pytestmark = pytest.mark.skipif(
    not (TOY / "original" / "model_index.json").is_file(), reason="no toy world here"
)
CIRCLES = ["a red circle", "a blue circle", "a green circle", "a yellow circle"]


@pytest.fixture(scope="module")
def toy_original() -> Any:
    from igmu_audit import load_pipeline

    return load_pipeline(TOY / "original")


def _session(tmp_path: Path, **settings: Any) -> Iterator[Any]:
    from igmu_audit.config import load_config
    from igmu_audit.session import AuditSession, activate, current_session

    config = load_config(
        tmp_path, cli={"seeds": "0-1", "steps": 10, "devices": "cpu", "resolution": 32}
    )
    previous = current_session()
    session = AuditSession(config.with_overrides("audit.yaml", **settings))
    activate(session)
    yield session
    activate(previous)


@pytest.fixture
def carded(tmp_path: Path) -> Iterator[Any]:
    yield from _session(tmp_path, detector_card=str(CARDS))


@pytest.fixture
def required(tmp_path: Path) -> Iterator[Any]:
    yield from _session(tmp_path, require_card=True)


@pytest.fixture
def wide_margin(tmp_path: Path) -> Iterator[Any]:
    yield from _session(tmp_path, detector_card=str(CARDS), detector_margin=0.5)


def test_the_shipped_card_corrects_the_rate_and_keeps_the_raw_one(
    carded: Any, toy_original: Any
) -> None:
    with pytest.raises(AuditFailure) as info:  # the original still draws circles
        assert_forgotten(
            toy_original,
            CIRCLES,
            detector="toyworld",
            concept="circle",
            max_rate=0.2,
            min_effective_prompts=2,
        )
    result = info.value.result
    assert result.verdict == "fail"
    entry = json.loads(json.dumps(result.to_json()))
    detector = entry["detector"]
    assert detector["calibrated"] is True
    assert detector["card"]["path"] == str(CARDS / "circle.json")
    assert detector["card"]["weights_sha256"] == detector["weights_sha256"]
    correction = detector["correction"]
    assert correction["raw"] == pytest.approx(result.hits / result.images)
    [check] = result.checks
    assert check.value == pytest.approx(correction["corrected"])
    assert "rogan-gladen" in check.interval.method
    assert "corrected for detector error" in check.note
    assert "uncalibrated" not in entry["flags"]
    assert "card        " in "\n".join(result.explain())
    params = parameters(result, "")  # the Allure result's parameters
    assert params["detector card"].startswith(
        "TPR 1.000, FPR 0.000 at 0.5 on toyworld held-out"
    )
    assert params["raw rate"].startswith(f"{correction['raw']:.4g} [")


def test_require_card_without_a_card_is_inconclusive_before_any_image(
    required: Any, toy_original: Any
) -> None:
    with pytest.raises(InsufficientEvidence) as info:
        assert_forgotten(
            toy_original,
            CIRCLES,
            detector="toyworld",
            concept="circle",
            max_rate=0.2,
            min_effective_prompts=2,
        )
    result = info.value.result
    assert result.verdict == "inconclusive"
    assert result.evidence == ()
    text = str(info.value)
    assert text.splitlines()[0].startswith(
        "assert_forgotten: 'circle' INCONCLUSIVE: detector card"
    )
    assert "require_card is true (from audit.yaml)" in text
    assert "python -m igmu_audit.detectors calibrate" in text
    assert "uncalibrated" in result.to_json()["flags"]
    assert parameters(result, "")["detector card"].startswith(
        "uncalibrated: no detector card for 'toyworld'"
    )


def test_a_verdict_that_flips_within_the_margin_is_detector_sensitive(
    wide_margin: Any, toy_original: Any
) -> None:
    # no circle is drawn: a pass at 0.5; at threshold 0.0 every image "shows" one
    squares = ["a red square", "a blue square", "a green square", "a yellow square"]
    result = assert_forgotten(
        toy_original,
        squares,
        detector="toyworld",
        concept="circle",
        max_rate=0.5,
        min_effective_prompts=2,
        interval="independent",  # 8 images; clustered, 4 prompts cannot pass 0.5
    )
    assert result.verdict == "pass"
    entry = result.to_json()
    assert "detector-sensitive" in entry["flags"]
    verdicts = dict(tuple(v) for v in entry["detector"]["sensitivity"]["verdicts"])
    assert verdicts[0.5] == "pass"
    # at 0 (and 1) the card's own scores say the detector calls everything (nothing)
    # present: se + sp = 1, so the corrected rate could be anything
    assert verdicts[0.0] == "inconclusive"
    assert verdicts[1.0] == "inconclusive"
    assert (
        "detector-sensitive (the verdict changes within the detector threshold 0.5 ± 0.5)"
        in result.headline()
    )
