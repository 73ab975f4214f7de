"""CLIP models for CLIP scores, CSDR and feature spaces, from config: the toy CLIP or local open_clip weights.

Both kinds expose the same small surface: ``name`` (the feature space, always reported),
``encode_image(images) -> (N, D)`` and ``encode_text(texts) -> (N, D)``, unit-normalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    import torch


class OpenClipEncoder:
    """An open_clip model loaded from local weights, with CLIP preprocessing on tensors."""

    def __init__(
        self, model_name: str, checkpoint: str, *, allow_pickle: bool = False
    ) -> None:
        from igmu_audit.detectors._clip import load_open_clip

        self.model, self.record = load_open_clip(
            model_name, checkpoint, allow_pickle=allow_pickle
        )
        self.name = (
            f"open_clip {model_name} ({str(self.record.get('sha256', ''))[:12]})"
        )

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-normalised image embeddings of a float (N, 3, H, W) batch in [0, 1]."""
        import torch

        from igmu_audit.detectors._clip import clip_preprocess, encode_images

        pixels = clip_preprocess(
            images,
            self.record.get("image_size"),
            self.record["mean"],
            self.record["std"],
        )
        with torch.no_grad():
            return torch.nn.functional.normalize(
                encode_images(self.model, pixels).float(), dim=-1
            )

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Unit-normalised text embeddings."""
        import open_clip
        import torch

        tokens = open_clip.get_tokenizer(self.record["architecture"])(list(texts))
        with torch.no_grad():
            return torch.nn.functional.normalize(
                self.model.encode_text(tokens).float(), dim=-1
            )


@lru_cache(maxsize=4)
def _toy() -> Any:
    from igmu_audit.toyworld.clip import load_toy_clip

    return load_toy_clip()


def load_clip(spec: str | Mapping[str, Any], *, allow_pickle: bool = False) -> Any:
    """Load the CLIP model a config names.

    Args:
        spec: ``"toyworld"`` (the shipped toy CLIP) or ``{model_name, checkpoint}`` for
            open_clip weights on disk (never downloaded).
        allow_pickle: accept pickled open_clip weights (loaded with ``weights_only=True``).

    Raises:
        ConfigError: an unknown form, or weights that are not on disk.
    """
    if spec == "toyworld":
        return _toy()
    if isinstance(spec, Mapping) and {"model_name", "checkpoint"} <= set(spec):
        return OpenClipEncoder(
            str(spec["model_name"]), str(spec["checkpoint"]), allow_pickle=allow_pickle
        )
    raise ConfigError(
        f"clip: expected 'toyworld' or {{model_name: ViT-B-32-quickgelu, checkpoint: path/to/weights}} but got {spec!r}"
    )
