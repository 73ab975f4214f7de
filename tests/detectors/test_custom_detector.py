"""Wrapping a plain callable: outputs are validated, never silently read as "absent"."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch

from igmu_audit.detectors import CustomDetector, Detector, get_detector
from igmu_audit.errors import ConfigError, DetectorError


def brightness(images: torch.Tensor) -> torch.Tensor:
    return images.mean(dim=(1, 2, 3))


@pytest.mark.parametrize(
    "convert",
    [
        lambda s: s,
        lambda s: s.numpy(),
        lambda s: s.tolist(),
        lambda s: s[:, None],
        lambda s: s.double().requires_grad_(),
    ],
    ids=["tensor", "numpy", "list", "column", "float64-grad"],
)
def test_accepted_outputs(convert: Any, images: torch.Tensor) -> None:
    detector = CustomDetector(lambda x: convert(brightness(x)))
    scores = detector(images)
    assert scores.dtype == torch.float32
    assert scores.shape == (4,)
    assert scores == pytest.approx(brightness(images), abs=1e-6)


def test_uint8_images_are_coerced_before_the_callable_sees_them() -> None:
    seen: list[torch.Tensor] = []

    def spy(x: torch.Tensor) -> list[float]:
        seen.append(x)
        return [0.0]

    CustomDetector(spy)(np.full((1, 8, 8, 3), 255, dtype=np.uint8))
    assert seen[0].shape == (1, 3, 8, 8)
    assert seen[0].dtype == torch.float32
    assert float(seen[0].max()) == 1.0


def test_wrong_length_names_the_callable_and_the_lengths(images: torch.Tensor) -> None:
    detector = CustomDetector(lambda x: brightness(x)[:3], name="shape-slip")
    with pytest.raises(DetectorError) as info:
        detector(images)
    message = str(info.value)
    assert "'shape-slip'" in message
    assert "<lambda>" in message
    assert "(3,) scores for 4 images" in message


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ([0.1, float("nan"), 0.2, 0.3], "returned nan for image 1"),
        ([0.1, 0.2, 1.5, 0.3], r"1\.5 for image 2, outside score_range \[0\.0, 1\.0\]"),
        (["a", "b", "c", "d"], "not numbers"),
        (torch.zeros(4, 2), r"\(4, 2\) scores for 4 images"),
    ],
)
def test_invalid_outputs_are_detector_errors(
    output: Any, message: str, images: torch.Tensor
) -> None:
    with pytest.raises(DetectorError, match=message):
        CustomDetector(lambda x: output)(images)


def test_score_range_can_be_widened_or_dropped(images: torch.Tensor) -> None:
    logits = CustomDetector(
        lambda x: [-3.0, 0.0, 2.0, 9.0], threshold=0.0, score_range=None
    )
    assert logits(images).tolist() == [-3.0, 0.0, 2.0, 9.0]


def test_exceptions_from_the_callable_keep_their_cause(images: torch.Tensor) -> None:
    def broken(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(
        DetectorError, match=r"broken.*failed on 4 images.*out of memory"
    ) as info:
        CustomDetector(broken)(images)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    "options",
    [
        {"fn": "not callable"},
        {"fn": brightness, "threshold": 2.0},
        {"fn": brightness, "score_range": (1.0, 0.0)},
    ],
)
def test_construction_is_validated(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        CustomDetector(**options)


def test_registry_builds_it_and_the_profile_is_recorded(images: torch.Tensor) -> None:
    detector = get_detector(
        "custom",
        fn=brightness,
        name="brightness",
        threshold=0.4,
        profile={"weights": "sha256:0"},
    )
    assert isinstance(detector, Detector)
    profile = detector.profile
    assert profile["callable"].endswith("test_custom_detector.brightness")
    assert profile["weights"] == "sha256:0"
    assert profile["threshold"] == 0.4
    json.dumps(profile)
    assert detector(images).shape == (4,)
