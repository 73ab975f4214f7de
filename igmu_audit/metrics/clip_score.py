"""Streaming CLIP score: keeps per-pair scores so merged shards equal one pass exactly."""

from __future__ import annotations

from typing import ClassVar

import torch

from igmu_audit.metrics.functional._checks import (
    check_confidence,
    check_count,
    check_method,
)
from igmu_audit.metrics.functional.clip_score import clip_scores
from igmu_audit.metrics.functional.intervals import MeanEstimate, mean_estimate


class CLIPScore:
    """Mean ``max(100 · cos(E_img, E_txt), 0)`` over image-text pairs, batch by batch.

    Model-agnostic: ``update`` takes embeddings from any CLIP. The state is the list of
    per-pair scores (a few bytes per image); ``compute`` sorts them before the bootstrap,
    so the result does not depend on the order shards were merged in.

    Args:
        confidence: two-sided coverage. interval: ``"bootstrap"`` (default) or ``"t"``.
        n_resamples: bootstrap resamples. seed: bootstrap seed.

    Example:
        >>> metric = CLIPScore()
        >>> metric.update(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
        >>> metric.update(torch.tensor([[0.6, 0.8]]), torch.tensor([[1.0, 0.0]]))
        >>> round(metric.compute().value, 1)
        80.0
    """

    higher_is_better: ClassVar[bool] = True
    is_differentiable: ClassVar[bool] = False

    def __init__(
        self,
        confidence: float = 0.95,
        interval: str = "bootstrap",
        n_resamples: int = 2000,
        seed: int = 0,
    ) -> None:
        self.confidence = check_confidence(confidence)
        self.interval = check_method(interval, "interval", ("bootstrap", "t"))
        self.n_resamples = check_count(n_resamples, "n_resamples", minimum=100)
        self.seed = check_count(seed, "seed", minimum=0)
        self._scores: list[torch.Tensor] = []

    def _settings(self) -> tuple[float, str, int, int]:
        return (self.confidence, self.interval, self.n_resamples, self.seed)

    def update(self, image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> None:
        """Add ``(N, D)`` image embeddings and their ``(N, D)`` or ``(1, D)`` text embeddings."""
        self._scores.append(clip_scores(image_embeds, text_embeds).cpu())

    @property
    def scores(self) -> torch.Tensor:
        """Every per-pair score seen so far, in update order, float64 ``(N,)``."""
        if not self._scores:
            return torch.empty(0, dtype=torch.float64)
        return torch.cat(self._scores)

    def compute(self) -> MeanEstimate:
        """Mean CLIP score with its interval."""
        scores = self.scores
        if scores.numel() == 0:
            raise ValueError("CLIPScore.compute() called before update(): no pairs")
        return mean_estimate(scores, *self._settings())

    def merge(self, other: CLIPScore) -> CLIPScore:
        """Append ``other``'s scores (in place) and return this metric."""
        if not isinstance(other, CLIPScore):
            raise TypeError(f"cannot merge {type(other).__name__} into CLIPScore")
        if other._settings() != self._settings():
            raise ValueError(
                "cannot merge CLIPScore with different settings: "
                f"{self._settings()} vs {other._settings()}"
            )
        self._scores.extend(other._scores)
        return self

    def reset(self) -> None:
        """Forget every pair seen."""
        self._scores = []
