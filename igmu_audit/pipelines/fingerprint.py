"""Model fingerprints: ``"sha256:<hex>"`` over weight files, override files and scheduler config.

A fingerprint names *what was audited*: it keys the image cache and appears in every
verdict. It depends only on content and relative names, never on absolute paths or
mtimes, so a copied folder has the same fingerprint and any changed weight, override or
scheduler setting gives a new one. File digests are cached per process by
``(path, size, mtime_ns)`` so a multi-GB checkpoint is hashed once per session.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.pipelines.checkpoints import PICKLE_SUFFIXES, SAFE_SUFFIXES

if TYPE_CHECKING:
    import torch

_CHUNK = 1 << 20
_DIGESTS: dict[tuple[str, int, int], str] = {}
_LOCK = threading.Lock()


def file_digest(path: str | Path) -> str:
    """``"sha256:<hex>"`` of a file's bytes, cached in-process by (path, size, mtime_ns).

    Args:
        path: the file.

    Returns:
        The digest string.
    """
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _LOCK:
        cached = _DIGESTS.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    result = f"sha256:{digest.hexdigest()}"
    with _LOCK:
        _DIGESTS[key] = result
    return result


def clear_digest_cache() -> None:
    """Forget every cached file digest (tests; files rewritten with the same mtime)."""
    with _LOCK:
        _DIGESTS.clear()


def canonical_json(obj: Any) -> bytes:
    """Sorted-key, whitespace-free JSON bytes: equal values give equal bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode(
        "utf-8"
    )


def combine(parts: Mapping[str, Any]) -> str:
    """``"sha256:<hex>"`` of the canonical JSON of ``parts``."""
    return f"sha256:{hashlib.sha256(canonical_json(dict(parts))).hexdigest()}"


def scheduler_config(scheduler: Any) -> dict[str, Any]:
    """The scheduler's settings that change sampling, plus its class name.

    Diffusers' private keys (``_diffusers_version``, ``_use_default_values``...) are
    dropped so re-saving a folder with another diffusers version keeps the fingerprint.
    """
    if scheduler is None:
        return {}
    config = {
        k: v
        for k, v in dict(getattr(scheduler, "config", {})).items()
        if not k.startswith("_")
    }
    config["_class_name"] = type(scheduler).__name__
    return config


def _pick(files: list[Path], variant: str | None) -> list[Path]:
    # Mirror diffusers' choice: safetensors over pickles, and the variant's files
    # (``*.fp16.safetensors``) when one is asked for and present, else the plain ones.
    for suffixes in (SAFE_SUFFIXES, PICKLE_SUFFIXES):
        group = [f for f in files if f.suffix in suffixes]
        if not group:
            continue
        if variant:
            tagged = [
                f for f in group if f".{variant}." in f.name or f".{variant}-" in f.name
            ]
            if tagged:
                return tagged
        plain = [f for f in group if "." not in f.stem]
        return plain or group
    return []


def folder_weight_files(
    folder: str | Path, *, variant: str | None = None
) -> dict[str, Path]:
    """The weight files a diffusers folder's components load, by relative POSIX name.

    Only the component subfolders listed in ``model_index.json`` count (hub repos also
    keep multi-GB single-file checkpoints at the top level that a pipeline never reads).

    Args:
        folder: a diffusers pipeline folder.
        variant: the weights variant (``"fp16"``) being loaded, if any.

    Returns:
        ``{"unet/diffusion_pytorch_model.safetensors": Path, ...}`` in sorted order.
    """
    folder = Path(folder)
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    out: dict[str, Path] = {}
    for name, value in sorted(index.items()):
        sub = folder / name
        if (
            name.startswith("_")
            or not isinstance(value, list)
            or None in value
            or not sub.is_dir()
        ):
            continue
        files = sorted(
            p
            for p in sub.rglob("*")
            if p.is_file()
            and not any(s.startswith(".") for s in p.relative_to(folder).parts)
        )
        for path in _pick(files, variant):
            out[path.relative_to(folder).as_posix()] = path
    return dict(sorted(out.items()))


def module_digest(module: torch.nn.Module) -> str:
    """``"sha256:<hex>"`` over a module's state dict: key, dtype, shape and bytes, in key order."""
    import torch

    digest = hashlib.sha256()
    for key, tensor in module.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{key}|{flat.dtype}|{tuple(tensor.shape)}\n".encode())
        # view(uint8) hashes the raw bytes of any dtype, bfloat16 included.
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


def fingerprint_pipeline(pipeline: Any) -> str:
    """Fingerprint an in-memory pipeline (e.g. one a user built or edited by hand).

    Hashes every ``torch.nn.Module`` component's tensors and the scheduler config. The
    value differs from :func:`load_pipeline`'s file-based fingerprint of the same weights:
    compare fingerprints of one kind only.

    Args:
        pipeline: a diffusers pipeline (anything with ``.components``).

    Returns:
        ``"sha256:<hex>"``.
    """
    import torch

    components = dict(getattr(pipeline, "components", {}))
    modules = {
        name: module_digest(value)
        for name, value in sorted(components.items())
        if isinstance(value, torch.nn.Module)
    }
    return combine(
        {
            "kind": "in-memory",
            "modules": modules,
            "scheduler": scheduler_config(components.get("scheduler")),
        }
    )
