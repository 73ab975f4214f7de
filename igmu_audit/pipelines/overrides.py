"""Apply unlearned weights on top of an original pipeline: state-dict overrides and LoRA.

Published unlearning methods ship full or partial state dicts (ESD-u/x, FMN, UCE, DoCo,
AdvUnlearn) or LoRA weights. An override that silently matches nothing would make the
audit measure the *original* model, so every key must land: no match, an unexpected key
or a wrong shape is a ``CheckpointMismatchError`` and nothing is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit._imports import requires
from igmu_audit.errors import CheckpointMismatchError, ConfigError
from igmu_audit.pipelines.checkpoints import (
    is_pickle,
    non_tensor_keys,
    read_state_dict,
    safetensors_metadata,
    tensor_items,
    validate_weight_file,
)
from igmu_audit.pipelines.lora import fuse_lora_state
from igmu_audit.pipelines.override_keys import (
    check_state_dict,
    format_keys,
    normalise_keys,
    select_component_dict,
)
from igmu_audit.pipelines.weight_files import (
    override_files,
    resolve_override,
    validate_override,
)

__all__ = [
    "OverrideReport",
    "apply_lora",
    "apply_state_dict_override",
    "check_state_dict",
    "normalise_keys",
    "override_files",
    "select_component_dict",
]

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("igmu_audit.pipelines")


@dataclass(frozen=True, slots=True)
class OverrideReport:
    """What one override file changed.

    Attributes:
        component: the pipeline component (``"unet"``, ``"text_encoder"``; for LoRA, the
            components it touched joined with ``+``).
        file: the override file as given.
        kind: ``"state_dict"`` or ``"lora"``.
        n_keys: tensors read from the file and applied.
        n_params: scalar parameters in those tensors.
        key_transform: how keys were renamed to match (``""`` when used as stored).
    """

    component: str
    file: str
    kind: str
    n_keys: int
    n_params: int
    key_transform: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)


def _warn_non_finite(
    state: Mapping[str, torch.Tensor], component: str, path: str | Path
) -> None:
    # Not an error here (generation refuses the NaN images it leads to, naming prompt
    # and seed), but the file is the likely cause, so say so where it is loaded.
    import torch

    bad = [
        k
        for k, v in state.items()
        if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        logger.warning(
            "igmu-audit: %s override %s: %d of %d tensors hold NaN or inf values "
            "(e.g. %s); the model will draw degenerate images",
            component, path, len(bad), len(state), format_keys(bad),
        )  # fmt: skip


def apply_state_dict_override(
    pipeline: Any, component: str, path: str | Path, *, allow_pickle: bool = False
) -> OverrideReport:
    """Copy a full or partial state dict from ``path`` into ``pipeline.<component>``.

    Args:
        pipeline: a loaded diffusers pipeline.
        component: any of ``families.OVERRIDE_COMPONENTS`` the pipeline has (``unet``,
            ``transformer``, ``text_encoder``, ``text_encoder_2``, ``text_encoder_3``).
        path: a weight file or folder (see :func:`override_files`).
        allow_pickle: whether pickle files may be read (``weights_only=True``).

    Returns:
        What was overridden.

    Raises:
        ConfigError: the pipeline has no such component, or the path is unusable.
        UnsafeCheckpointError: a pickle without ``allow_pickle``.
        CheckpointMismatchError: keys or shapes do not fit; the model is left untouched.
    """
    import torch

    module = getattr(pipeline, component, None)
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(
            f"model {component!r}: the pipeline has no {component} to override"
        )
    source = resolve_override(path, component)
    validate_override(source, component, allow_pickle=allow_pickle)
    state: dict[str, torch.Tensor] = {}
    for file in source.files:
        raw = read_state_dict(file, allow_pickle=allow_pickle, field=component)
        state.update(select_component_dict(raw, component, str(file)))
    expected = module.state_dict(keep_vars=True)
    state, how = normalise_keys(state, expected)
    check_state_dict(
        state,
        expected,
        component=f"{component} ({type(module).__name__})",
        file=str(path),
    )
    _warn_non_finite(state, component, path)
    with torch.no_grad():
        for key, value in state.items():
            expected[key].copy_(value)
    report = OverrideReport(
        component=component,
        file=str(path),
        kind="state_dict",
        n_keys=len(state),
        n_params=sum(v.numel() for v in state.values()),
        key_transform=how,
    )
    logger.info(
        "override %s <- %s: %d of %d keys, %d parameters%s",
        component, path, report.n_keys, len(expected), report.n_params, f" ({how})" if how else "",
    )  # fmt: skip
    return report


def apply_lora(
    pipeline: Any,
    path: str | Path,
    *,
    scale: float = 1.0,
    allow_pickle: bool = False,
    adapter_name: str = "igmu_override",
) -> OverrideReport:
    """Fuse a LoRA file into every component it addresses, at ``scale``.

    Fusing bakes ``scale * (alpha / r) * B @ A`` into the base weights and removes the
    adapter layers, so the audited model is a plain pipeline whose state dict shows the
    change (see :mod:`igmu_audit.pipelines.lora` for how denoiser and text-encoder
    layers are fused).

    Args:
        pipeline: a diffusers pipeline with ``load_lora_weights`` (SD, SDXL, SD3, FLUX:
            LoRA on the denoiser and on every text encoder).
        path: the LoRA weights file.
        scale: the LoRA multiplier.
        allow_pickle: whether a pickle file may be read (``weights_only=True``).
        adapter_name: the transient adapter name.

    Returns:
        What was overridden (``component`` lists the touched components).

    Raises:
        ConfigError: the pipeline does not support LoRA, or the file is unusable.
        MissingDependencyError: ``peft`` is not installed.
        UnsafeCheckpointError: a pickle without ``allow_pickle``.
        CheckpointMismatchError: some LoRA keys address no module, or did not load.
    """
    requires("peft", feature="LoRA overrides")
    if not hasattr(pipeline, "load_lora_weights"):
        raise ConfigError(
            f"model 'lora': {type(pipeline).__name__} does not support LoRA weights"
        )
    validate_weight_file(path, allow_pickle=allow_pickle, field="lora")
    raw = read_state_dict(path, allow_pickle=allow_pickle, field="lora")
    odd = non_tensor_keys(raw)
    if odd:
        raise CheckpointMismatchError(
            f"LoRA file {str(path)!r}: non-tensor entries {format_keys(odd)}"
        )
    state = tensor_items(raw)
    metadata = safetensors_metadata(path) if not is_pickle(path) else None
    touched = fuse_lora_state(
        pipeline,
        state,
        scale=scale,
        metadata=metadata,
        adapter_name=adapter_name,
        file=str(path),
    )
    report = OverrideReport(
        component="+".join(touched),
        file=str(path),
        kind="lora",
        n_keys=len(state),
        n_params=sum(v.numel() for v in state.values()),
    )
    logger.info(
        "LoRA %s fused into %s at scale %g: %d keys, %d parameters",
        path, report.component, scale, report.n_keys, report.n_params,
    )  # fmt: skip
    return report
