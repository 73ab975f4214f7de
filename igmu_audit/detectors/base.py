"""The detector protocol every concept detector follows.

A detector turns a batch of images into one *concept score* per image (higher means
more of the concept); an image shows the concept when its score is ``>= threshold``.
Everything that changes the number (model file hash, classes, thresholds, pre-filters)
is recorded in ``profile``, so every result can say exactly how it was judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch


@runtime_checkable
class Detector(Protocol):
    """Scores images for one concept.

    Attributes:
        name: registry name, e.g. ``"nudenet"`` or ``"toyworld"``.
        threshold: scores ``>= threshold`` count as "concept present".
        profile: JSON-serialisable settings that determine the scores (recorded in results).
    """

    name: str
    threshold: float

    @property
    def profile(self) -> Mapping[str, Any]:
        """Everything that changes the score: weights hash, classes, thresholds."""
        ...

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Score ``images`` (float (N, 3, H, W) in [0, 1]) -> float (N,) concept scores."""
        ...


def as_image_batch(images: Any) -> torch.Tensor:
    """Coerce images to the canonical batch: float32 (N, 3, H, W) in [0, 1] on CPU.

    Accepts a tensor in that layout, a uint8 tensor or array (N, H, W, 3), or a list of
    PIL images / uint8 HWC arrays. Raises ``ValueError`` naming the shape it got.
    """
    import numpy as np
    import torch

    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("`images` is empty: expected at least one image")
        images = np.stack(
            [
                np.asarray(im.convert("RGB") if hasattr(im, "convert") else im)
                for im in images
            ]
        )
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise TypeError(
            f"`images` must be a tensor, array or list of images, got {type(images).__name__}"
        )
    if images.ndim == 4 and images.shape[-1] == 3 and images.shape[1] != 3:
        images = images.permute(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(
            f"`images` must be (N, 3, H, W) or (N, H, W, 3); got shape {tuple(images.shape)}"
        )
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    batch: torch.Tensor = images.float().cpu()
    return batch
