"""Detector card format: round trip, strict loading, identity checks (igmu_audit/detectors/cards.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from igmu_audit._paths import fixtures_dir
from igmu_audit.detectors.calibrate import calibrate
from igmu_audit.detectors.card_files import card_from_json, load_card, write_card
from igmu_audit.detectors.cards import DetectorCard, detector_identity
from igmu_audit.errors import ConfigError
from igmu_audit.toyworld.detector import ToyWorldDetector
from igmu_audit.toyworld.detector_cards import render_tree
from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> DetectorCard:
    tree = render_tree(tmp_path_factory.mktemp("toy"), "colour", 40, seed=7)
    return calibrate(tree, ToyWorldDetector("red"), profile="toyworld")


def test_round_trip_through_the_file(card: DetectorCard, tmp_path: Path) -> None:
    write_card(card, tmp_path / "red.json")
    back = load_card(tmp_path / "red.json")
    assert back == replace(back, detector_profile=back.detector_profile)
    assert back.to_json() == card.to_json()
    assert back.counts_at(0.5) == card.counts_at(0.5)


def test_rates_at_another_threshold_are_counted_from_the_scores(
    card: DetectorCard,
) -> None:
    tp, npos, fp, nneg = card.counts_at(0.0)
    assert (tp, fp) == (npos, nneg)  # everything is "present" at 0
    assert card.counts_at(1.01)[0] == 0
    assert card.summary(0.9)["rates_at"] == 0.9
    assert "scores" not in card.summary()


def _mutated(card: DetectorCard, **changes: Any) -> dict[str, Any]:
    data = card.to_json()
    data.update(changes)
    return data


def test_strict_loading_names_the_problem(card: DetectorCard, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'format' is 'igmu-audit/detector-card/2'"):
        card_from_json(_mutated(card, format="igmu-audit/detector-card/2"))
    data = card.to_json()
    del data["weights_sha256"]
    with pytest.raises(ConfigError, match="missing key 'weights_sha256'"):
        card_from_json(data)
    rates = card.to_json()["rates"]
    rates["tpr"]["k"] -= 1
    with pytest.raises(ConfigError, match="edited by hand"):
        card_from_json(_mutated(card, rates=rates))
    with pytest.raises(ConfigError, match="'threshold' must be int/float"):
        card_from_json(_mutated(card, threshold="0.5"))
    (tmp_path / "twice.json").write_text('{"format": 1, "format": 2}')
    with pytest.raises(ConfigError, match="format"):
        load_card(tmp_path / "twice.json")
    with pytest.raises(ConfigError, match="calibrate"):
        load_card(tmp_path / "absent.json")


def test_a_card_for_other_weights_or_version_is_invalid_with_both_values(
    card: DetectorCard,
) -> None:
    detector = ToyWorldDetector("red")
    live = detector_identity(detector)
    assert live["version"] == "none"
    assert live["weights_sha256"] == detector.profile["weights_sha256"]
    other = replace(card, weights_sha256="0" * 64, version="nudenet_version=3.4.2")
    problems = other.mismatches(detector)
    assert problems == [
        "version: card has 'nudenet_version=3.4.2', the detector in use has 'none'",
        f"weights_sha256: card has {'0' * 64!r}, the detector in use has {live['weights_sha256']!r}",
    ]
    with pytest.raises(ConfigError, match="invalid for this detector: version"):
        other.check(detector)
    assert card.mismatches(ToyWorldDetector("blue")) == [
        "concept: card has 'red', the detector in use has 'blue'"
    ]


def test_shipped_toy_cards_match_the_shipped_detector() -> None:
    """Every toy concept has a card, valid for the shipped classifier (else: make cards)."""
    folder = fixtures_dir() / "toyworld" / "cards"
    vocab = load_vocabulary()
    for attribute in ATTRIBUTES:
        for concept in vocab.classes(attribute):
            shipped = load_card(folder / f"{concept}.json")
            assert shipped.mismatches(ToyWorldDetector(concept)) == [], (
                f"{concept}: rebuild the toy cards with `make cards`"
            )
            assert shipped.calibration.size >= 1000
            assert (
                json.loads((folder / f"{concept}.json").read_text())["measured"]
                == shipped.measured
            )
