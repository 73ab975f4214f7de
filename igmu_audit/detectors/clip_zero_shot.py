"""CLIP zero-shot detector: is an image closer to the concept's texts than to counter texts?

score = sum over concept texts of softmax(logit_scale * cos(image, text)) over all texts,
with each text put through a template ("a photo of {}"). Works with an open_clip
architecture and *local* weights, or with any already-built CLIP-like model (open_clip's
``encode_image``/``encode_text`` or transformers' ``get_image_features``/``get_text_features``).
It never downloads: a model name without local weights is a ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.detectors._clip import (
    OPENAI_MEAN,
    OPENAI_STD,
    clip_preprocess,
    encode_images,
    features_of,
    load_open_clip,
    sha256_state_dict,
)
from igmu_audit.detectors.base import as_image_batch
from igmu_audit.errors import ConfigError, DetectorError

if TYPE_CHECKING:
    import torch


class CLIPZeroShotDetector:
    """Zero-shot concept score from CLIP: the probability mass on the concept's texts.

    Args:
        concepts: texts naming the concept, e.g. ``["a nude person"]``.
        counter_concepts: texts naming what the image should be instead.
        model_name: open_clip architecture used with ``checkpoint``.
        checkpoint: local weights (file or folder, see ``load_open_clip``).
        model_config: an open_clip model config instead of ``model_name``.
        model: an already-built CLIP-like model (then ``checkpoint`` is ignored); it is
            put in eval mode.
        tokenizer: ``texts -> token tensor`` (or a mapping of tensors for transformers);
            defaults to open_clip's bundled tokenizer.
        template: how each text is put into a prompt; must contain ``{}``.
        logit_scale: softmax scale (inverse temperature); default the model's own.
        threshold: presence is ``score >= threshold``.
        image_size: model input size; default from the model config.
        mean: normalisation mean (default OpenAI's).
        std: normalisation std (default OpenAI's).
        allow_pickle: accept pickled weights.
        batch_size: images per forward pass.

    Raises:
        ConfigError: empty texts, bad template, no local weights, or a tokenizer the
            model cannot read.
        UnsafeCheckpointError: pickled weights without ``allow_pickle=True``.
        CheckpointMismatchError: the weights do not fit the architecture.

    Example:
        >>> detector = CLIPZeroShotDetector(  # doctest: +SKIP
        ...     "a church", ["a house", "a tree"],
        ...     model_name="ViT-B-32-quickgelu", checkpoint="weights/clip-b32.safetensors",
        ... )
        >>> detector(images)  # doctest: +SKIP
        tensor([0.91, 0.07])
    """

    name = "clip-zero-shot"

    def __init__(
        self,
        concepts: str | Sequence[str],
        counter_concepts: str | Sequence[str],
        *,
        model_name: str | None = None,
        checkpoint: str | Path | None = None,
        model_config: Mapping[str, Any] | None = None,
        model: Any = None,
        tokenizer: Callable[[list[str]], Any] | None = None,
        template: str = "a photo of {}",
        logit_scale: float | None = None,
        threshold: float = 0.5,
        image_size: int | Sequence[int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        allow_pickle: bool = False,
        batch_size: int = 32,
    ) -> None:
        import torch

        self.concepts = _texts(concepts, "concepts")
        self.counter_concepts = _texts(counter_concepts, "counter_concepts")
        if "{}" not in template:
            raise ConfigError(f"`template` must contain '{{}}', got {template!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"`threshold` must be in [0, 1], got {threshold}")
        if batch_size < 1:
            raise ConfigError(f"`batch_size` must be at least 1, got {batch_size}")
        if model is None:
            model, record = load_open_clip(
                model_name,
                checkpoint,
                model_config=model_config,
                allow_pickle=allow_pickle,
            )
        else:
            record = {
                "architecture": model_name or type(model).__qualname__,
                "weights_sha256": sha256_state_dict(model),
                "image_size": _model_image_size(model),
            }
        if tokenizer is None:
            from open_clip.tokenizer import SimpleTokenizer

            tokenizer = SimpleTokenizer(
                context_length=getattr(model, "context_length", 77)
            )
        if hasattr(model, "eval"):
            model.eval()  # dropout would make scores random
        self.model, self.tokenizer = model, tokenizer
        self.template = template
        self.threshold = float(threshold)
        self.batch_size = batch_size
        self.image_size = (
            image_size if image_size is not None else record.get("image_size")
        )
        self.mean = tuple(mean if mean is not None else record.get("mean", OPENAI_MEAN))
        self.std = tuple(std if std is not None else record.get("std", OPENAI_STD))
        own_scale = getattr(model, "logit_scale", None)
        if logit_scale is None:
            logit_scale = (
                float(own_scale.detach().exp())
                if isinstance(own_scale, torch.Tensor)
                else 100.0
            )
        self.logit_scale = float(logit_scale)
        prompts = [template.format(t) for t in (*self.concepts, *self.counter_concepts)]
        try:
            with torch.inference_mode():
                tokens = tokenizer(prompts)
                if isinstance(tokens, Mapping):
                    text = features_of(model.get_text_features(**tokens))
                else:
                    text = features_of(model.encode_text(tokens))
        except Exception as exc:
            raise ConfigError(
                f"could not encode the prompts {prompts} with this model and tokenizer: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._text = torch.nn.functional.normalize(text.float(), dim=-1)
        self._profile = {
            "detector": self.name,
            **record,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "concepts": list(self.concepts),
            "counter_concepts": list(self.counter_concepts),
            "prompts": prompts,
            "logit_scale": self.logit_scale,
            "threshold": self.threshold,
            "score": "sum of softmax(logit_scale * cos) over the concept prompts",
        }

    @property
    def profile(self) -> dict[str, Any]:
        """Weights hash, prompts, scale, preprocessing and threshold (a copy)."""
        return dict(self._profile)

    def __call__(self, images: Any) -> torch.Tensor:
        """Score images: probability mass on the concept prompts.

        Args:
            images: float (N, 3, H, W) in [0, 1], or anything ``as_image_batch`` accepts.

        Returns:
            float32 tensor (N,) of probabilities in [0, 1].

        Raises:
            DetectorError: the model failed or produced non-finite scores.
        """
        import torch

        batch = as_image_batch(images)
        chunks = []
        with torch.inference_mode():
            for start in range(0, batch.shape[0], self.batch_size):
                pixels = clip_preprocess(
                    batch[start : start + self.batch_size],
                    self.image_size,
                    self.mean,
                    self.std,
                )
                try:
                    feats = encode_images(self.model, pixels)
                except DetectorError:
                    raise
                except Exception as exc:
                    raise DetectorError(
                        f"CLIP failed on images {start}..{start + pixels.shape[0] - 1}: {exc}"
                    ) from exc
                feats = torch.nn.functional.normalize(feats.float(), dim=-1)
                probs = (self.logit_scale * feats @ self._text.T).softmax(dim=-1)
                chunks.append(probs[:, : len(self.concepts)].sum(dim=-1))
        scores = torch.cat(chunks) if chunks else torch.zeros(0)
        if not torch.isfinite(scores).all():
            raise DetectorError(
                "CLIP produced non-finite scores (NaN weights or pixels?)"
            )
        return scores.clamp(0.0, 1.0).float()


def _texts(texts: str | Sequence[str], argument: str) -> tuple[str, ...]:
    items = (texts,) if isinstance(texts, str) else tuple(texts)
    if not items or not all(isinstance(t, str) and t.strip() for t in items):
        raise ConfigError(
            f"`{argument}` must be one or more non-empty strings, got {texts!r}"
        )
    return items


def _model_image_size(model: Any) -> Any:
    """Input size of an open_clip (``visual.image_size``) or transformers CLIP model."""
    size = getattr(getattr(model, "visual", None), "image_size", None)
    if size is None:
        vision = getattr(getattr(model, "config", None), "vision_config", None)
        size = getattr(vision, "image_size", None)
    return list(size) if isinstance(size, tuple) else size
