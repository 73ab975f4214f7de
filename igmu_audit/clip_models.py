"""CLIP models for CLIP scores, CSDR and feature spaces, from config: a named model or local open_clip weights.

Every kind exposes the same small surface: ``name`` (the feature space, always reported),
``encode_image(images) -> (N, D)`` and ``encode_text(texts) -> (N, D)``, unit-normalised.

A named model (``clip: toyworld``) comes from a provider in the entry-point group
``igmu_audit.clip_models`` (a callable ``() -> model``, built once per process) or from
:func:`register_clip_model`; the toy world registers its toy CLIP that way::

    [project.entry-points."igmu_audit.clip_models"]
    my-clip = "my_package.clip:load"   # () -> object with name, encode_image, encode_text
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError
from igmu_audit.providers import Registry

if TYPE_CHECKING:
    import torch

#: The entry-point group CLIP model providers register under.
ENTRY_POINT_GROUP = "igmu_audit.clip_models"

_SURFACE = ("name", "encode_image", "encode_text")


def _check_clip(model: Any) -> str | None:
    missing = [attr for attr in _SURFACE if not hasattr(model, attr)]
    if missing:
        return (
            f"is not a CLIP model: a {type(model).__name__} without {', '.join(missing)} "
            f"(needs {', '.join(_SURFACE)})"
        )
    return None


_CLIPS = Registry(ENTRY_POINT_GROUP, "CLIP model", check=_check_clip)


def clip_model_names() -> tuple[str, ...]:
    """Names ``clip:`` accepts besides ``{model_name, checkpoint}`` (reads metadata only)."""
    return _CLIPS.names()


def register_clip_model(
    name: str, factory: Callable[[], Any], *, overwrite: bool = False
) -> None:
    """Register a CLIP model under ``name`` in this process (``clip: <name>``).

    Args:
        name: e.g. ``"my-clip"``.
        factory: ``() -> model`` with ``name``, ``encode_image`` and ``encode_text``;
            called once, on first use.
        overwrite: replace a provider already known under ``name`` (registered in
            process or an installed entry point); without it that is an error.

    Raises:
        ConfigError: an invalid name or factory, or a name already known.
    """
    _CLIPS.register(name, factory, overwrite=overwrite)


def unregister_clip_model(name: str) -> None:
    """Forget an in-process registration (tests, notebooks)."""
    _CLIPS.unregister(name)


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


def load_clip(spec: str | Mapping[str, Any], *, allow_pickle: bool = False) -> Any:
    """Load the CLIP model a config names.

    Args:
        spec: a registered name (``"toyworld"``, the toy world's CLIP; see
            ``clip_model_names()``) or ``{model_name, checkpoint}`` for open_clip weights
            on disk (never downloaded).
        allow_pickle: accept pickled open_clip weights (loaded with ``weights_only=True``).

    Raises:
        ConfigError: an unknown name (listing the known ones), a broken provider, an
            unknown form, or weights that are not on disk.
    """
    if isinstance(spec, str):
        return _CLIPS.build(spec)
    if isinstance(spec, Mapping) and {"model_name", "checkpoint"} <= set(spec):
        return OpenClipEncoder(
            str(spec["model_name"]), str(spec["checkpoint"]), allow_pickle=allow_pickle
        )
    names = " or ".join(repr(n) for n in clip_model_names())
    raise ConfigError(
        f"clip: expected a CLIP model name ({names or 'none installed'}) or "
        f"{{model_name: ViT-B-32-quickgelu, checkpoint: path/to/weights}} but got {spec!r}"
    )
