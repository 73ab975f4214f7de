"""A detector score must not depend on which images arrive with it (the cache decides that)."""

from __future__ import annotations

import numpy as np
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


def test_a_batch_has_one_memory_layout_whatever_the_pixels_are_a_view_of() -> None:
    # A generated image is a view of the pipeline's CHW array, a cached one a fresh HWC
    # array: both must give the same contiguous NCHW tensor, hence the same scores.
    from igmu_audit.pipelines.generation import to_batch

    detector = get_detector("toyworld", concept="striped")
    data = sample_dataset(6, 7, "test")
    fresh = [GeneratedImage("p", i, "k", data.images[i].copy(), None, True) for i in range(6)]  # fmt: skip
    chw = np.ascontiguousarray(data.images.transpose(0, 3, 1, 2))
    views = [GeneratedImage("p", i, "k", chw[i].transpose(1, 2, 0), None, False) for i in range(6)]  # fmt: skip
    assert not views[0].pixels.flags["C_CONTIGUOUS"]
    a, b = to_batch(fresh), to_batch(views)
    assert a.is_contiguous()
    assert b.is_contiguous()
    assert a.stride() == b.stride()
    assert torch.equal(score(detector, fresh), score(detector, views))
