"""Streaming KID: keeps the feature vectors; merged shards equal one pass exactly."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from igmu_audit.metrics.features import FeatureExtractor
from igmu_audit.metrics.functional._checks import check_count, check_features
from igmu_audit.metrics.functional.kid import KernelDistanceResult, kernel_distance


def _canonical(chunks: list[torch.Tensor]) -> torch.Tensor:
    """Rows sorted lexicographically: subset sampling then sees the same order whatever
    order shards were merged in."""
    x = torch.cat(chunks)
    order = sorted(range(x.shape[0]), key=x.tolist().__getitem__)
    return x[torch.tensor(order, dtype=torch.long)]


class KernelDistance:
    """KID between a reference ("real") and a compared ("fake") set: mean ± std over subsets.

    Formula and defaults as in ``kernel_distance`` (cubic polynomial kernel, γ = 1/D,
    c = 1; subsets drawn from ``seed``). The state is every feature vector (float64 on
    CPU, 16 KiB per 2048-d image); ``compute`` sorts the rows first, so merged shards give
    exactly the single-process result.

    Args:
        feature_extractor: if given, ``update`` takes image batches; otherwise ``(N, D)``
            features. feature_space: name recorded for caller-supplied features.
        subsets, subset_size, degree, gamma, coef, seed: as in ``kernel_distance``.

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> metric = KernelDistance(subsets=20)
        >>> metric.update(torch.randn(100, 8, generator=gen), real=True)
        >>> metric.update(torch.randn(100, 8, generator=gen) + 1.0, real=False)
        >>> result = metric.compute()
        >>> result.mean > 3 * result.std, result.subset_size
        (True, 50)
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False

    def __init__(
        self,
        feature_extractor: FeatureExtractor | None = None,
        feature_space: str = "caller-supplied features",
        subsets: int = 100,
        subset_size: int | None = None,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.feature_extractor = feature_extractor
        self.feature_space = (
            feature_extractor.name if feature_extractor else feature_space
        )
        self.subsets = check_count(subsets, "subsets", minimum=1)
        self.subset_size = subset_size
        self.degree = check_count(degree, "degree", minimum=1)
        self.gamma = gamma
        self.coef = coef
        self.seed = check_count(seed, "seed", minimum=0)
        self._real: list[torch.Tensor] = []
        self._fake: list[torch.Tensor] = []

    def _settings(self) -> tuple[object, ...]:
        return (
            self.feature_space,
            self.subsets,
            self.subset_size,
            self.degree,
            self.gamma,
            self.coef,
            self.seed,
        )

    def update(self, batch: torch.Tensor, *, real: bool) -> None:
        """Add images (with an extractor) or ``(N, D)`` features to the real or fake set."""
        feats = self.feature_extractor(batch) if self.feature_extractor else batch
        check_features(feats, "features")
        (self._real if real else self._fake).append(
            feats.detach().to("cpu", torch.float64)
        )

    def compute(self) -> KernelDistanceResult:
        """Mean and std of the unbiased MMD² over subsets, with the feature space named."""
        for label, chunks in (("real", self._real), ("fake", self._fake)):
            if not chunks:
                raise ValueError(
                    f"KernelDistance.compute() has no {label} features yet"
                )
        result = kernel_distance(
            _canonical(self._real),
            _canonical(self._fake),
            subsets=self.subsets,
            subset_size=self.subset_size,
            degree=self.degree,
            gamma=self.gamma,
            coef=self.coef,
            seed=self.seed,
        )
        return dataclasses.replace(result, feature_space=self.feature_space)

    def merge(self, other: KernelDistance) -> KernelDistance:
        """Append ``other``'s feature vectors (in place) and return this metric."""
        if not isinstance(other, KernelDistance):
            raise TypeError(f"cannot merge {type(other).__name__} into KernelDistance")
        if other._settings() != self._settings():
            raise ValueError(
                "cannot merge KernelDistance with different settings: "
                f"{self._settings()} vs {other._settings()}"
            )
        self._real.extend(other._real)
        self._fake.extend(other._fake)
        return self

    def reset(self) -> None:
        """Forget both sets."""
        self._real = []
        self._fake = []


KernelInceptionDistance = KernelDistance
"""torchmetrics' name; KID proper when the extractor is ``InceptionFeatures``."""
