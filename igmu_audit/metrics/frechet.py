"""Streaming Fréchet distance (FID with Inception features): moments merge exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from igmu_audit.metrics.features import FeatureExtractor
from igmu_audit.metrics.functional._checks import check_features
from igmu_audit.metrics.functional.frechet import (
    frechet_distance_from_statistics,
    statistics_from_moments,
)


@dataclass(frozen=True, slots=True)
class FrechetResult:
    """A Fréchet distance and what it was computed on.

    Attributes:
        value: the distance (lower = closer).
        n_real: reference feature vectors. n_fake: compared feature vectors.
        feature_space: the extractor's ``name`` (``"inception-v3-tf-fid (2048-d pool3)"``
            makes it FID).
    """

    value: float
    n_real: int
    n_fake: int
    feature_space: str

    def __str__(self) -> str:
        return f"{self.value:.3f} (n = {self.n_real} vs {self.n_fake}, {self.feature_space})"


class _Moments:
    """``(n, Σx, Σxxᵀ)`` in float64: addition is the exact merge."""

    def __init__(self) -> None:
        self.n = 0
        self.total: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None

    def add(self, n: int, total: torch.Tensor, outer: torch.Tensor) -> None:
        if self.total is None or self.outer is None:
            self.n, self.total, self.outer = n, total.clone(), outer.clone()
            return
        if total.shape != self.total.shape:
            raise ValueError(
                f"feature dimension changed: state has D={self.total.shape[0]}, got D={total.shape[0]}"
            )
        self.n += n
        self.total += total.to(self.total.device)
        self.outer += outer.to(self.outer.device)

    def statistics(self, label: str) -> tuple[torch.Tensor, torch.Tensor]:
        if self.total is None or self.outer is None or self.n < 2:
            raise ValueError(
                f"FrechetDistance needs at least 2 {label} feature vectors, got {self.n}"
            )
        return statistics_from_moments(self.n, self.total, self.outer)


class FrechetDistance:
    """Fréchet distance between a reference ("real") and a compared ("fake") image set.

    Formula as in ``frechet_distance``. The state per set is ``(n, Σx, Σxxᵀ)`` in float64,
    so merging shards adds numbers and equals one pass up to float64 round-off.

    Args:
        feature_extractor: if given, ``update`` takes image batches and embeds them;
            otherwise ``update`` takes ``(N, D)`` features.
        feature_space: name recorded for caller-supplied features (ignored when an
            extractor is given: its ``name`` is used).

    Example:
        >>> from igmu_audit.metrics.features import PixelFeatures
        >>> metric = FrechetDistance(PixelFeatures(size=2))
        >>> images = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> metric.update(images, real=True)
        >>> metric.update(images, real=False)
        >>> result = metric.compute()
        >>> round(result.value, 6), result.feature_space
        (0.0, 'pixels-2x2 (12-d, area-resized)')
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False

    def __init__(
        self,
        feature_extractor: FeatureExtractor | None = None,
        feature_space: str = "caller-supplied features",
    ) -> None:
        self.feature_extractor = feature_extractor
        self.feature_space = (
            feature_extractor.name if feature_extractor else feature_space
        )
        self._real = _Moments()
        self._fake = _Moments()

    def update(self, batch: torch.Tensor, *, real: bool) -> None:
        """Add images (with an extractor) or ``(N, D)`` features to the real or fake set."""
        feats = self.feature_extractor(batch) if self.feature_extractor else batch
        check_features(feats, "features")
        x = feats.detach().to(torch.float64)
        (self._real if real else self._fake).add(x.shape[0], x.sum(dim=0), x.T @ x)

    def compute(self) -> FrechetResult:
        """The distance; both sets need at least 2 vectors of the same dimension."""
        mu1, s1 = self._real.statistics("real")
        mu2, s2 = self._fake.statistics("fake")
        value = frechet_distance_from_statistics(mu1, s1, mu2, s2)
        return FrechetResult(value, self._real.n, self._fake.n, self.feature_space)

    def merge(self, other: FrechetDistance) -> FrechetDistance:
        """Add ``other``'s moments into this metric (in place) and return it."""
        if not isinstance(other, FrechetDistance):
            raise TypeError(f"cannot merge {type(other).__name__} into FrechetDistance")
        if other.feature_space != self.feature_space:
            raise ValueError(
                "cannot merge Fréchet states from different feature spaces: "
                f"{self.feature_space!r} vs {other.feature_space!r}"
            )
        for mine, theirs in ((self._real, other._real), (self._fake, other._fake)):
            if theirs.total is not None and theirs.outer is not None:
                mine.add(theirs.n, theirs.total, theirs.outer)
        return self

    def reset(self) -> None:
        """Forget both sets."""
        self._real = _Moments()
        self._fake = _Moments()
