"""Wrap any callable ``images -> per-image concept score`` into a ``Detector``.

For a classifier a team already has: the wrapper checks what the callable returns (one
finite score per image, within the declared range) so a shape slip or a NaN fails loudly
instead of being counted as "concept absent".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from igmu_audit.detectors.base import as_image_batch
from igmu_audit.errors import ConfigError, DetectorError

if TYPE_CHECKING:
    import torch


class CustomDetector:
    """A detector around a plain scoring function.

    Args:
        fn: ``fn(images) -> scores``; receives float (N, 3, H, W) in [0, 1] and returns N
            scores as a list, NumPy array or tensor (shape (N,) or (N, 1)).
        name: the name recorded in results.
        threshold: presence is ``score >= threshold``.
        score_range: inclusive bounds the scores must respect, or ``None`` for no check.
        profile: extra JSON-serialisable settings to record (model hash, classes, ...).

    Raises:
        ConfigError: ``fn`` is not callable, or ``threshold`` / ``score_range`` are invalid.

    Example:
        >>> import torch
        >>> detector = CustomDetector(lambda x: x.mean(dim=(1, 2, 3)), name="brightness")
        >>> detector(torch.ones(2, 3, 4, 4)).tolist()
        [1.0, 1.0]
    """

    def __init__(
        self,
        fn: Callable[[torch.Tensor], Any],
        *,
        name: str = "custom",
        threshold: float = 0.5,
        score_range: tuple[float, float] | None = (0.0, 1.0),
        profile: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(fn):
            raise ConfigError(f"`fn` must be callable, got {type(fn).__name__}")
        if score_range is not None and not score_range[0] < score_range[1]:
            raise ConfigError(
                f"`score_range` must be (low, high) with low < high, got {score_range}"
            )
        if (
            score_range is not None
            and not score_range[0] <= threshold <= score_range[1]
        ):
            raise ConfigError(
                f"`threshold` {threshold} lies outside `score_range` {score_range}"
            )
        self.fn = fn
        self.name = name
        self.threshold = float(threshold)
        self.score_range = score_range
        self._fn_name = _callable_name(fn)
        self._profile: dict[str, Any] = {
            **(profile or {}),
            "detector": "custom",
            "callable": self._fn_name,
            "threshold": self.threshold,
            "score_range": list(score_range) if score_range is not None else None,
        }

    @property
    def profile(self) -> dict[str, Any]:
        """The recorded settings: the callable's qualified name, threshold, range, extras."""
        return dict(self._profile)

    def __repr__(self) -> str:
        return f"CustomDetector({self._fn_name}, name={self.name!r}, threshold={self.threshold})"

    def __call__(self, images: Any) -> torch.Tensor:
        """Score images with the wrapped callable, then validate its output.

        Args:
            images: float (N, 3, H, W) in [0, 1], or anything ``as_image_batch`` accepts.

        Returns:
            float32 tensor (N,) of scores.

        Raises:
            DetectorError: the callable raised, or returned the wrong number of scores,
                non-numbers, NaN, or scores outside ``score_range``.
        """
        import numpy as np
        import torch

        batch = as_image_batch(images)
        n = batch.shape[0]
        try:
            raw = self.fn(batch)
        except DetectorError:
            raise
        except Exception as exc:
            raise DetectorError(
                f"detector {self.name!r} ({self._fn_name}) failed on {n} images: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        try:
            if isinstance(raw, torch.Tensor):
                scores = raw.detach().to("cpu", torch.float32)
            else:
                scores = torch.from_numpy(np.asarray(raw, dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise DetectorError(
                f"detector {self.name!r} ({self._fn_name}) returned {type(raw).__name__}, "
                f"not numbers: {exc}"
            ) from exc
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        if scores.ndim != 1 or scores.shape[0] != n:
            raise DetectorError(
                f"detector {self.name!r} ({self._fn_name}) returned {tuple(scores.shape)} "
                f"scores for {n} images: expected shape ({n},)"
            )
        if not torch.isfinite(scores).all():
            bad = int((~torch.isfinite(scores)).nonzero()[0, 0])
            raise DetectorError(
                f"detector {self.name!r} ({self._fn_name}) returned {scores[bad].item()} "
                f"for image {bad}"
            )
        if self.score_range is not None:
            low, high = self.score_range
            outside = ((scores < low) | (scores > high)).nonzero()
            if outside.numel():
                bad = int(outside[0, 0])
                raise DetectorError(
                    f"detector {self.name!r} ({self._fn_name}) returned {scores[bad].item():.4g} "
                    f"for image {bad}, outside score_range [{low}, {high}]"
                )
        return scores


def _callable_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or type(fn).__module__
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}"
