"""Fréchet distance: closed forms, a scipy.sqrtm reference, exact merging."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from igmu_audit.metrics import FrechetDistance, PixelFeatures
from igmu_audit.metrics.functional import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
)


def _sqrtm_reference(mu1, s1, mu2, s2) -> float:
    """The textbook (pytorch-fid) formula with scipy.linalg.sqrtm."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(
        ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    )


def _random_spd(d: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_identical_sets_give_zero() -> None:
    x = torch.randn(50, 12, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_shifted_identity_gaussians_give_squared_norm() -> None:
    eye = torch.eye(4, dtype=torch.float64)
    mu = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    value = frechet_distance_from_statistics(torch.zeros(4), eye, mu, eye)
    assert value == pytest.approx(float(mu.square().sum()), rel=1e-12)  # 14.25


def test_diagonal_covariances_closed_form() -> None:
    a = torch.tensor([1.0, 4.0, 9.0, 0.25], dtype=torch.float64)
    b = torch.tensor([4.0, 1.0, 9.0, 1.0], dtype=torch.float64)
    mu1 = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    mu2 = torch.zeros(4, dtype=torch.float64)
    # |mu1 - mu2|² + Σ (sqrt(a) - sqrt(b))² = 1 + (1 + 1 + 0 + 0.25)
    value = frechet_distance_from_statistics(mu1, torch.diag(a), mu2, torch.diag(b))
    assert value == pytest.approx(3.25, rel=1e-12)


def test_matches_sqrtm_reference_for_non_commuting_covariances() -> None:
    d = 24
    s1, s2 = _random_spd(d, 1), _random_spd(d, 2)
    assert not torch.allclose(s1 @ s2, s2 @ s1)
    mu1, mu2 = torch.randn(d, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    ref = _sqrtm_reference(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    assert frechet_distance_from_statistics(mu1, s1, mu2, s2) == pytest.approx(
        ref, rel=1e-9
    )


def test_samples_from_shifted_gaussians() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(20000, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(20000, 3, generator=gen, dtype=torch.float64) + torch.tensor(
        [1.0, 0.0, 2.0]
    )
    assert frechet_distance(x, y) == pytest.approx(5.0, abs=0.1)


def test_feature_statistics_match_numpy() -> None:
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(4))
    mu, sigma = feature_statistics(x)
    assert np.allclose(mu.numpy(), x.double().numpy().mean(axis=0))
    assert np.allclose(sigma.numpy(), np.cov(x.double().numpy(), rowvar=False))


def test_sharded_then_merged_equals_single_pass() -> None:
    gen = torch.Generator().manual_seed(5)
    real = torch.randn(90, 10, generator=gen)
    fake = torch.randn(70, 10, generator=gen) * 1.5 + 0.3
    single = FrechetDistance()
    single.update(real, real=True)
    single.update(fake, real=False)
    shards = [FrechetDistance() for _ in range(3)]
    for i, (r, f) in enumerate(zip(real.split(30), fake.split(24), strict=True)):
        shards[i].update(r, real=True)
        shards[i].update(f, real=False)
    merged = shards[2].merge(shards[0]).merge(shards[1]).compute()
    expected = single.compute()
    assert (merged.n_real, merged.n_fake) == (90, 70)
    assert merged.value == pytest.approx(expected.value, rel=1e-10)
    assert expected.value == pytest.approx(frechet_distance(real, fake), rel=1e-10)
    assert expected.feature_space == "caller-supplied features"


def test_with_feature_extractor_records_space() -> None:
    gen = torch.Generator().manual_seed(6)
    metric = FrechetDistance(PixelFeatures(size=2))
    metric.update(torch.rand(16, 3, 8, 8, generator=gen), real=True)
    metric.update(torch.rand(16, 3, 8, 8, generator=gen) * 0.5, real=False)
    result = metric.compute()
    assert result.feature_space == "pixels-2x2 (12-d, area-resized)"
    assert result.value > 0.1
    assert FrechetDistance.higher_is_better is False


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="same feature dimension"):
        frechet_distance(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match="at least 2 rows"):
        frechet_distance(torch.randn(1, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="2-d"):
        frechet_distance(torch.randn(5), torch.randn(5, 3))
    with pytest.raises(ValueError, match="`sigma2`"):
        frechet_distance_from_statistics(
            torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(3)
        )
    metric = FrechetDistance()
    metric.update(torch.randn(4, 3), real=True)
    with pytest.raises(ValueError, match="2 fake"):
        metric.compute()
    with pytest.raises(ValueError, match="feature dimension changed"):
        metric.update(torch.randn(4, 5), real=True)
    with pytest.raises(ValueError, match="different feature spaces"):
        metric.merge(FrechetDistance(PixelFeatures(size=2)))


def test_fewer_vectors_than_dimensions_matches_every_path() -> None:
    # n = 6 < D = 10: both covariances are singular (the usual small-audit case)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(6, 10, generator=gen, dtype=torch.float64)
    y = torch.randn(8, 10, generator=gen, dtype=torch.float64) + 0.2
    mu1, s1 = feature_statistics(x)
    mu2, s2 = feature_statistics(y)
    ref = _sqrtm_reference(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    thin = frechet_distance(x, y)  # centred-feature factor
    moments = frechet_distance_from_statistics(mu1, s1, mu2, s2)  # eigh fallback
    assert thin == pytest.approx(ref, rel=1e-6)
    # sqrt of round-off eigenvalues (~1e-16) of a singular Σ adds ~1e-8: tolerance 1e-6
    assert moments == pytest.approx(thin, rel=1e-6)
    metric = FrechetDistance()
    metric.update(x, real=True)
    metric.update(y, real=False)
    assert metric.compute().value == pytest.approx(thin, rel=1e-6)


def test_many_vectors_use_cholesky_and_agree() -> None:
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(30, 6, generator=gen, dtype=torch.float64) * 2
    mu1, s1 = feature_statistics(x)
    mu2, s2 = feature_statistics(y)
    ref = _sqrtm_reference(mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
    assert frechet_distance(x, y) == pytest.approx(ref, rel=1e-9)
    assert frechet_distance(y, x) == pytest.approx(ref, rel=1e-9)  # symmetric
