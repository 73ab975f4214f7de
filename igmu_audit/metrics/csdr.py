"""Streaming CSDR (CLIP Score Difference Rate) over same-seed image pairs."""

from __future__ import annotations

from typing import ClassVar

import torch

from igmu_audit.metrics.functional._checks import check_confidence, check_count
from igmu_audit.metrics.functional.csdr import csdr_per_pair
from igmu_audit.metrics.functional.intervals import MeanEstimate, mean_estimate


class CLIPScoreDifferenceRate:
    """CSDR: mean ``|CS_orig - CS_unlearned| / CS_orig`` over same-seed pairs (a fraction).

    ``update`` takes per-pair CLIP scores (from ``clip_scores``) of the original model's
    and the unlearned model's images for the same prompts and seeds. The state is the list
    of per-pair ratios; ``compute`` sorts them before the paired bootstrap, so merged
    shards give exactly the single-process result.

    Args:
        confidence: two-sided coverage. n_resamples: bootstrap resamples. seed: its seed.

    Example:
        >>> metric = CLIPScoreDifferenceRate()
        >>> metric.update(torch.tensor([30.0, 20.0]), torch.tensor([27.0, 22.0]))
        >>> metric.update(torch.tensor([25.0, 32.0]), torch.tensor([25.0, 32.0]))
        >>> round(metric.compute().value, 3)
        0.05
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False

    def __init__(
        self, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
    ) -> None:
        self.confidence = check_confidence(confidence)
        self.n_resamples = check_count(n_resamples, "n_resamples", minimum=100)
        self.seed = check_count(seed, "seed", minimum=0)
        self._ratios: list[torch.Tensor] = []

    def _settings(self) -> tuple[float, int, int]:
        return (self.confidence, self.n_resamples, self.seed)

    def update(
        self, scores_original: torch.Tensor, scores_unlearned: torch.Tensor
    ) -> None:
        """Add ``(N,)`` original and ``(N,)`` unlearned CLIP scores, paired row by row."""
        self._ratios.append(csdr_per_pair(scores_original, scores_unlearned).cpu())

    @property
    def ratios(self) -> torch.Tensor:
        """Every per-pair ratio seen so far, in update order, float64 ``(N,)``."""
        if not self._ratios:
            return torch.empty(0, dtype=torch.float64)
        return torch.cat(self._ratios)

    def compute(self) -> MeanEstimate:
        """CSDR with its paired bootstrap interval."""
        ratios = self.ratios
        if ratios.numel() == 0:
            raise ValueError("CLIPScoreDifferenceRate.compute() called before update()")
        return mean_estimate(
            ratios, self.confidence, "bootstrap", self.n_resamples, self.seed
        )

    def merge(self, other: CLIPScoreDifferenceRate) -> CLIPScoreDifferenceRate:
        """Append ``other``'s pairs (in place) and return this metric."""
        if not isinstance(other, CLIPScoreDifferenceRate):
            raise TypeError(
                f"cannot merge {type(other).__name__} into CLIPScoreDifferenceRate"
            )
        if other._settings() != self._settings():
            raise ValueError(
                "cannot merge CLIPScoreDifferenceRate with different settings: "
                f"{self._settings()} vs {other._settings()}"
            )
        self._ratios.extend(other._ratios)
        return self

    def reset(self) -> None:
        """Forget every pair seen."""
        self._ratios = []
