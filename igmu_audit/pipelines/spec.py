"""``ModelSpec``: the model under audit as plain, validated, JSON-serialisable fields.

Kept free of torch and diffusers (the pytest plugin imports it at start-up); loading
lives in ``loading.py``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.checkpoints import WEIGHT_SUFFIXES
from igmu_audit.pipelines.dtypes import ALIASES, canonical_dtype

#: Accepted ``torch_dtype`` names (and common aliases) -> canonical torch name.
DTYPES = ALIASES
#: Components an override file may replace (``families.OVERRIDE_COMPONENTS``).
COMPONENT_FIELDS = (
    "unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3",
)  # fmt: skip
_PATH_FIELDS = (*COMPONENT_FIELDS, "lora", "single_file_config")
_FACTORY = re.compile(r"^(?:[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*|.+\.py):[A-Za-z_]\w*$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _fail(name: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(
        f"ModelSpec.{name}: expected {expected}, got {value!r} ({type(value).__name__})"
    )


def _as_path_str(name: str, value: Any, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise _fail(
            name, "a non-empty path string" + (" or null" if optional else ""), value
        )
    from igmu_audit.pipelines.named import is_model_name, resolve_model_name

    return resolve_model_name(value, name) if is_model_name(value) else value


def looks_like_hub_id(path: str) -> bool:
    """Whether ``path`` reads as ``org/name`` (and is not an existing local path)."""
    return (
        bool(_HUB_ID.match(path))
        and not Path(path).exists()
        and not path.lower().endswith(WEIGHT_SUFFIXES)
    )


def _short_name(path: str) -> str:
    if looks_like_hub_id(path):
        return path
    p = Path(path)
    name = p.stem if p.suffix.lower() in WEIGHT_SUFFIXES else p.name
    return name or Path(path).resolve().name


@dataclass(frozen=True)
class ModelSpec:
    """One model to audit, JSON-serialisable and validated on construction.

    Path-valued fields accept ``str`` or ``os.PathLike`` and are stored as ``str``.

    Attributes:
        path: a diffusers folder, a single-file checkpoint (``.safetensors``/``.ckpt``)
            or a hub id (needs the network or a warm HF cache).
        unet: override file (or folder) with a full or partial UNet state dict; a DoCo
            dict nested under ``"unet"`` is accepted.
        text_encoder: override file with a full or partial text-encoder state dict, or a
            folder with ``config.json`` (AdvUnlearn ships both).
        transformer: override for the MMDiT / FLUX ``transformer`` (SD3, FLUX editions
            of ESD / UCE / MACE), same forms as ``unet``.
        text_encoder_2: override for the second text encoder (SDXL, SD3: CLIP-G; FLUX: T5).
        text_encoder_3: override for SD3's T5 encoder.
        lora: LoRA weights file, loaded with diffusers' ``load_lora_weights`` and fused.
        lora_scale: the LoRA multiplier.
        allow_pickle: allow ``.pt``/``.ckpt``/``.bin``/``.pth`` (read with
            ``torch.load(weights_only=True)`` only).
        label: short display name; derived from the paths when not given.
        torch_dtype: ``"float32"`` (default when unset), ``"float16"`` or ``"bfloat16"``.
        variant: diffusers weights variant, e.g. ``"fp16"``.
        single_file_config: a local diffusers folder giving the configs for a single-file
            ``path``, so it loads offline.
        pipeline_factory: ``"package.module:function"`` or ``"path/to/file.py:function"``,
            a user callable that receives the loaded pipeline (or nothing, when it takes
            no argument) and returns the pipeline to audit (training-free methods: SLD,
            SAFREE, hooks, adapters). Importing it runs user code: naming it is the
            opt-in. The audited pipeline's fingerprint covers its weights and the
            factory's source.
    """

    path: str
    unet: str | None = None
    text_encoder: str | None = None
    lora: str | None = None
    lora_scale: float = 1.0
    allow_pickle: bool = False
    label: str | None = None
    torch_dtype: str | None = None
    variant: str | None = None
    single_file_config: str | None = None
    transformer: str | None = None
    text_encoder_2: str | None = None
    text_encoder_3: str | None = None
    pipeline_factory: str | None = None

    def __post_init__(self) -> None:
        # Frozen: normalised values are written with object.__setattr__.
        setattr_ = object.__setattr__
        setattr_(self, "path", _as_path_str("path", self.path, optional=False))
        for name in _PATH_FIELDS:
            setattr_(self, name, _as_path_str(name, getattr(self, name), optional=True))
        scale = self.lora_scale
        if (
            isinstance(scale, bool)
            or not isinstance(scale, (int, float))
            or not math.isfinite(scale)
        ):
            raise _fail("lora_scale", "a finite number", scale)
        setattr_(self, "lora_scale", float(scale))
        if not isinstance(self.allow_pickle, bool):
            raise _fail("allow_pickle", "true or false", self.allow_pickle)
        if self.torch_dtype is not None:
            canonical = canonical_dtype(self.torch_dtype, field="ModelSpec.torch_dtype")
            setattr_(self, "torch_dtype", canonical)
        factory = self.pipeline_factory
        if factory is not None and (
            not isinstance(factory, str) or not _FACTORY.match(factory.strip())
        ):
            raise _fail(
                "pipeline_factory",
                "'package.module:function' or 'path/to/file.py:function'",
                factory,
            )
        for name in ("variant", "label"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise _fail(name, "a non-empty string or null", value)
        if self.label is None:
            parts = [
                self.path,
                *(
                    getattr(self, n)
                    for n in (*COMPONENT_FIELDS, "lora")
                    if getattr(self, n)
                ),
                *([factory.rsplit(":", 1)[-1]] if factory else []),
            ]
            setattr_(self, "label", "+".join(_short_name(p) for p in parts))

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON types (the inverse of :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Build a spec from a mapping of field names.

        Args:
            data: e.g. ``{"path": "ckpt/sd-1.5", "unet": "esd-x.safetensors"}``.

        Returns:
            The validated spec.

        Raises:
            ConfigError: not a mapping, an unknown key (naming the nearest field), a
                missing ``path`` or an invalid value.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"ModelSpec: expected a mapping of fields, got {type(data).__name__}"
            )
        names = [f.name for f in fields(cls)]
        for key in data:
            if key not in names:
                near = difflib.get_close_matches(str(key), names, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ConfigError(
                    f"ModelSpec: unknown key {key!r}{hint}; accepted: {', '.join(names)}"
                )
        if "path" not in data:
            raise ConfigError(
                "ModelSpec.path: missing (a diffusers folder, single file or hub id)"
            )
        return cls(**dict(data))

    @classmethod
    def coerce(
        cls, value: ModelSpec | str | os.PathLike[str] | Mapping[str, Any]
    ) -> ModelSpec:
        """A spec from a spec, a path / hub id, or a mapping of fields."""
        if isinstance(value, ModelSpec):
            return value
        if isinstance(value, (str, os.PathLike)):
            return cls(path=os.fspath(value))
        return cls.from_dict(value)
