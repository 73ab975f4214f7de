"""Streaming paired perceptual distance, keyed by (prompt, seed) so pairs never slip."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import ClassVar

import torch

from igmu_audit.metrics.features import FeatureExtractor
from igmu_audit.metrics.functional._checks import check_confidence, check_count
from igmu_audit.metrics.functional.intervals import MeanEstimate, mean_estimate
from igmu_audit.metrics.functional.perceptual import (
    PairDistanceFn,
    feature_distance,
    lpips_distance,
    perceptual_distances,
)


class PerceptualDistance:
    """Mean paired distance between two models' images of the same prompts and seeds.

    Each ``update`` gives two aligned batches and one key per row (e.g. ``(prompt_index,
    seed)``); the state maps key -> distance, so a key seen twice is an error rather than
    a silent double count, and merged shards equal one pass exactly. ``name`` says what
    was measured (``"cosine distance in <feature space>"`` or ``"LPIPS (alex, ...)"``).

    Args:
        extractor: feature space for the cosine distance (ignored with ``lpips_net``).
        lpips_net: use LPIPS with this backbone instead (needs ``lpips`` and its weights).
        confidence, n_resamples, seed: bootstrap interval of the mean.

    Example:
        >>> from igmu_audit.metrics.features import PixelFeatures
        >>> metric = PerceptualDistance(PixelFeatures(size=4))
        >>> a = torch.full((2, 3, 8, 8), 0.5)
        >>> metric.update(a, a, keys=[(0, 0), (0, 1)])
        >>> result = metric.compute()
        >>> result.n, round(result.value, 6), metric.name
        (2, 0.0, 'cosine distance in pixels-4x4 (48-d, area-resized)')
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False

    def __init__(
        self,
        extractor: FeatureExtractor | None = None,
        *,
        lpips_net: str | None = None,
        confidence: float = 0.95,
        n_resamples: int = 2000,
        seed: int = 0,
    ) -> None:
        self._fn: PairDistanceFn
        if lpips_net is not None:
            self.name, self._fn = lpips_distance(lpips_net)
        elif extractor is not None:
            self.name, self._fn = feature_distance(extractor)
        else:
            raise ValueError(
                "PerceptualDistance needs `extractor` (a FeatureExtractor, e.g. "
                "InceptionFeatures()) or `lpips_net` ('alex', 'vgg' or 'squeeze')"
            )
        self.confidence = check_confidence(confidence)
        self.n_resamples = check_count(n_resamples, "n_resamples", minimum=100)
        self.seed = check_count(seed, "seed", minimum=0)
        self._distances: dict[Hashable, float] = {}

    def _settings(self) -> tuple[str, float, int, int]:
        return (self.name, self.confidence, self.n_resamples, self.seed)

    def update(
        self, images_a: torch.Tensor, images_b: torch.Tensor, keys: Sequence[Hashable]
    ) -> None:
        """Add aligned batches ``(N, 3, H, W)`` and their ``N`` unique pair keys."""
        if isinstance(keys, (str, bytes)) or len(keys) != images_a.shape[0]:
            raise ValueError(
                f"`keys` must be a sequence of one key per pair ({images_a.shape[0]}), "
                f"got {keys!r}"
            )
        seen = [k for k in keys if k in self._distances]
        if seen or len(set(keys)) != len(keys):
            dupes = seen or [k for k in keys if list(keys).count(k) > 1]
            raise ValueError(f"`keys` repeat pairs already counted: {dupes[:5]}")
        values = perceptual_distances(images_a, images_b, self._fn)
        self._distances.update(zip(keys, values.tolist(), strict=True))

    @property
    def distances(self) -> dict[Hashable, float]:
        """Per-pair distances by key (a copy), for evidence tables."""
        return dict(self._distances)

    def compute(self) -> MeanEstimate:
        """Mean distance with a bootstrap interval; ``self.name`` says what it measures."""
        if not self._distances:
            raise ValueError("PerceptualDistance.compute() called before update()")
        values = torch.tensor(list(self._distances.values()), dtype=torch.float64)
        return mean_estimate(
            values, self.confidence, "bootstrap", self.n_resamples, self.seed
        )

    def merge(self, other: PerceptualDistance) -> PerceptualDistance:
        """Add ``other``'s pairs (in place); a key present in both is an error."""
        if not isinstance(other, PerceptualDistance):
            raise TypeError(
                f"cannot merge {type(other).__name__} into PerceptualDistance"
            )
        if other._settings() != self._settings():
            raise ValueError(
                "cannot merge PerceptualDistance with different settings: "
                f"{self._settings()} vs {other._settings()}"
            )
        both = self._distances.keys() & other._distances.keys()
        if both:
            raise ValueError(
                f"pairs counted on both sides of the merge: {sorted(map(repr, both))[:5]}"
            )
        self._distances.update(other._distances)
        return self

    def reset(self) -> None:
        """Forget every pair."""
        self._distances = {}
