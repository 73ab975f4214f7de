"""Local-only CLIP plumbing shared by ``clip_zero_shot.py`` and ``clip_head.py``.

Reading checkpoints (through the project's one pickle policy in
``igmu_audit.pipelines.checkpoints``), building an open_clip model
from local weights without ever reaching a hub, CLIP's preprocessing on tensor batches, and
the hashes that go into detector profiles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import CheckpointMismatchError, ConfigError, DetectorError

if TYPE_CHECKING:
    import torch

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
_DIR_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_state_dict(module: Any) -> str:
    """Hex sha256 over a module's state dict (names, dtypes, shapes, bytes), for in-memory models."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(raw.numpy().tobytes())
    return digest.hexdigest()


def read_state_dict(
    path: str | Path, *, allow_pickle: bool, what: str
) -> dict[str, torch.Tensor]:
    """Read detector weights through the project's one pickle policy, as a flat tensor dict.

    The file itself is read by :func:`igmu_audit.pipelines.checkpoints.read_state_dict`
    (safetensors always, pickles only with ``allow_pickle`` and ``weights_only=True``);
    this adds the detector layouts: ``{"state_dict": ...}`` unwrapped, a ``module.``
    prefix (DataParallel) dropped.

    Args:
        path: a ``.safetensors`` file, or ``.pt``/``.pth``/``.bin``/``.ckpt`` pickle.
        allow_pickle: read pickles (with ``torch.load(weights_only=True)``).
        what: what the file is, for messages, e.g. ``"classifier head"``.

    Raises:
        ConfigError: the file is missing, corrupt, of an unknown kind, or holds no tensors.
        UnsafeCheckpointError: a pickle without ``allow_pickle=True``, or one holding
            more than tensors.
    """
    import torch

    from igmu_audit.pipelines.checkpoints import ARGUMENT_OPT_IN
    from igmu_audit.pipelines.checkpoints import read_state_dict as read_weights

    obj: Mapping[str, Any] = read_weights(
        path, allow_pickle=allow_pickle, what=what, opt_in=ARGUMENT_OPT_IN
    )
    if isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(f"{what} {str(path)!r} does not hold a state dict of tensors")
    state = dict(obj)
    if all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_state_strict(module: Any, state: Mapping[str, Any], *, what: str) -> None:
    """``load_state_dict(strict=True)`` with a message naming the keys that do not match."""
    expected, given = set(module.state_dict()), set(state)
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{what} does not match the architecture: {len(missing)} missing keys "
            f"{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointMismatchError(
            f"{what} does not match the architecture: {exc}"
        ) from exc


def load_open_clip(
    model_name: str | None,
    checkpoint: str | Path | None,
    *,
    model_config: Mapping[str, Any] | None = None,
    allow_pickle: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """Build an open_clip model from local weights only.

    Args:
        model_name: a built-in open_clip architecture, e.g. ``"ViT-B-32-quickgelu"``
            (OpenAI's weights need the ``-quickgelu`` variant).
        checkpoint: a weights file, or a folder with ``open_clip_config.json`` and
            ``open_clip_model.safetensors`` (a hub snapshot copied to disk).
        model_config: an open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``)
            instead of ``model_name``.
        allow_pickle: accept ``.bin``/``.pt`` weights.

    Returns:
        ``(model in eval mode, record)``; the record has the architecture, weights file and
        sha256, image size and normalisation.

    Raises:
        ConfigError: no local weights, unknown architecture, or a hub-only model.
        UnsafeCheckpointError: pickled weights without ``allow_pickle``.
        CheckpointMismatchError: the weights do not fit the architecture.
    """
    import open_clip
    from open_clip.model import CLIP, CustomTextCLIP

    if checkpoint is None:
        raise ConfigError(
            f"open_clip model {model_name or '(from model_config)'!r} needs local weights and "
            "igmu-audit never downloads: pass checkpoint='/path/to/open_clip_model.safetensors' "
            "(or a folder holding open_clip_config.json and the weights, e.g. a hub snapshot "
            "fetched on a connected machine), or pass an already-built `model`"
        )
    path = Path(checkpoint)
    preprocess_cfg: Mapping[str, Any] = {}
    architecture = model_name if model_config is None else "model_config"
    if path.is_dir():
        config_file = path / "open_clip_config.json"
        if not config_file.is_file():
            raise ConfigError(
                f"checkpoint folder {str(path)!r} has no open_clip_config.json"
            )
        folder_config = json.loads(config_file.read_text(encoding="utf-8"))
        if model_config is None and "model_cfg" in folder_config:
            model_config = folder_config["model_cfg"]
            architecture = str(config_file)
        preprocess_cfg = folder_config.get("preprocess_cfg", {})
        weights = [path / f for f in _DIR_WEIGHTS if (path / f).is_file()]
        if not weights:
            raise ConfigError(
                f"checkpoint folder {str(path)!r} holds none of {list(_DIR_WEIGHTS)}"
            )
        path = weights[0]
    if model_config is None:
        if not model_name:
            raise ConfigError(
                "pass `model_name` (an open_clip architecture) or `model_config`"
            )
        if ":" in model_name:
            raise ConfigError(
                f"model_name {model_name!r} names a remote or schema source; pass the "
                "architecture name (e.g. 'ViT-B-32-quickgelu') and `checkpoint` with local weights"
            )
        model_config = open_clip.get_model_config(model_name)
        if model_config is None:
            import difflib

            close = difflib.get_close_matches(model_name, open_clip.list_models(), n=3)
            raise ConfigError(
                f"unknown open_clip architecture {model_name!r}; close: {close}"
            )
    config = dict(model_config)
    if "hf_model_name" in config.get("text_cfg", {}):
        raise ConfigError(
            "text towers from the Hugging Face hub are not supported offline"
        )
    custom_text = bool(config.pop("custom_text", False))
    try:
        model = (CustomTextCLIP if custom_text else CLIP)(**config)
    except TypeError as exc:
        raise ConfigError(f"invalid open_clip model config: {exc}") from exc
    load_state_strict(
        model,
        read_state_dict(path, allow_pickle=allow_pickle, what="CLIP weights"),
        what=f"CLIP weights {str(path)!r}",
    )
    model.eval()
    record = {
        "architecture": architecture,
        "weights_file": path.name,
        "weights_sha256": sha256_file(path),
        "image_size": config.get("vision_cfg", {}).get("image_size", 224),
        "mean": list(preprocess_cfg.get("mean", OPENAI_MEAN)),
        "std": list(preprocess_cfg.get("std", OPENAI_STD)),
    }
    return model, record


def clip_preprocess(
    images: torch.Tensor,
    size: int | Sequence[int] | None,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor:
    """CLIP's preprocessing on a tensor batch: shorter side to ``size`` (bicubic,
    antialiased), centre crop, normalise. ``size=None`` keeps the resolution."""
    import torch
    import torch.nn.functional as F

    if size is not None:
        sizes = (size, size) if isinstance(size, int) else tuple(size)
        h, w = images.shape[-2:]
        scale = max(sizes[0] / h, sizes[1] / w)
        new = (max(sizes[0], round(h * scale)), max(sizes[1], round(w * scale)))
        if new != (h, w):
            images = F.interpolate(
                images, size=new, mode="bicubic", antialias=True, align_corners=False
            )
            images = images.clamp(0.0, 1.0)
        top, left = (new[0] - sizes[0]) // 2, (new[1] - sizes[1]) // 2
        images = images[..., top : top + sizes[0], left : left + sizes[1]]
    mean_t = torch.tensor(mean, dtype=images.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=images.dtype).view(1, 3, 1, 1)
    return (images - mean_t) / std_t


def features_of(output: Any) -> torch.Tensor:
    """Tensor features from open_clip (a tensor) or transformers 5 (an output object)."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    for attribute in ("image_embeds", "text_embeds", "pooler_output"):
        value = getattr(output, attribute, None)
        if isinstance(value, torch.Tensor):
            return value
    raise DetectorError(
        f"the CLIP model returned {type(output).__name__}, not features"
    )


def encode_images(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Image features from an open_clip (``encode_image``) or transformers model."""
    if hasattr(model, "encode_image"):
        return features_of(model.encode_image(pixels))
    return features_of(model.get_image_features(pixel_values=pixels))
