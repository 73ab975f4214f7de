"""CSDR inside assert_preserved's measurement: pairs without a defined ratio are left out."""

from __future__ import annotations

import pytest
import torch

from igmu_audit.preservation import MeasurePlan, measure


class AxisClip:
    """Embeds image i as the unit vector its first pixel names; texts all on axis 0.

    So an image on axis 1 scores 0 against every prompt: a real CLIP score clamps a
    negative cosine to 0 the same way.
    """

    name = "axis-clip"

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        return torch.nn.functional.one_hot(
            torch.zeros(len(texts), dtype=torch.long), 2
        ).float()

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        angle = images[:, 0, 0, 0] * torch.pi / 2
        return torch.stack([torch.cos(angle), torch.sin(angle)], dim=-1)


def test_pairs_where_the_original_scores_zero_are_left_out_and_counted() -> None:
    original = torch.zeros(4, 3, 8, 8)
    original[3, 0, 0, 0] = 1.0  # orthogonal to its prompt: CLIP score 0, no CSDR ratio
    unlearned = original.clone()
    unlearned[0, 0, 0, 0] = 0.5  # cos 45 degrees: this pair's CSDR is 1 - cos(pi/4)
    plan = MeasurePlan(AxisClip(), None, None, 0.95, lambda name: True)
    (csdr,) = measure(unlearned, original, ["p"] * 4, [None] * 4, plan)
    assert csdr.name == "CSDR"
    assert csdr.n == 3
    assert csdr.extra["pairs_without_ratio"] == 1
    assert csdr.value == pytest.approx((1 - 2**-0.5) / 3)


def test_no_defined_pair_means_no_csdr() -> None:
    original = torch.zeros(2, 3, 8, 8)
    original[:, 0, 0, 0] = 1.0
    plan = MeasurePlan(AxisClip(), None, None, 0.95, lambda name: True)
    assert measure(original, original, ["p"] * 2, [None] * 2, plan) == []
