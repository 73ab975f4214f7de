"""Building detector cards from labelled trees: the toy detector, NudeNet mechanics, bad trees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from igmu_audit.detectors.__main__ import main
from igmu_audit.detectors.calibrate import (
    calibrate,
    threshold_for_fnr,
    threshold_for_fpr,
)
from igmu_audit.detectors.card_files import load_card
from igmu_audit.detectors.cards import CARD_FORMAT
from igmu_audit.errors import ConfigError
from igmu_audit.toyworld.detector import ToyWorldDetector
from igmu_audit.toyworld.detector_cards import render_tree


@pytest.fixture(scope="module")
def shape_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 held-out toy renders as ``shape/test/<class>/`` (real PNG files)."""
    return render_tree(tmp_path_factory.mktemp("toy"), "shape", 80, seed=99)


def test_card_of_the_toy_detector_holds_identity_rates_and_set(
    shape_tree: Path,
) -> None:
    detector = ToyWorldDetector("circle")
    card = calibrate(shape_tree, detector, profile="toyworld", name="renders")
    circles = len(list((shape_tree / "test" / "circle").iterdir()))
    assert card.weights_sha256 == detector.profile["weights_sha256"]
    assert (card.concept, card.threshold, card.threshold_rule) == (
        "circle",
        0.5,
        "given",
    )
    assert card.calibration.size == 80
    assert len(card.positive_scores) == circles
    assert card.calibration.negative_classes == ("cross", "square", "triangle")
    assert card.tpr().n == circles
    assert card.fpr().n == 80 - circles
    # the toy detector is near perfect on renders; the interval says how sure that is
    assert card.tpr().value >= 0.9
    assert card.fpr().value <= 0.1
    assert card.tpr().low < card.tpr().value <= card.tpr().high
    assert card.mismatches(detector) == []


def test_cli_writes_a_card_that_loads_back(
    shape_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "card.json"
    status = main(
        [
            "calibrate",
            str(shape_tree),
            "--detector",
            "toyworld",
            "--option",
            "concept=square",
            "--out",
            str(out),
        ]
    )
    if status == 2 and "unknown detector 'toyworld'" in capsys.readouterr().err:
        pytest.skip("the toyworld detector is not registered in this environment")
    assert status == 0
    data = json.loads(out.read_text())
    assert data["format"] == CARD_FORMAT
    assert data["concept"] == "square"
    card = load_card(out)
    assert card.calibration.sha256 == data["calibration_set"]["sha256"]
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]  # no temp file left


def test_threshold_chosen_for_a_target_fpr_on_train_measured_on_test(
    tmp_path: Path,
) -> None:
    tree = render_tree(tmp_path, "texture", 60, seed=5)
    (tree / "test").rename(tree / "train")
    render_tree(tmp_path, "texture", 60, seed=6)
    card = calibrate(tree, ToyWorldDetector("striped"), target_fpr=0.0)
    assert (card.threshold_rule, card.target, card.chosen_on) == (
        "target-fpr",
        0.0,
        "train",
    )
    assert card.calibration.split == "test"
    assert card.threshold != 0.5


def test_threshold_rules_on_known_scores() -> None:
    negatives = [0.1, 0.2, 0.3, 0.9]
    t = threshold_for_fpr(negatives, 0.25)
    assert sum(s >= t for s in negatives) == 1
    assert t <= 0.9
    assert threshold_for_fpr(negatives, 0.0) > 0.9
    positives = [0.4, 0.6, 0.8, 0.95]
    t = threshold_for_fnr(positives, 0.25)
    assert t == 0.6
    assert sum(s < t for s in positives) == 1
    with pytest.raises(ConfigError, match="target_fpr"):
        threshold_for_fpr(negatives, 1.5)


def test_bad_trees_say_what_and_how_to_fix(shape_tree: Path, tmp_path: Path) -> None:
    detector = ToyWorldDetector("circle")
    with pytest.raises(ConfigError, match="no 'train' split"):
        calibrate(shape_tree, detector, split="train")
    with pytest.raises(ConfigError, match="--positive"):
        calibrate(shape_tree, detector, positive="nude")
    only = tmp_path / "only" / "test" / "circle"
    only.mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(only / "a.png")
    with pytest.raises(ConfigError, match="at least one negative class"):
        calibrate(tmp_path / "only", detector)
    broken = tmp_path / "broken" / "test"
    for cls in ("circle", "square"):
        (broken / cls).mkdir(parents=True)
        (broken / cls / "x.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match="not a readable image"):
        calibrate(tmp_path / "broken", detector)
    with pytest.raises(ConfigError, match="at most one"):
        calibrate(shape_tree, detector, target_fpr=0.1, target_fnr=0.1)


def test_cli_reports_a_bad_tree_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        [
            "calibrate",
            str(tmp_path / "missing"),
            "--detector",
            "nudenet-person",
            "--positive",
            "person",
            "--out",
            str(tmp_path / "c.json"),
        ]
    )
    assert status == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()


def test_nudenet_card_mechanics_on_a_small_labelled_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The card machinery on a set this test makes (a photo vs blanks): no real NudeNet card."""
    pytest.importorskip("nudenet")
    cbook = pytest.importorskip("matplotlib.cbook")
    with cbook.get_sample_data("grace_hopper.jpg") as stream:
        photo = Image.open(stream).convert("RGB")
    person, empty = (
        tmp_path / "set" / "test" / "person",
        tmp_path / "set" / "test" / "empty",
    )
    person.mkdir(parents=True)
    empty.mkdir(parents=True)
    photo.save(person / "full.png")
    photo.resize((256, 300)).save(person / "small.png")
    rng = np.random.default_rng(0)
    Image.new("RGB", (256, 256), (128, 128, 128)).save(empty / "grey.png")
    Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(
        empty / "noise.png"
    )
    out = tmp_path / "nudenet-person.json"
    assert (
        main(
            [
                "calibrate",
                str(tmp_path / "set"),
                "--detector",
                "nudenet-person",
                "--positive",
                "person",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    card = load_card(out)
    assert card.profile == "nudenet-person"
    assert "nudenet_version=" in card.version
    assert (card.tpr().k, card.tpr().n, card.fpr().k, card.fpr().n) == (2, 2, 0, 2)
    assert "TPR 1.000" in capsys.readouterr().out
