"""Fuse LoRA weights into every component they address: the denoiser and the text encoders.

diffusers' ``lora_state_dict`` converts the published layouts (kohya / A1111, old and new
diffusers, PEFT) to keys prefixed by the component (``unet.``, ``transformer.``,
``text_encoder_2.`` ...). :mod:`igmu_audit.pipelines.lora_layers` parses every key into
one LoRA layer and checks it against the pipeline before anything is loaded: a key that
addresses no module, a layer without its other half or a shape that does not fit is a
``CheckpointMismatchError`` naming it, and the model stays untouched.

The alpha of each layer (kohya ``.alpha`` entries, diffusers' network alphas, or the
``lora_adapter_metadata`` a safetensors file carries) is folded into ``B`` as
``alpha / r``, so every later step applies plain ``W + scale * B @ A``.

Denoiser layers keep diffusers' own path (``load_lora_weights`` + ``fuse_lora``). Text
encoder layers are fused here with peft directly: diffusers loads them through
transformers' peft integration, whose version gate can refuse a peft that works
(transformers 5.24 wants peft >= 0.22; the newest release was 0.21.2 when this was
written). peft's ``inject_adapter_in_model`` + ``set_peft_model_state_dict`` + merge is
what that integration runs underneath, so this path stays correct when the gate opens,
and the audited encoder is a plain module whose weights changed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import CheckpointMismatchError
from igmu_audit.pipelines.lora_layers import (
    LoraLayer,
    alpha_factor,
    lora_metadata,
    parse_lora_layers,
)
from igmu_audit.pipelines.override_keys import format_keys

if TYPE_CHECKING:
    import torch

__all__ = ["TEXT_ENCODERS", "fuse_lora_state"]

#: Components whose LoRA layers are fused with peft directly (see the module docstring).
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")


def _peft_state(
    layers: list[LoraLayer], multiplier: dict[str, float], prefix: str
) -> dict[str, torch.Tensor]:
    # Layers back to PEFT keys with the factor folded into B: scaling 1 from here on.
    out: dict[str, torch.Tensor] = {}
    for layer in layers:
        down, up = layer.halves()
        name = f"{prefix}{layer.module}"
        factor = multiplier[layer.module]
        out[f"{name}.lora_A.weight"] = down
        out[f"{name}.lora_B.weight"] = up * factor
        if layer.up_bias is not None:
            out[f"{name}.lora_B.bias"] = layer.up_bias * factor
        if layer.magnitude is not None:
            out[f"{name}.lora_magnitude_vector"] = layer.magnitude
    return out


def _peft_config(layers: list[LoraLayer], *, bias: bool) -> Any:
    from peft import LoraConfig

    ranks = {layer.module: layer.rank for layer in layers}
    common = Counter(ranks.values()).most_common(1)[0][0]
    pattern = {re.escape(m): r for m, r in ranks.items() if r != common}
    # lora_alpha == r everywhere: the alphas are already folded into B.
    return LoraConfig(
        r=common,
        lora_alpha=common,
        rank_pattern=pattern,
        alpha_pattern=dict(pattern),
        target_modules=sorted(ranks),
        lora_bias=bias,
    )


def _unload(module: Any, names: set[str], *, merge: bool, adapter: str) -> None:
    # peft's merge_and_unload on a bare module: merge (or not), then swap the base
    # layer back in, and drop the config peft attached, so nothing of peft remains.
    for name in sorted(names):
        layer = module.get_submodule(name)
        if merge:
            layer.merge(adapter_names=[adapter])
        parent, _, child = name.rpartition(".")
        setattr(module.get_submodule(parent), child, layer.get_base_layer())
    if "peft_config" in vars(module):
        del module.peft_config


def _fuse_text_encoder(
    module: Any,
    layers: list[LoraLayer],
    multiplier: dict[str, float],
    *,
    adapter: str,
    what: str,
) -> None:
    import torch
    from peft import inject_adapter_in_model, set_peft_model_state_dict
    from peft.tuners.tuners_utils import BaseTunerLayer

    bias = any(layer.up_bias is not None for layer in layers)
    for layer in layers:
        if bias and layer.up_bias is None:
            up = layer.halves()[1]
            layer.up_bias = torch.zeros(up.shape[0], dtype=up.dtype)
    inject_adapter_in_model(
        _peft_config(layers, bias=bias), module, adapter_name=adapter
    )
    injected = {
        n for n, sub in module.named_modules() if isinstance(sub, BaseTunerLayer)
    }
    result = set_peft_model_state_dict(
        module, _peft_state(layers, multiplier, ""), adapter_name=adapter
    )
    targets = {layer.module for layer in layers}
    # set_peft_model_state_dict returns load_state_dict's (missing, unexpected) keys.
    unexpected = [k for k in getattr(result, "unexpected_keys", ()) if "lora_" in k]
    missing = [
        k for k in getattr(result, "missing_keys", ()) if "lora_" in k and adapter in k
    ]
    if injected != targets or unexpected or missing:
        _unload(module, injected, merge=False, adapter=adapter)
        problems = [
            f"{label}: {format_keys(keys)}"
            for label, keys in (
                ("modules peft did not wrap", sorted(targets - injected)),
                ("modules wrapped without a LoRA layer", sorted(injected - targets)),
                ("keys that matched no LoRA parameter", unexpected),
                ("LoRA parameters left without weights", missing),
            )
            if keys
        ]
        raise CheckpointMismatchError(
            f"{what}: {len(injected & targets)} of {len(targets)} modules received LoRA "
            f"weights ({'; '.join(problems)}). Nothing was loaded."
        )
    with torch.no_grad():
        _unload(module, injected, merge=True, adapter=adapter)


def _injected(module: Any, adapter: str) -> set[str]:
    return {
        name
        for name, sub in module.named_modules()
        if adapter in getattr(getattr(sub, "lora_A", None), "keys", list)()
    }


def _fuse_denoisers(
    pipeline: Any,
    layers: dict[str, list[LoraLayer]],
    multiplier: dict[tuple[str, str], float],
    *,
    scale: float,
    adapter: str,
    file: str,
) -> None:
    state: dict[str, torch.Tensor] = {}
    for component, group in layers.items():
        factors = {
            layer.module: multiplier[(component, layer.module)] for layer in group
        }
        state.update(_peft_state(group, factors, f"{component}."))
    try:
        pipeline.load_lora_weights(state, adapter_name=adapter)
    except (ValueError, KeyError, RuntimeError) as exc:
        pipeline.unload_lora_weights()
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: diffusers could not load it into "
            f"{'+'.join(sorted(layers))} ({type(exc).__name__}: {exc}). Nothing was loaded."
        ) from exc
    for component, group in layers.items():
        targets = {layer.module for layer in group}
        lost = targets - _injected(getattr(pipeline, component), adapter)
        if lost:
            pipeline.unload_lora_weights()
            raise CheckpointMismatchError(
                f"LoRA file {file!r}: only {len(targets) - len(lost)} of {len(targets)} "
                f"{component} modules received LoRA weights; not loaded: "
                f"{format_keys(sorted(lost))}. Nothing was loaded."
            )
    pipeline.fuse_lora(
        components=sorted(layers), lora_scale=scale, adapter_names=[adapter]
    )
    pipeline.unload_lora_weights()


def fuse_lora_state(
    pipeline: Any,
    state: Mapping[str, torch.Tensor],
    *,
    scale: float,
    metadata: Mapping[str, str] | None = None,
    adapter_name: str = "igmu_override",
    file: str = "",
) -> list[str]:
    """Fuse a LoRA state dict into ``pipeline`` at ``scale``; every key must land.

    Args:
        pipeline: a diffusers pipeline with ``lora_state_dict`` / ``load_lora_weights``.
        state: the file's tensors, in any layout ``lora_state_dict`` converts.
        scale: the LoRA multiplier.
        metadata: the safetensors file's metadata (diffusers' ``lora_adapter_metadata``).
        adapter_name: the transient adapter name.
        file: the LoRA file, for messages.

    Returns:
        The components whose weights changed, sorted.

    Raises:
        CheckpointMismatchError: the file does not fit the pipeline (see
            :func:`parse_lora_layers`); nothing was loaded.
    """
    dora = [k for k in state if "dora_scale" in k]
    if dora:
        # lora_state_dict would drop these with a warning: the audit would miss them.
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: {len(dora)} kohya DoRA keys ({format_keys(dora)}) are not "
            "supported by diffusers' loader; merge the DoRA into the weights and give the "
            "result as a unet / text_encoder override"
        )
    import inspect

    # FLUX pops ``.alpha`` keys out of the state and returns them only on request.
    extra = (
        {"return_alphas": True}
        if "return_alphas" in inspect.signature(pipeline.lora_state_dict).parameters
        else {}
    )
    try:
        converted = pipeline.lora_state_dict(dict(state), **extra)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: diffusers cannot convert it for {type(pipeline).__name__} "
            f"({type(exc).__name__}: {exc}). Was it trained for another model family?"
        ) from exc
    # SD / SDXL / FLUX return (state, alphas); SD3 the state alone (alphas stay in it).
    alphas = converted[1] if isinstance(converted, tuple) else None
    converted = converted[0] if isinstance(converted, tuple) else converted
    layers = parse_lora_layers(pipeline, converted, alphas, file)
    configs = lora_metadata(metadata, file)
    multiplier = {
        key: alpha_factor(layer, configs.get(layer.component, {}), file)
        for key, layer in layers.items()
    }
    by_component: dict[str, list[LoraLayer]] = {}
    for layer in layers.values():
        by_component.setdefault(layer.component, []).append(layer)
    dora = [
        f"{layer.component}.{layer.module}"
        for layer in layers.values()
        if layer.component in TEXT_ENCODERS and layer.magnitude is not None
    ]
    if dora:  # checked before any component is fused: all or nothing
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: DoRA (lora_magnitude_vector) on a text encoder is not "
            f"supported ({format_keys(dora)}); merge the DoRA into the encoder's weights "
            "and give it as a text_encoder override"
        )
    denoisers = {c: g for c, g in by_component.items() if c not in TEXT_ENCODERS}
    if denoisers:
        _fuse_denoisers(
            pipeline,
            denoisers,
            multiplier,
            scale=scale,
            adapter=adapter_name,
            file=file,
        )
    for component, group in by_component.items():
        if component in TEXT_ENCODERS:
            factors = {
                layer.module: scale * multiplier[(component, layer.module)]
                for layer in group
            }
            _fuse_text_encoder(
                getattr(pipeline, component),
                group,
                factors,
                adapter=adapter_name,
                what=f"LoRA file {file!r} ({component})",
            )
    return sorted(by_component)
