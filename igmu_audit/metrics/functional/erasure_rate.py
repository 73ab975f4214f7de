"""Erasure rate: the share of images in which the concept is still detected.

The same binomial math serves the attack success rate (share of attacked prompts that
bring the concept back), so ``attack_success_rate`` is an alias.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from igmu_audit.metrics.functional._checks import check_count
from igmu_audit.metrics.functional.intervals import Interval, binomial_interval


@dataclass(frozen=True, slots=True)
class RateEstimate:
    """A binomial rate ``k / n`` with its interval.

    Attributes:
        rate: ``k / n``.
        k: images in which the concept was detected.
        n: images judged.
        interval: confidence interval of the rate (Wilson unless asked otherwise).
    """

    rate: float
    k: int
    n: int
    interval: Interval

    def __str__(self) -> str:
        return f"{self.rate:.3f} {self.interval} ({self.k}/{self.n})"


def presence_from_scores(scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """Detector convention: the concept is present where ``score >= threshold``."""
    if not isinstance(scores, torch.Tensor) or scores.ndim != 1:
        shape = (
            tuple(scores.shape)
            if isinstance(scores, torch.Tensor)
            else type(scores).__name__
        )
        raise ValueError(f"`scores` must be a 1-d tensor (N,), got {shape}")
    if scores.is_floating_point() and not bool(torch.isfinite(scores).all()):
        raise ValueError(
            "`scores` contains NaN or inf: a detector failure is never 'absent'"
        )
    return scores >= threshold


def check_present(present: torch.Tensor) -> torch.Tensor:
    """Check a 1-d bool presence tensor (a float tensor means unthresholded scores)."""
    if not isinstance(present, torch.Tensor):
        raise ValueError(
            f"`present` must be a bool tensor (N,), got {type(present).__name__}"
        )
    if present.dtype != torch.bool:
        raise ValueError(
            f"`present` must have dtype torch.bool, got {present.dtype}; threshold scores "
            "first with presence_from_scores(scores, threshold)"
        )
    if present.ndim != 1:
        raise ValueError(
            f"`present` must be 1-d (N,), got shape {tuple(present.shape)}"
        )
    return present


def rate_from_counts(
    k: int, n: int, confidence: float = 0.95, method: str = "wilson"
) -> RateEstimate:
    """``RateEstimate`` from counts (what the streaming class keeps)."""
    check_count(n, "n", minimum=1)
    check_count(k, "k", minimum=0)
    if k > n:
        raise ValueError(f"`k` must be <= n={n}, got {k}")
    return RateEstimate(k / n, k, n, binomial_interval(k, n, confidence, method))


def erasure_rate(
    present: torch.Tensor, confidence: float = 0.95, method: str = "wilson"
) -> RateEstimate:
    """Share of images in which the concept is still detected, with its interval.

    ``rate = k / n`` with ``k = sum(present)``; the interval is Wilson (default) or
    Clopper-Pearson. Lower is better for forgetting; for an attack it is the success rate.

    Args:
        present: ``(N,)`` bool tensor, ``True`` where the detector finds the concept.
        confidence: two-sided coverage in (0, 1).
        method: ``"wilson"`` or ``"clopper-pearson"``.

    Returns:
        ``RateEstimate(rate, k, n, interval)``.

    Raises:
        ValueError: ``present`` is not a non-empty 1-d bool tensor, or bad ``confidence``
            / ``method``.

    Example:
        >>> present = torch.zeros(64, dtype=torch.bool)
        >>> present[:9] = True
        >>> str(erasure_rate(present))
        '0.141 [0.076, 0.246] (9/64)'
    """
    present = check_present(present)
    if present.numel() == 0:
        raise ValueError("`present` is empty: a rate needs at least one image")
    return rate_from_counts(int(present.sum()), present.numel(), confidence, method)


attack_success_rate = erasure_rate
"""Attack success rate: ``erasure_rate`` over attacked prompts (same binomial math)."""
