"""Paired perceptual distance: named feature space, key pairing, exact merging."""

from __future__ import annotations

import pytest
import torch

from igmu_audit._imports import is_available
from igmu_audit.errors import MissingDependencyError
from igmu_audit.metrics import PerceptualDistance, PixelFeatures
from igmu_audit.metrics.functional import (
    cosine_distance,
    feature_distance,
    lpips_distance,
    perceptual_distances,
)


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_cosine_distance_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    b = torch.tensor([[5.0, 0.0], [-1.0, -1.0], [1.0, 1.0]])
    expected = [0.0, 2.0, 1.0 - 2**-0.5]
    assert cosine_distance(a, b).tolist() == pytest.approx(expected, abs=1e-12)


def test_identical_images_give_zero_and_name_is_recorded() -> None:
    name, fn = feature_distance(PixelFeatures(size=4))
    imgs = _images(3, 0)
    assert perceptual_distances(imgs, imgs, fn).tolist() == pytest.approx(
        [0.0] * 3, abs=1e-12
    )
    assert name == "cosine distance in pixels-4x4 (48-d, area-resized)"


def test_pairs_follow_keys_not_order() -> None:
    a, b = _images(6, 1), _images(6, 2)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    keys = [(p, 0) for p in range(6)]
    m1 = PerceptualDistance(PixelFeatures(size=4))
    m1.update(a, b, keys)
    m2 = PerceptualDistance(PixelFeatures(size=4))
    m2.update(a[perm], b[perm], [keys[i] for i in perm.tolist()])
    assert m1.distances == pytest.approx(m2.distances)
    assert m1.compute() == m2.compute()


def test_sharded_then_merged_equals_single_pass() -> None:
    a, b = _images(10, 3), _images(10, 4)
    keys = [(p, s) for p in range(5) for s in range(2)]
    single = PerceptualDistance(PixelFeatures(size=4))
    single.update(a, b, keys)
    x, y = (
        PerceptualDistance(PixelFeatures(size=4)),
        PerceptualDistance(PixelFeatures(size=4)),
    )
    x.update(a[:4], b[:4], keys[:4])
    y.update(a[4:], b[4:], keys[4:])
    merged = y.merge(x).compute()
    assert merged == single.compute()
    assert merged.n == 10
    assert merged.value > 0


def test_duplicate_keys_are_errors() -> None:
    metric = PerceptualDistance(PixelFeatures(size=4))
    metric.update(_images(2, 5), _images(2, 6), ["a", "b"])
    with pytest.raises(ValueError, match="already counted"):
        metric.update(_images(1, 5), _images(1, 6), ["a"])
    with pytest.raises(ValueError, match="already counted"):
        metric.update(_images(2, 5), _images(2, 6), ["c", "c"])
    other = PerceptualDistance(PixelFeatures(size=4))
    other.update(_images(1, 7), _images(1, 8), ["b"])
    with pytest.raises(ValueError, match="both sides"):
        metric.merge(other)


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="`extractor`"):
        PerceptualDistance()
    metric = PerceptualDistance(PixelFeatures(size=4))
    with pytest.raises(ValueError, match="`keys`"):
        metric.update(_images(2, 0), _images(2, 1), ["only-one"])
    with pytest.raises(ValueError, match=r"`images_b`.*\[0, 1\]"):
        metric.update(_images(1, 0), _images(1, 1) * 255, ["k"])
    with pytest.raises(ValueError, match="same length"):
        metric.update(_images(2, 0), _images(3, 1), ["k1", "k2"])
    with pytest.raises(ValueError, match="`net`"):
        lpips_distance("resnet")


@pytest.mark.skipif(is_available("lpips"), reason="lpips is installed")
def test_lpips_missing_names_the_package() -> None:
    with pytest.raises(MissingDependencyError, match="lpips"):
        PerceptualDistance(lpips_net="alex")
