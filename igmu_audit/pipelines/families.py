"""One description per text-to-image pipeline family: the table generation and overrides read.

Why a table: SD 1.x/2.x, SDXL, SD3 and FLUX differ in where the denoiser lives
(``unet`` or ``transformer``), which text encoders they have, which extra generation
arguments they take and how they treat a negative prompt. Every place that cares reads
the same :class:`Family` instead of growing its own ``if`` chain. A pipeline class not in
the table (any ``DiffusionPipeline`` / ``AutoPipelineForText2Image`` that takes a prompt)
gets a family derived from its components and ``__call__`` signature.

Kept free of torch and diffusers: the config schema imports the argument checks.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from igmu_audit.errors import ConfigError

#: Every component an unlearning method edits, in the order overrides are applied.
OVERRIDE_COMPONENTS = (
    "unet",
    "transformer",
    "text_encoder",
    "text_encoder_2",
    "text_encoder_3",
)


def _size(name: str, value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(
            isinstance(v, numbers.Integral)
            and not isinstance(v, bool)
            and 0 < int(v) <= 8192
            for v in value
        )
    ):
        raise ConfigError(
            f"generation_args.{name}: expected [height, width], two integers in [1, 8192], "
            f"but got {value!r}"
        )
    return (int(value[0]), int(value[1]))


def _coords(name: str, value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(
            isinstance(v, numbers.Integral)
            and not isinstance(v, bool)
            and 0 <= int(v) <= 8192
            for v in value
        )
    ):
        raise ConfigError(
            f"generation_args.{name}: expected [top, left], two integers in [0, 8192], "
            f"but got {value!r}"
        )
    return (int(value[0]), int(value[1]))


def _seq_len(name: str, value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 1 <= int(value) <= 512
    ):
        raise ConfigError(
            f"generation_args.{name}: expected an integer in [1, 512] (T5 tokens) "
            f"but got {value!r}"
        )
    return int(value)


def _scale(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0.0 <= float(value) <= 100.0
    ):
        raise ConfigError(
            f"generation_args.{name}: expected a number in [0, 100] but got {value!r}"
        )
    return float(value)


#: Per-family generation arguments: name -> value check. Every one enters the cache key.
ARGUMENTS: dict[str, Callable[[str, Any], Any]] = {
    "original_size": _size,
    "target_size": _size,
    "crops_coords_top_left": _coords,
    "max_sequence_length": _seq_len,
    "true_cfg_scale": _scale,
}


def check_generation_args(value: Any, where: str = "generation_args") -> dict[str, Any]:
    """Value-check a ``generation_args`` mapping (which family takes which: at generation).

    Raises:
        ConfigError: not a mapping, an unknown argument (naming the nearest), a bad value.
    """
    import difflib

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping like {{original_size: [1024, 1024]}} "
            f"but got {value!r}"
        )
    out: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in ARGUMENTS:
            near = difflib.get_close_matches(str(key), list(ARGUMENTS), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(
                f"{where}.{key}: unknown generation argument{hint} "
                f"(accepted: {', '.join(ARGUMENTS)})"
            )
        out[str(key)] = ARGUMENTS[key](str(key), raw)
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True)
class Family:
    """What generation and overrides need to know about one pipeline class.

    Attributes:
        name: short family name, recorded in cache keys (``"sd"``, ``"sdxl"``...).
        denoiser: the attribute holding the denoiser (``"unet"`` or ``"transformer"``).
        text_encoders: the text-encoder attributes the family can have.
        arguments: the ``generation_args`` this family accepts.
        negative_prompt: ``"always"`` (used whenever guidance > 1), ``"true_cfg"`` (FLUX:
            used only with ``true_cfg_scale`` > 1) or ``"never"``.
        default_size: how the default image side is computed: ``"unet"`` (sample size x
            VAE scale factor) or ``"default_sample_size"`` (the pipeline attribute).
    """

    name: str
    denoiser: str
    text_encoders: tuple[str, ...]
    arguments: tuple[str, ...] = ()
    negative_prompt: str = "always"
    default_size: str = "unet"


_CLIP2 = ("text_encoder", "text_encoder_2")
FAMILIES: dict[str, Family] = {
    "StableDiffusionPipeline": Family("sd", "unet", ("text_encoder",)),
    "StableDiffusionXLPipeline": Family(
        "sdxl",
        "unet",
        _CLIP2,
        ("original_size", "target_size", "crops_coords_top_left"),
    ),
    "StableDiffusion3Pipeline": Family(
        "sd3",
        "transformer",
        (*_CLIP2, "text_encoder_3"),
        ("max_sequence_length",),
        default_size="default_sample_size",
    ),
    "FluxPipeline": Family(
        "flux",
        "transformer",
        _CLIP2,
        ("max_sequence_length", "true_cfg_scale"),
        negative_prompt="true_cfg",
        default_size="default_sample_size",
    ),
}


def call_parameters(pipe: Any) -> Mapping[str, inspect.Parameter]:
    """The parameters ``pipe(...)`` really takes.

    A wrapper whose ``__call__(*args, **kwargs)`` forwards to its base class takes what
    the first base ``__call__`` with named parameters takes.
    """
    for klass in type(pipe).__mro__:
        call = klass.__dict__.get("__call__")
        if call is None:
            continue
        try:
            params = inspect.signature(call).parameters
        except (TypeError, ValueError):
            return {}
        kinds = {p.kind for p in params.values()}
        if "prompt" in params or inspect.Parameter.VAR_KEYWORD not in kinds:
            return params
    return {}


def _derived(pipe: Any) -> Family:
    cls = type(pipe).__name__
    denoiser = next(
        (n for n in ("unet", "transformer") if getattr(pipe, n, None) is not None), ""
    )
    params = call_parameters(pipe)
    if not denoiser or "prompt" not in params:
        raise ConfigError(
            f"model: {cls} is not a text-to-image pipeline igmu-audit can drive (it needs "
            "a `unet` or `transformer` component and a `prompt` argument); load the "
            "model with a text-to-image pipeline class, or wrap it with `pipeline_factory`"
        )
    encoders = tuple(n for n in OVERRIDE_COMPONENTS[2:] if hasattr(pipe, n))
    return Family(
        f"other:{cls}",
        denoiser,
        encoders,
        tuple(a for a in ARGUMENTS if a in params),
        negative_prompt="always" if "negative_prompt" in params else "never",
        default_size="unet" if denoiser == "unet" else "default_sample_size",
    )


def family_of(pipe: Any) -> Family:
    """The family of a diffusers pipeline: from the table, else derived from the pipeline.

    Subclasses (e.g. a training-free wrapper subclassing ``StableDiffusionPipeline``)
    inherit their base class's family.

    Raises:
        ConfigError: the pipeline has no denoiser or takes no prompt.
    """
    for klass in type(pipe).__mro__:
        family = FAMILIES.get(klass.__name__)
        if family is not None and getattr(pipe, family.denoiser, None) is not None:
            return family
    return _derived(pipe)


def denoiser(pipe: Any) -> Any:
    """The pipeline's denoiser module (``unet`` or ``transformer``)."""
    return getattr(pipe, family_of(pipe).denoiser)


def default_resolution(pipe: Any) -> tuple[int, int]:
    """The image size the pipeline draws when none is asked for (its own default)."""
    family = family_of(pipe)
    if family.default_size == "unet":
        side = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
    else:
        side = int(pipe.default_sample_size) * int(pipe.vae_scale_factor)
    return side, side


def size_multiple(pipe: Any) -> int:
    """Image sides must be a multiple of this (FLUX packs 2x2 latents)."""
    family = family_of(pipe)
    scale = int(getattr(pipe, "vae_scale_factor", 8))
    if family.name == "flux":
        return 2 * scale
    patch = getattr(getattr(denoiser(pipe), "config", None), "patch_size", None) or 1
    return scale * int(patch)


def call_arguments(
    pipe: Any, args: Mapping[str, Any], negative_prompt: str | None
) -> dict[str, Any]:
    """The extra ``pipe(...)`` keywords for ``args``, after checking the family takes them.

    Raises:
        ConfigError: an argument this family does not take, or a negative prompt the
            family would silently ignore (FLUX without ``true_cfg_scale`` > 1).
    """
    family = family_of(pipe)
    cls = type(pipe).__name__
    odd = [k for k in args if k not in family.arguments]
    if odd:
        takes = ", ".join(family.arguments) or "none"
        raise ConfigError(
            f"generation_args.{odd[0]}: {cls} ({family.name}) does not take this argument "
            f"(it takes: {takes}); remove it from the spec"
        )
    if negative_prompt is not None:
        if family.negative_prompt == "never":
            raise ConfigError(
                f"negative_prompt: {cls} takes no negative prompt; remove it, or it would "
                "be recorded without changing any image"
            )
        if (
            family.negative_prompt == "true_cfg"
            and args.get("true_cfg_scale", 1.0) <= 1
        ):
            raise ConfigError(
                f"negative_prompt: {cls} ignores a negative prompt unless "
                "generation_args.true_cfg_scale > 1 (true classifier-free guidance); "
                "set true_cfg_scale, or remove the negative prompt"
            )
    return dict(args)
