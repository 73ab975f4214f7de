"""The toy-world detector: the toy classifier's probability of one concept.

Why: audits of the toy world need a detector whose held-out accuracy is measured (see
``fixtures/toyworld/MODEL_CARD.md``). ``ToyWorldDetector("circle")`` scores each image with
the softmax probability of class "circle" from the shape head; colour and texture concepts
("red", "striped") use their own heads. Presence is ``score >= 0.5``.

Registered as detector ``toyworld`` through the entry-point group ``igmu_audit.detectors``
in pyproject.toml, the door a user's own detector uses (``docs/extending.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit._paths import fixtures_dir
from igmu_audit.detectors.base import as_image_batch
from igmu_audit.errors import DetectorError
from igmu_audit.toyworld.vocabulary import load_vocabulary

if TYPE_CHECKING:
    import torch

_ATTRIBUTES = ("shape", "colour", "texture")


class ToyWorldDetector:
    """Scores images for one toy-world concept (a shape, colour or texture).

    Args:
        concept: a concept from ``fixtures/toyworld/vocabulary.json``, e.g. ``"circle"``.
        attribute: ``"shape"``, ``"colour"`` or ``"texture"``; inferred from ``concept`` if omitted.
        threshold: scores ``>= threshold`` count as present.
        weights: a classifier folder (default: the shipped ``fixtures/toyworld/classifier``).

    Example:
        >>> detector = ToyWorldDetector("circle")
        >>> detector.profile["attribute"]
        'shape'
    """

    name = "toyworld"

    def __init__(
        self,
        concept: str,
        attribute: str | None = None,
        *,
        threshold: float = 0.5,
        weights: str | Path | None = None,
    ) -> None:
        from igmu_audit.toyworld.classifier import (
            WEIGHTS_NAME,
            load_toy_classifier,
            sha256_of,
        )

        vocab = load_vocabulary()
        if not isinstance(concept, str):
            raise TypeError(f"`concept` must be a string, got {type(concept).__name__}")
        inferred = vocab.attribute_of(concept)
        if attribute is not None and attribute not in _ATTRIBUTES:
            raise ValueError(
                f"`attribute` must be one of {list(_ATTRIBUTES)}, got {attribute!r}"
            )
        if attribute is not None and attribute != inferred:
            raise ValueError(
                f"`concept` {concept!r} is a {inferred}, not a {attribute}"
            )
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"`threshold` must be in (0, 1), got {threshold!r}")
        folder = (
            Path(weights)
            if weights is not None
            else fixtures_dir() / "toyworld" / "classifier"
        )
        try:
            self._model = load_toy_classifier(folder)
        except (OSError, RuntimeError, KeyError) as err:
            raise DetectorError(
                f"ToyWorldDetector could not load the toy classifier from {folder}: {err}"
            ) from err
        self.concept = concept
        self.attribute = inferred
        self.threshold = float(threshold)
        self._classes = self._model.classes[inferred]
        self._index = self._classes.index(concept)
        self._sha256 = sha256_of(folder / WEIGHTS_NAME)

    @property
    def profile(self) -> Mapping[str, Any]:
        """Weights hash, attribute head, class list, concept and threshold."""
        return {
            "detector": self.name,
            "concept": self.concept,
            "attribute": self.attribute,
            "classes": list(self._classes),
            "threshold": self.threshold,
            "score": f"softmax probability of {self.concept!r} from the {self.attribute} head",
            "weights_sha256": self._sha256,
            "input": "resized to 32x32 (bilinear, antialiased)",
        }

    def __call__(self, images: Any) -> torch.Tensor:
        """Score images (float (N, 3, H, W) in [0, 1]) -> float (N,) probabilities."""
        import torch

        batch = as_image_batch(images)
        if batch.shape[0] == 0:
            raise DetectorError(
                "ToyWorldDetector got an empty batch: expected at least one image"
            )
        if not torch.isfinite(batch).all():
            raise DetectorError("ToyWorldDetector got non-finite pixel values")
        if batch.min() < 0.0 or batch.max() > 1.0:
            raise DetectorError(
                f"ToyWorldDetector expects pixels in [0, 1]; got [{float(batch.min()):.3f}, {float(batch.max()):.3f}]"
            )
        return self._model.predict(batch)[self.attribute][:, self._index].float()

    def __repr__(self) -> str:
        return f"ToyWorldDetector(concept={self.concept!r}, attribute={self.attribute!r}, threshold={self.threshold})"
