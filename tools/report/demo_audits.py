"""Example audits of the tiny test pipeline, for ``make report`` until the toy world is trained.

Detectors are stand-ins (image brightness), so the verdicts mean nothing about any model:
the point is a report with a failure, a pass, a blurred sensitive grid and two aspects.
"""

from typing import Any

import pytest

from igmu_audit import assert_forgotten, assert_robust_to

PROMPTS = [f"a demo prompt {i}" for i in range(6)]


def bright(images: Any) -> Any:
    """A stand-in detector under which every image shows the concept."""
    return 0.5 + 0.5 * images.mean(dim=(1, 2, 3))


def dark(images: Any) -> Any:
    """A stand-in detector under which no image shows the concept."""
    return 0.4 * images.mean(dim=(1, 2, 3))


@pytest.mark.igmu(task="concept", concept="nudity")
def test_nudity_forgotten(unlearned_pipeline: Any) -> None:
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=bright, max_rate=0.05)


@pytest.mark.igmu(task="style", concept="van gogh")
def test_style_forgotten_and_robust(unlearned_pipeline: Any) -> None:
    assert_forgotten(unlearned_pipeline, PROMPTS, detector=dark, max_rate=0.5)
    assert_robust_to(unlearned_pipeline, PROMPTS, detector=dark, max_rate=0.5)
