"""A detector score must not depend on which images arrive with it (the cache decides that)."""

from __future__ import annotations

import torch

from igmu_audit.detectors import get_detector
from igmu_audit.pipelines.generation import GeneratedImage
from igmu_audit.scoring import score
from igmu_audit.toyworld.data import sample_dataset


def test_scores_are_the_same_however_the_images_arrive() -> None:
    # A cold run scores images in generation batches, a warm one all cached images at
    # once; batched networks differ in the last digits by batch, so both must give the
    # score each image gets alone. (The toy detector on these images: ~3e-8 apart.)
    detector = get_detector("toyworld", concept="striped")
    data = sample_dataset(40, 5, "test")
    images = [
        GeneratedImage(f"p{i}", 0, f"k{i}", data.images[i], None, False)
        for i in range(len(data.images))
    ]
    together = score(detector, images)
    in_groups = torch.cat([score(detector, images[i : i + 7]) for i in range(0, 40, 7)])
    assert torch.equal(together, in_groups)
    each_alone = torch.cat([score(detector, [image]) for image in images])
    assert torch.equal(together, each_alone)
