"""NudeNet on a real photograph: the person profile sees a person, nudity profiles see none."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from igmu_audit.detectors import Detector, get_detector, get_profile
from igmu_audit.errors import ConfigError, DetectorError, MissingDependencyError

pytest.importorskip("nudenet")

NUDITY_PROFILES = [
    "nudenet-unlearndiffatk",
    "nudenet-igmu",
    "nudenet-i2p",
    "nudenet-strict",
]


def test_person_profile_detects_grace_hopper(grace_hopper: torch.Tensor) -> None:
    detector = get_detector("nudenet-person")
    assert isinstance(detector, Detector)
    score = detector(grace_hopper)
    assert score.shape == (1,)
    assert score.dtype == torch.float32
    assert score[0] >= 0.5
    assert score[0] >= detector.threshold
    [boxes] = detector.detections(grace_hopper)
    assert boxes[0].label == "FACE_FEMALE"
    assert boxes[0].score == pytest.approx(float(score[0]))
    x, y, w, h = boxes[0].box
    assert 0 <= x < x + w <= 512
    assert 0 <= y < y + h <= 600


def test_batched_detection_equals_one_image_at_a_time(
    grace_hopper: torch.Tensor,
) -> None:
    from igmu_audit.detectors.nudenet import BATCH_SIZE

    # more than one ONNX batch, the face at different sizes and positions between noise images
    photo = torch.nn.functional.interpolate(
        grace_hopper, size=(256, 256), mode="bilinear", antialias=True
    ).clamp(0, 1)
    noise = torch.rand(
        BATCH_SIZE + 3, 3, 256, 256, generator=torch.Generator().manual_seed(0)
    )
    images = torch.cat([photo, noise[:5], photo.flip(-1), noise[5:]])
    detector = get_detector("nudenet-person")
    together = detector.detections(images, all_classes=True)
    alone = [detector.detections(image[None], all_classes=True)[0] for image in images]
    assert together == alone
    assert together[0], "the face is found in the photograph"
    assert together[6], "and in its mirror image"


@pytest.mark.parametrize("size", [224, 512, 768])
def test_person_survives_square_crops_and_rescaling(
    grace_hopper: torch.Tensor, size: int
) -> None:
    """Generated images are square; NudeNet's face score drops to 0.3-0.5 on such crops."""
    square = torch.nn.functional.interpolate(
        grace_hopper[:, :, 44:556, :],
        size=(size, size),
        mode="bilinear",
        antialias=True,
    ).clamp(0, 1)
    detector = get_detector("nudenet-person")
    assert detector(square)[0] >= detector.threshold


@pytest.mark.parametrize("profile", NUDITY_PROFILES)
def test_nudity_profiles_score_the_photograph_below_threshold(
    grace_hopper: torch.Tensor, profile: str
) -> None:
    detector = get_detector(profile)
    assert detector(grace_hopper)[0] < detector.threshold


def test_blank_and_noise_images_show_no_person() -> None:
    detector = get_detector("nudenet-person")
    noise = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    blank = torch.stack([torch.ones(3, 256, 256), torch.full((3, 256, 256), 0.5)])
    images = torch.cat([blank, noise])
    assert detector(images).tolist() == [0.0] * 4
    assert detector.detections(images, all_classes=True) == [[]] * 4


def test_score_is_the_same_as_nudenet_on_the_file(grace_hopper: torch.Tensor) -> None:
    """Our float -> BGR uint8 conversion must match NudeNet reading the JPEG itself."""
    from matplotlib import cbook
    from nudenet import NudeDetector

    with cbook.get_sample_data("grace_hopper.jpg") as stream:
        raw = NudeDetector().detect(stream.read())
    ours = get_detector("nudenet-person").detections(grace_hopper, all_classes=True)[0]
    assert [d.label for d in ours] == [d["class"] for d in raw]
    assert [d.score for d in ours] == pytest.approx([d["score"] for d in raw], abs=1e-3)


def test_profile_records_model_hash_and_classes() -> None:
    import nudenet

    detector = get_detector("nudenet-igmu", threshold=0.6)
    profile = detector.profile
    model = Path(nudenet.__file__).parent / "320n.onnx"
    assert profile["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert profile["profile"] == "nudenet-igmu"
    assert profile["classes"] == list(get_profile("nudenet-igmu").options["classes"])
    assert profile["threshold"] == detector.threshold == 0.6
    assert profile["overrides"] == ["threshold"]
    json.dumps(profile)


def test_strict_profile_flags_whatever_another_nudity_profile_flags() -> None:
    strict = get_profile("nudenet-strict").options
    for name in NUDITY_PROFILES:
        other = get_profile(name).options
        assert set(other["classes"]) <= set(strict["classes"])
        assert strict["threshold"] <= other["threshold"]


def test_unlearndiffatk_profile_has_nine_exposed_classes() -> None:
    classes = get_profile("nudenet-unlearndiffatk").options["classes"]
    assert len(classes) == 9
    assert {"FEET_EXPOSED", "BELLY_EXPOSED", "ARMPITS_EXPOSED"} <= set(classes)
    assert all(c.endswith("_EXPOSED") for c in classes)
    assert get_profile("nudenet-igmu").options["classes"] == classes[:6]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(1, 3, 0, 0), "NudeNet failed on image 0 of 1"),
        (torch.full((2, 3, 8, 8), float("nan")), "image 0 has NaN"),
        (torch.full((1, 3, 8, 8), 2.0), r"pixels must be in \[0, 1\]"),
        (torch.zeros(1, 4, 8), "invalid images"),
    ],
)
def test_broken_inputs_raise_detector_error(images: torch.Tensor, message: str) -> None:
    with pytest.raises(DetectorError, match=message):
        get_detector("nudenet")(images)


def test_nudenet_failure_keeps_its_cause() -> None:
    with pytest.raises(DetectorError) as info:
        get_detector("nudenet")(torch.zeros(1, 3, 0, 0))
    assert info.value.__cause__ is not None


def test_unknown_class_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'FACE_FEMALE'"):
        get_detector("nudenet", classes=["FACE_FEMAL"])


def test_profile_for_another_detector_is_rejected() -> None:
    from igmu_audit.detectors import DetectorProfile, NudeNetDetector

    with pytest.raises(ConfigError, match="not 'nudenet'"):
        NudeNetDetector(DetectorProfile("x", "clip-head"))


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import igmu_audit._imports

    monkeypatch.setattr(igmu_audit._imports, "is_available", lambda module: False)
    with pytest.raises(MissingDependencyError, match=r"igmu-audit\[nudenet\]"):
        get_detector("nudenet")
