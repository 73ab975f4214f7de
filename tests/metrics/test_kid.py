"""KID: unbiased MMD² against an O(n²) loop reference, subsets, exact merging."""

from __future__ import annotations

import itertools

import pytest
import torch

from igmu_audit.metrics import KernelDistance, KernelInceptionDistance, PixelFeatures
from igmu_audit.metrics.functional import kernel_distance, mmd2_unbiased


def _loop_mmd2(x: list[list[float]], y: list[list[float]]) -> float:
    """Textbook unbiased MMD² with k(a, b) = (a·b / D + 1)³, written as plain loops."""
    d = len(x[0])

    def k(a: list[float], b: list[float]) -> float:
        return (sum(p * q for p, q in zip(a, b, strict=True)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (
        m * (m - 1)
    )
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (
        n * (n - 1)
    )
    xy = sum(k(a, b) for a in x for b in y) / (m * n)
    return xx + yy - 2.0 * xy


def test_matches_loop_reference() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(9, 5, generator=gen, dtype=torch.float64) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(
        _loop_mmd2(x.tolist(), y.tolist()), rel=1e-12
    )


def test_subsets_of_full_size_equal_full_mmd() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    result = kernel_distance(x, y, subsets=5, subset_size=10)
    assert result.mean == pytest.approx(mmd2_unbiased(x, y), rel=1e-12)
    assert result.std == pytest.approx(0.0, abs=1e-12)  # every subset is the whole set


def test_same_distribution_near_zero_shifted_positive() -> None:
    gen = torch.Generator().manual_seed(2)
    real = torch.randn(300, 16, generator=gen)
    same = kernel_distance(real, torch.randn(300, 16, generator=gen), subsets=30)
    shifted = kernel_distance(
        real, torch.randn(300, 16, generator=gen) + 0.5, subsets=30
    )
    assert abs(same.mean) < 2 * same.std + 1e-3
    assert shifted.mean > 10 * same.std
    assert shifted.mean > 0.05
    assert same.subset_size == 150  # default: half the smaller set, at most 1000


def test_deterministic_by_seed() -> None:
    gen = torch.Generator().manual_seed(3)
    x, y = torch.randn(40, 6, generator=gen), torch.randn(40, 6, generator=gen)
    assert kernel_distance(x, y, subsets=10, seed=7) == kernel_distance(
        x, y, subsets=10, seed=7
    )
    assert kernel_distance(x, y, subsets=10, seed=7) != kernel_distance(
        x, y, subsets=10, seed=8
    )


def test_large_sets_take_the_per_subset_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import igmu_audit.metrics.functional.kid as kid

    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(30, 6, generator=gen), torch.randn(30, 6, generator=gen) + 0.2
    precomputed = kid.kernel_distance(x, y, subsets=8)
    monkeypatch.setattr(kid, "_PRECOMPUTE_LIMIT", 10)
    per_subset = kid.kernel_distance(x, y, subsets=8)
    assert per_subset.mean == pytest.approx(precomputed.mean, rel=1e-10)
    assert per_subset.std == pytest.approx(precomputed.std, rel=1e-8)


def test_sharded_then_merged_equals_single_pass() -> None:
    gen = torch.Generator().manual_seed(5)
    real = torch.randn(60, 8, generator=gen)
    fake = torch.randn(50, 8, generator=gen) + 0.3
    single = KernelDistance(subsets=20)
    single.update(real, real=True)
    single.update(fake, real=False)
    a, b = KernelDistance(subsets=20), KernelDistance(subsets=20)
    a.update(real[:25], real=True)
    b.update(real[25:], real=True)
    b.update(fake[:10], real=False)
    a.update(fake[10:], real=False)
    assert b.merge(a).compute() == single.compute()
    assert KernelInceptionDistance is KernelDistance
    assert KernelDistance.higher_is_better is False


def test_with_feature_extractor() -> None:
    gen = torch.Generator().manual_seed(6)
    metric = KernelDistance(PixelFeatures(size=2), subsets=10)
    metric.update(torch.rand(20, 3, 8, 8, generator=gen), real=True)
    metric.update(torch.rand(20, 3, 8, 8, generator=gen) * 0.3, real=False)
    result = metric.compute()
    assert result.feature_space == "pixels-2x2 (12-d, area-resized)"
    assert result.mean > 0


def test_validation_errors() -> None:
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match=r"`subset_size`.*<= the smaller set"):
        kernel_distance(x, x, subset_size=11)
    with pytest.raises(ValueError, match="`subsets`"):
        kernel_distance(x, x, subsets=0)
    with pytest.raises(ValueError, match="same feature dimension"):
        kernel_distance(x, torch.randn(10, 4))
    with pytest.raises(ValueError, match="at least 4 rows"):
        kernel_distance(x[:3], x)
    metric = KernelDistance()
    metric.update(x, real=True)
    with pytest.raises(ValueError, match="no fake"):
        metric.compute()
    with pytest.raises(ValueError, match="different settings"):
        KernelDistance().merge(KernelDistance(seed=1))
