"""``load_pipeline()``: the model under audit (a ``ModelSpec``), loaded offline and fingerprinted.

A model is a diffusers folder, a single-file checkpoint or a hub id (``path``), plus the
files an unlearning method ships on top of it: a full or partial UNet state dict, a text
encoder (dict or folder) and LoRA weights. Loading follows diffusers' habits (CPU and
fp32 unless asked; ``torch_dtype``, ``variant``), validates every override file from
its header before touching any weights (``weight_files.py``), never unpickles without
``allow_pickle=True`` and never needs the network for local files. torch and diffusers
are imported inside functions: the pytest plugin imports ``ModelSpec`` at start-up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError, UnsafeCheckpointError
from igmu_audit.pipelines.checkpoints import (
    is_pickle,
    refusal_message,
    validate_weight_file,
)
from igmu_audit.pipelines.dtypes import to_torch_dtype
from igmu_audit.pipelines.loaded import LoadedPipeline
from igmu_audit.pipelines.spec import DTYPES, ModelSpec, looks_like_hub_id
from igmu_audit.pipelines.weight_files import check_overrides

__all__ = [
    "DTYPES",
    "LoadedPipeline",
    "ModelSpec",
    "check_overrides",
    "load_pipeline",
    "looks_like_hub_id",
    "resolve_device",
    "resolve_dtype",
]

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("igmu_audit.pipelines")


def resolve_dtype(value: str | torch.dtype | None) -> torch.dtype:
    """``torch.float32`` for ``None``, else the named or given float dtype.

    Raises:
        ConfigError: not one of float32 / float16 / bfloat16 (or their aliases).
    """
    return to_torch_dtype(value, field="torch_dtype")


def resolve_device(value: str | torch.device) -> torch.device:
    """Parse ``value`` (``"cpu"``, ``"cuda:1"``, ``"mps"``...) and check the device exists.

    Raises:
        ConfigError: an unparsable name, or a CUDA device this machine lacks.
    """
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device: {value!r} is not a torch device ({exc})") from exc
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(
                f"device: {value!r} requested but this machine has {count} CUDA device(s)"
            )
    return device


def _dtype_kwargs(dtype: torch.dtype) -> dict[str, Any]:
    # diffusers renamed `torch_dtype` to `dtype` (the old name now warns); releases
    # before the rename only know `torch_dtype`.
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype}


def _offline_error(spec: ModelSpec, exc: BaseException) -> ConfigError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(
        f"model path {spec.path!r} was not found locally, and loading a hub id needs network "
        f"access (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', 'unset')}) or a copy in the "
        "Hugging Face cache. Point `path` at a local diffusers folder or single-file "
        f"checkpoint, or download it once with network. ({type(exc).__name__}: {first})"
    )


def _load_folder(
    root: Path, spec: ModelSpec, dtype: torch.dtype, cls: Any
) -> tuple[Any, dict[str, Path]]:
    from igmu_audit.pipelines.fingerprint import folder_weight_files

    if not (root / "model_index.json").is_file():
        what = (
            "a single component folder (config.json); give it as `unet:` or `text_encoder:` "
            "on top of the original model"
            if (root / "config.json").is_file()
            else "not a diffusers pipeline folder (no model_index.json)"
        )
        raise ConfigError(f"model path {str(root)!r} is {what}")
    files = folder_weight_files(root, variant=spec.variant)
    pickles = [name for name, p in files.items() if is_pickle(p)]
    if pickles and not spec.allow_pickle:
        raise UnsafeCheckpointError(
            refusal_message(root / pickles[0], field="path")
            + f"\n  ({len(pickles)} pickle weight file(s) in this folder; no safetensors alternative)"
        )
    kwargs: dict[str, Any] = {
        **_dtype_kwargs(dtype),
        "local_files_only": True,
        "use_safetensors": None if pickles else True,
    }
    if spec.variant:
        kwargs["variant"] = spec.variant
    # A component saved as null (SD3 without T5: text_encoder_3) loads as None; diffusers
    # refuses the folder otherwise.
    kwargs.update(dict.fromkeys(_null_components(root)))
    try:
        return cls.from_pretrained(str(root), **kwargs), files
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"model path {str(root)!r}: diffusers could not load this folder: {exc}"
        ) from exc


def _null_components(root: Path) -> list[str]:
    import json

    try:
        index = json.loads((root / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"model path {str(root)!r}: model_index.json is not readable JSON ({exc})"
        ) from exc
    if not isinstance(index, dict):
        raise ConfigError(
            f"model path {str(root)!r}: model_index.json is not an object"
        )
    return [
        name
        for name, value in index.items()
        if not name.startswith("_")
        and isinstance(value, list)
        and value
        and all(v is None for v in value)
    ]


def _load_single_file(root: Path, spec: ModelSpec, dtype: torch.dtype, cls: Any) -> Any:
    validate_weight_file(root, allow_pickle=spec.allow_pickle, field="path")
    kwargs: dict[str, Any] = {**_dtype_kwargs(dtype), "local_files_only": True}
    if spec.single_file_config:
        config = Path(spec.single_file_config)
        if not (config / "model_index.json").is_file():
            raise ConfigError(
                f"model single_file_config {spec.single_file_config!r} is not a local diffusers "
                "folder (no model_index.json)"
            )
        kwargs["config"] = str(config)
    try:
        return cls.from_single_file(str(root), **kwargs)
    except (OSError, ValueError) as exc:
        hint = (
            ""
            if spec.single_file_config
            else (
                "; offline, set `single_file_config` to a local diffusers folder of the same "
                "architecture so the configs need not be downloaded"
            )
        )
        raise ConfigError(
            f"model path {str(root)!r}: could not load the single-file checkpoint: {exc}{hint}"
        ) from exc


def _hub_files(spec: ModelSpec) -> dict[str, Path] | None:
    from igmu_audit.pipelines.fingerprint import folder_weight_files

    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(spec.path, local_files_only=True)
        return folder_weight_files(folder, variant=spec.variant)
    except Exception:  # best effort: the caller hashes the loaded tensors instead
        return None


def load_pipeline(
    spec_or_path: ModelSpec | str | os.PathLike[str] | Mapping[str, Any],
    *,
    device: str | torch.device = "cpu",
    torch_dtype: str | torch.dtype | None = None,
    pipeline_class: Any = None,
) -> LoadedPipeline:
    """Load a model and its overrides, and fingerprint it.

    Args:
        spec_or_path: a ``ModelSpec``, a path / hub id, or a mapping of spec fields.
        device: where the pipeline goes (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).
        torch_dtype: overrides ``spec.torch_dtype``; default float32.
        pipeline_class: diffusers pipeline class; default ``DiffusionPipeline`` for
            folders and hub ids (the class in ``model_index.json``) and
            ``StableDiffusionPipeline`` for single files.

    Returns:
        The ``LoadedPipeline``, with ``overrides`` reporting what each override changed.

    Raises:
        ConfigError: bad spec, device or dtype; a missing local path; an unreachable hub id.
        UnsafeCheckpointError: a pickle file without ``allow_pickle=True``.
        CheckpointMismatchError: an override whose keys or shapes do not fit the model.
        MissingDependencyError: a LoRA override without ``peft``.
    """
    spec = ModelSpec.coerce(spec_or_path)
    dtype = resolve_dtype(torch_dtype if torch_dtype is not None else spec.torch_dtype)
    target = resolve_device(device)
    # Input checks first: every override file is validated from its header (missing,
    # empty, truncated, corrupt, refused pickle) before the base model is read.
    override_paths = check_overrides(spec)
    if spec.pipeline_factory:
        from igmu_audit.pipelines.factory import resolve_factory, takes_pipeline

        func, _ = resolve_factory(spec.pipeline_factory)  # import errors before loading
        if not takes_pipeline(func):
            if override_paths:
                raise ConfigError(
                    f"model pipeline_factory {spec.pipeline_factory!r} takes no pipeline, "
                    f"so the overrides ({', '.join(override_paths)}) would be ignored; "
                    "make the factory take the loaded pipeline, or drop the overrides"
                )
            return _factory(spec, None, target, dtype)

    import diffusers

    root = Path(spec.path)
    base_files: dict[str, Path] | None
    if root.is_dir():
        pipeline, base_files = _load_folder(
            root, spec, dtype, pipeline_class or diffusers.DiffusionPipeline
        )
    elif root.is_file():
        pipeline = _load_single_file(
            root, spec, dtype, pipeline_class or diffusers.StableDiffusionPipeline
        )
        base_files = {"checkpoint": root}
    elif looks_like_hub_id(spec.path):
        cls = pipeline_class or diffusers.DiffusionPipeline
        kwargs: dict[str, Any] = {
            **_dtype_kwargs(dtype),
            "use_safetensors": None if spec.allow_pickle else True,
        }
        if spec.variant:
            kwargs["variant"] = spec.variant
        try:
            pipeline = cls.from_pretrained(spec.path, **kwargs)
        except (OSError, ValueError) as exc:
            raise _offline_error(spec, exc) from exc
        base_files = _hub_files(spec)
    else:
        raise ConfigError(
            f"model path {spec.path!r} does not exist (resolved: {str(root.resolve())!r})"
        )
    loaded = _finish(pipeline, spec, base_files, override_paths, target, dtype)
    return _factory(spec, loaded, target, dtype) if spec.pipeline_factory else loaded


def _factory(
    spec: ModelSpec, loaded: LoadedPipeline | None, device: Any, dtype: Any
) -> LoadedPipeline:
    from igmu_audit.pipelines.factory import audited_pipeline

    return audited_pipeline(str(spec.pipeline_factory), loaded, spec, device, dtype)


def _finish(
    pipeline: Any,
    spec: ModelSpec,
    base_files: dict[str, Path] | None,
    override_paths: dict[str, list[Path]],
    device: torch.device,
    dtype: torch.dtype,
) -> LoadedPipeline:
    from igmu_audit.pipelines.fingerprint import (
        combine,
        file_digest,
        module_digest,
        scheduler_config,
    )
    from igmu_audit.pipelines.overrides import apply_lora, apply_state_dict_override

    if base_files is not None:
        per_file = {name: file_digest(path) for name, path in base_files.items()}
    else:
        # A hub model outside the local cache layout: hash the loaded tensors instead
        # (before the overrides, which are hashed as files below).
        import torch

        per_file = {
            f"module:{name}": module_digest(value)
            for name, value in sorted(pipeline.components.items())
            if isinstance(value, torch.nn.Module)
        }
    from igmu_audit.pipelines.spec import COMPONENT_FIELDS

    reports = [
        apply_state_dict_override(
            pipeline, name, getattr(spec, name), allow_pickle=spec.allow_pickle
        )
        for name in COMPONENT_FIELDS
        if getattr(spec, name)
    ]
    if spec.lora:
        reports.append(
            apply_lora(
                pipeline,
                override_paths["lora"][0],
                scale=spec.lora_scale,
                allow_pickle=spec.allow_pickle,
            )
        )
    for name, files in override_paths.items():
        for file in files:
            # Content and role only: renaming or moving an override keeps its fingerprint.
            key = (
                f"override:{name}"
                if len(files) == 1
                else f"override:{name}/{file.name}"
            )
            per_file[key] = file_digest(file)
    options = {
        "variant": spec.variant,
        "lora_scale": spec.lora_scale if spec.lora else None,
    }
    fingerprint = combine(
        {
            "files": per_file,
            "scheduler": scheduler_config(getattr(pipeline, "scheduler", None)),
            "options": options,
        }
    )
    pipeline = pipeline.to(device)
    for value in pipeline.components.values():
        if hasattr(value, "eval"):
            value.eval()
    logger.info(
        "loaded %s (%s) on %s as %s", spec.label, fingerprint[:19], device, dtype
    )
    return LoadedPipeline(
        pipeline=pipeline,
        spec=spec,
        fingerprint=fingerprint,
        component_fingerprints=per_file,
        device=str(device),
        torch_dtype=str(dtype).removeprefix("torch."),
        overrides=tuple(reports),
    )
