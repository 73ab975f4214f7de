"""Streaming erasure rate (and attack success rate): counts merge exactly across workers."""

from __future__ import annotations

from typing import ClassVar

import torch

from igmu_audit.metrics.functional._checks import check_confidence, check_method
from igmu_audit.metrics.functional.erasure_rate import (
    RateEstimate,
    check_present,
    presence_from_scores,
    rate_from_counts,
)
from igmu_audit.metrics.functional.intervals import BINOMIAL_METHODS


class ErasureRate:
    """Share of images where the concept is still detected, accumulated batch by batch.

    State is two integers ``(k, n)``, so ``merge`` is exact: shards from xdist workers
    merged in any order give the single-process result. Formula and interval as in
    ``erasure_rate``.

    Args:
        threshold: if given, ``update`` also accepts float detector scores and counts
            ``score >= threshold`` as present.
        confidence: two-sided coverage of the interval.
        method: ``"wilson"`` (default) or ``"clopper-pearson"``.

    Example:
        >>> metric = ErasureRate(threshold=0.5)
        >>> metric.update(torch.tensor([0.9, 0.1, 0.2, 0.7]))
        >>> metric.update(torch.tensor([False, False]))
        >>> result = metric.compute()
        >>> result.k, result.n, round(result.rate, 3)
        (2, 6, 0.333)
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False

    def __init__(
        self,
        threshold: float | None = None,
        confidence: float = 0.95,
        method: str = "wilson",
    ) -> None:
        self.threshold = threshold
        self.confidence = check_confidence(confidence)
        self.method = check_method(method, "method", BINOMIAL_METHODS)
        self.k = 0
        self.n = 0

    def update(self, present_or_scores: torch.Tensor) -> None:
        """Add a batch: a ``(N,)`` bool tensor, or ``(N,)`` scores when ``threshold`` is set."""
        x = present_or_scores
        if isinstance(x, torch.Tensor) and x.dtype != torch.bool:
            if self.threshold is None:
                raise ValueError(
                    f"`present_or_scores` has dtype {x.dtype}: pass a bool tensor, or "
                    "build ErasureRate(threshold=...) to threshold detector scores"
                )
            x = presence_from_scores(x, self.threshold)
        x = check_present(x)
        self.k += int(x.sum())
        self.n += x.numel()

    def compute(self) -> RateEstimate:
        """Rate, counts and interval; raises ``ValueError`` before any image was added."""
        if self.n == 0:
            raise ValueError("ErasureRate.compute() called before update(): no images")
        return rate_from_counts(self.k, self.n, self.confidence, self.method)

    def merge(self, other: ErasureRate) -> ErasureRate:
        """Add ``other``'s counts into this metric (in place) and return it."""
        if not isinstance(other, ErasureRate):
            raise TypeError(f"cannot merge {type(other).__name__} into ErasureRate")
        if (other.confidence, other.method) != (self.confidence, self.method):
            raise ValueError(
                "cannot merge ErasureRate with different settings: "
                f"{(self.confidence, self.method)} vs {(other.confidence, other.method)}"
            )
        self.k += other.k
        self.n += other.n
        return self

    def reset(self) -> None:
        """Forget every image seen."""
        self.k = 0
        self.n = 0


AttackSuccessRate = ErasureRate
"""Attack success rate: an ``ErasureRate`` over attacked prompts (same math)."""
