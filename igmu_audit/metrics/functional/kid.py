"""Kernel Inception Distance (KID): unbiased MMD² with a cubic polynomial kernel.

``k(x, y) = (γ · xᵀy + c)^d`` with ``d = 3``, ``γ = 1 / D``, ``c = 1`` (Bińkowski et al.,
2018). For sets X (m vectors) and Y (n vectors)::

    MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m-1)) + Σ_{i≠j} k(y_i, y_j) / (n(n-1))
             - 2 Σ_{i,j} k(x_i, y_j) / (m n)

Unbiased, so unlike FID it is sound at a few hundred images; it can be slightly negative
when the sets match. Reported as mean and std over random subsets (seeded).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from igmu_audit.metrics.functional._checks import check_count, check_features

# Above this many vectors in both sets the full kernel matrices (float64, n²) are not
# precomputed; each subset gets its own, smaller matrices instead.
_PRECOMPUTE_LIMIT = 6000


@dataclass(frozen=True, slots=True)
class KernelDistanceResult:
    """KID over random subsets.

    Attributes:
        mean: mean of the per-subset unbiased MMD² (the KID; lower = closer).
        std: population std over subsets: the spread of a KID at ``subset_size`` images.
        subsets: number of subsets. subset_size: vectors drawn per set and subset.
        feature_space: the extractor's ``name`` (Inception pool3 makes it KID proper).
    """

    mean: float
    std: float
    subsets: int
    subset_size: int
    feature_space: str = "caller-supplied features"

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f} ({self.subsets} subsets of {self.subset_size})"


def polynomial_kernel(
    x: torch.Tensor,
    y: torch.Tensor,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
) -> torch.Tensor:
    """``(γ · x yᵀ + c)^d`` for ``(M, D)`` and ``(N, D)`` inputs; ``γ`` defaults to ``1/D``."""
    g = 1.0 / x.shape[1] if gamma is None else gamma
    return (g * (x @ y.T) + coef) ** degree


def _mmd2_from_kernels(
    k_xx: torch.Tensor, k_yy: torch.Tensor, k_xy: torch.Tensor
) -> torch.Tensor:
    m, n = k_xx.shape[0], k_yy.shape[0]
    xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return xx + yy - 2.0 * k_xy.sum() / (m * n)


def mmd2_unbiased(
    x: torch.Tensor,
    y: torch.Tensor,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
) -> float:
    """Unbiased MMD² between two full feature sets ``(M, D)`` and ``(N, D)``, M, N >= 2.

    Unbiased, not non-negative: the very same points on both sides give a value below 0
    (the cross term keeps the ``i = j`` pairs that the within-set terms leave out).

    Example:
        >>> x = torch.tensor([[0.0], [1.0]])  # k = (xy + 1)³: k(0,0)=k(0,1)=1, k(1,1)=8
        >>> mmd2_unbiased(x, x)  # 1 + 1 - 2 · 11/4
        -3.5
    """
    check_features(x, "x", min_rows=2)
    check_features(y, "y", min_rows=2)
    a, b = x.detach().to(torch.float64), y.detach().to(x.device, torch.float64)
    return float(
        _mmd2_from_kernels(
            polynomial_kernel(a, a, degree, gamma, coef),
            polynomial_kernel(b, b, degree, gamma, coef),
            polynomial_kernel(a, b, degree, gamma, coef),
        )
    )


def default_subset_size(n_real: int, n_fake: int) -> int:
    """``min(1000, n_real // 2, n_fake // 2)``, at least 2.

    1000 is the usual choice; capping at half the smaller set keeps subsets different from
    each other, so the std is a real spread instead of 0 from identical subsets.
    """
    return max(2, min(1000, n_real // 2, n_fake // 2))


def kernel_distance(
    features_real: torch.Tensor,
    features_fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int | None = None,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    seed: int = 0,
) -> KernelDistanceResult:
    """KID: mean and std of unbiased MMD² over ``subsets`` random subsets.

    Each subset draws ``subset_size`` rows from each set without replacement, from a CPU
    generator seeded with ``seed``, so the result is deterministic.

    Args:
        features_real: ``(N_r, D)`` reference features. features_fake: ``(N_f, D)``.
        subsets: number of subsets, ``>= 1``.
        subset_size: rows per set and subset, ``2 <= subset_size <= min(N_r, N_f)``;
            default ``default_subset_size(N_r, N_f)``.
        degree, gamma, coef: polynomial kernel ``(γ xᵀy + c)^d``; ``γ`` defaults to ``1/D``.
        seed: subset sampling seed.

    Returns:
        ``KernelDistanceResult(mean, std, subsets, subset_size)``.

    Raises:
        ValueError: bad shapes, fewer than 4 rows in a set, or bad ``subsets`` /
            ``subset_size`` / ``degree``.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> real = torch.randn(200, 8, generator=gen)
        >>> same = kernel_distance(real, torch.randn(200, 8, generator=gen), subsets=20)
        >>> shifted = kernel_distance(real, torch.randn(200, 8, generator=gen) + 1.0, subsets=20)
        >>> round(same.mean, 2), round(shifted.mean, 1)
        (0.06, 6.9)
    """
    check_features(features_real, "features_real", min_rows=4)
    check_features(features_fake, "features_fake", min_rows=4)
    if features_real.shape[1] != features_fake.shape[1]:
        raise ValueError(
            "`features_real` and `features_fake` must have the same feature dimension D, "
            f"got {features_real.shape[1]} and {features_fake.shape[1]}"
        )
    check_count(subsets, "subsets", minimum=1)
    check_count(degree, "degree", minimum=1)
    check_count(seed, "seed", minimum=0)
    n_r, n_f = features_real.shape[0], features_fake.shape[0]
    size = default_subset_size(n_r, n_f) if subset_size is None else subset_size
    check_count(size, "subset_size", minimum=2)
    if size > min(n_r, n_f):
        raise ValueError(
            f"`subset_size` must be <= the smaller set ({min(n_r, n_f)} vectors), got {size}"
        )
    x = features_real.detach().to(torch.float64)
    y = features_fake.detach().to(x.device, torch.float64)

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return polynomial_kernel(a, b, degree, gamma, coef)

    full = max(n_r, n_f) <= _PRECOMPUTE_LIMIT
    if full:
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    gen = torch.Generator().manual_seed(seed)
    scores = torch.empty(subsets, dtype=torch.float64)
    for s in range(subsets):
        i = torch.randperm(n_r, generator=gen)[:size].to(x.device)
        j = torch.randperm(n_f, generator=gen)[:size].to(x.device)
        if full:
            sub = (k_xx[i][:, i], k_yy[j][:, j], k_xy[i][:, j])
        else:
            xi, yj = x[i], y[j]
            sub = (kernel(xi, xi), kernel(yj, yj), kernel(xi, yj))
        scores[s] = _mmd2_from_kernels(*sub).cpu()
    return KernelDistanceResult(
        float(scores.mean()), float(scores.std(unbiased=False)), subsets, size
    )
