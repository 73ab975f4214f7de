"""Fuse LoRA weights into every component they address: the denoiser and the text encoders.

diffusers' ``lora_state_dict`` converts the published layouts (kohya / A1111, old and new
diffusers, PEFT) to keys prefixed by the component (``unet.``, ``transformer.``,
``text_encoder_2.`` ...). Every key is then parsed here into one LoRA layer (module,
``down``/``A``, ``up``/``B``, alpha) and checked against the pipeline before anything is
loaded: a key that addresses no module, a layer without its other half or a shape that
does not fit is a ``CheckpointMismatchError`` naming it, and the model stays untouched.

The alpha of each layer (kohya ``.alpha`` entries, diffusers' network alphas, or the
``lora_adapter_metadata`` a safetensors file carries) is folded into ``B`` as
``alpha / r``, so every later step applies plain ``W + scale * B @ A``.

Denoiser layers keep diffusers' own path (``load_lora_weights`` + ``fuse_lora``). Text
encoder layers are fused here with peft directly: diffusers loads them through
transformers' peft integration, whose version gate can refuse a peft that works (5.24
wants peft >= 0.22, newer than any release). peft's ``inject_adapter_in_model`` +
``set_peft_model_state_dict`` + merge is what that integration runs underneath, so this
path stays correct when the gate opens, and the audited encoder is a plain module whose
weights changed.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import CheckpointMismatchError
from igmu_audit.pipelines.override_keys import closest_hint, format_keys

if TYPE_CHECKING:
    import torch

__all__ = [
    "TEXT_ENCODERS",
    "LoraLayer",
    "fuse_lora_state",
    "lora_metadata",
    "parse_lora_layers",
]

#: Components whose LoRA layers are fused with peft directly (see the module docstring).
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
#: The safetensors metadata entry in which diffusers stores each component's LoraConfig.
METADATA_KEY = "lora_adapter_metadata"

# Key suffix -> role, in diffusers / PEFT / kohya spelling, longest first where they nest.
_ROLES = (
    (".lora_A.weight", "down"),
    (".lora_B.weight", "up"),
    (".lora_B.bias", "up_bias"),
    (".lora_linear_layer.down.weight", "down"),
    (".lora_linear_layer.up.weight", "up"),
    (".lora.down.weight", "down"),
    (".lora.up.weight", "up"),
    (".lora_down.weight", "down"),
    (".lora_up.weight", "up"),
    (".lora_magnitude_vector.weight", "magnitude"),
    (".lora_magnitude_vector", "magnitude"),
    (".alpha", "alpha"),
)
# Old diffusers attention-processor keys: ``<attn>[.processor].to_q_lora.down.weight``.
_OLD_ATTENTION = re.compile(
    r"^(?P<parent>.+?)(?:\.processor)?\.to_(?P<which>q|k|v|out)_lora\.(?P<dir>down|up)\.weight$"
)


@dataclass(slots=True)
class LoraLayer:
    """One LoRA layer: ``W += factor * up @ down`` on ``component.module``.

    Attributes:
        component: the pipeline component (``"unet"``, ``"text_encoder_2"`` ...).
        module: the module path inside it, as ``named_modules`` spells it.
        down: ``lora_A`` / ``lora_down``, shape ``(r, in, ...)``.
        up: ``lora_B`` / ``lora_up``, shape ``(out, r, ...)``.
        up_bias: ``lora_B.bias`` when the LoRA trained one.
        magnitude: DoRA's magnitude vector, when present.
        alpha: the layer's own alpha (kohya ``.alpha``), when the file has one.
        keys: the state-dict keys that made this layer, for messages.
    """

    component: str
    module: str
    down: torch.Tensor | None = None
    up: torch.Tensor | None = None
    up_bias: torch.Tensor | None = None
    magnitude: torch.Tensor | None = None
    alpha: float | None = None
    keys: list[str] = field(default_factory=list)

    def halves(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(down, up)``; a layer missing one is a broken file."""
        if self.down is None or self.up is None:
            raise CheckpointMismatchError(
                f"LoRA layer {self.component}.{self.module} lacks its "
                f"{'down (lora_A)' if self.down is None else 'up (lora_B)'} weight "
                f"(keys {format_keys(self.keys)}). Nothing was loaded."
            )
        return self.down, self.up

    @property
    def rank(self) -> int:
        """The LoRA rank ``r`` (rows of ``down``)."""
        return int(self.halves()[0].shape[0])


def _split(rest: str) -> tuple[list[str], str] | None:
    # (candidate module paths, role) of a key without its component prefix.
    match = _OLD_ATTENTION.match(rest)
    if match:
        parent, which = match.group("parent"), match.group("which")
        denoiser = f"{parent}.to_{which}" + (".0" if which == "out" else "")
        return [denoiser, f"{parent}.{which}_proj"], match.group("dir")
    for suffix, role in _ROLES:
        if rest.endswith(suffix) and len(rest) > len(suffix):
            return [rest[: -len(suffix)]], role
    return None


def _resolve(candidates: list[str], names: set[str]) -> str | None:
    # transformers 5's CLIPTextModel has no ``text_model.`` level; older files and
    # CLIPTextModelWithProjection do: accept either spelling, nothing looser.
    for path in candidates:
        for option in (path, path.removeprefix("text_model."), f"text_model.{path}"):
            if option in names:
                return option
    return None


def lora_metadata(
    metadata: Mapping[str, str] | None, file: str
) -> dict[str, dict[str, Any]]:
    """Per component, the LoraConfig fields diffusers stored in the file's metadata.

    Raises:
        CheckpointMismatchError: the metadata entry is not a JSON object.
    """
    raw = (metadata or {}).get(METADATA_KEY)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: its {METADATA_KEY!r} metadata is not JSON ({exc}); "
            "re-save it with diffusers' save_lora_weights"
        ) from exc
    if not isinstance(data, dict):
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: its {METADATA_KEY!r} metadata is a "
            f"{type(data).__name__}, not an object"
        )
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        component, _, name = str(key).partition(".")
        if name:
            out.setdefault(component, {})[name] = value
    return out


def _module_names(
    pipeline: Any, component: str, cache: dict[str, set[str]]
) -> set[str] | None:
    import torch

    if component not in cache:
        module = getattr(pipeline, component, None)
        if not isinstance(module, torch.nn.Module):
            return None
        cache[component] = {name for name, _ in module.named_modules()}
    return cache[component]


def _to_float(value: Any, key: str, file: str) -> float:
    import torch

    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise CheckpointMismatchError(
                f"LoRA file {file!r}: alpha {key!r} holds {value.numel()} values, not one"
            )
        value = value.item()
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: alpha {key!r} is {number}, not a positive number"
        )
    return number


def parse_lora_layers(
    pipeline: Any,
    state: Mapping[str, torch.Tensor],
    network_alphas: Mapping[str, Any] | None,
    file: str,
) -> dict[tuple[str, str], LoraLayer]:
    """Group converted LoRA keys into layers, each resolved to a module of ``pipeline``.

    Args:
        pipeline: the pipeline the LoRA is for.
        state: ``lora_state_dict``'s converted keys (``<component>.<module>.<role>``).
        network_alphas: the alphas ``lora_state_dict`` returned beside the state, if any.
        file: the LoRA file, for messages.

    Returns:
        ``(component, module) -> layer``, every layer with both halves.

    Raises:
        CheckpointMismatchError: keys that address no module or are not LoRA weights,
            a layer missing a half, ranks that disagree, or shapes that do not fit.
    """
    names: dict[str, set[str]] = {}
    layers: dict[tuple[str, str], LoraLayer] = {}
    missing: list[str] = []
    entries = [(k, v, False) for k, v in state.items()]
    entries += [(k, v, True) for k, v in (network_alphas or {}).items()]
    for key, value, separate_alpha in entries:
        body = key.removesuffix(".alpha") if separate_alpha else key
        component, _, rest = body.partition(".")
        known = _module_names(pipeline, component, names)
        parsed = _split(rest)
        if separate_alpha:
            # network alphas are keyed by the module or by its down weight's key
            parsed = (parsed[0] if parsed else [rest]), "alpha"
        module = _resolve(parsed[0], known) if known is not None and parsed else None
        if parsed is None or module is None:
            missing.append(key)
            continue
        layer = layers.setdefault((component, module), LoraLayer(component, module))
        layer.keys.append(key)
        if parsed[1] == "alpha":
            layer.alpha = _to_float(value, key, file)
        else:
            setattr(layer, parsed[1], value)
    if missing:
        known_names = [f"{c}.{n}" for c, ns in names.items() for n in sorted(ns)]
        raise CheckpointMismatchError(
            f"{len(missing)} of {len(entries)} LoRA keys address no module of the "
            f"pipeline: {format_keys(missing)}{closest_hint(missing, known_names)}. "
            "Nothing was loaded."
        )
    _check_layers(pipeline, layers, file)
    return layers


def _check_layers(
    pipeline: Any, layers: Mapping[tuple[str, str], LoraLayer], file: str
) -> None:
    head = f"LoRA file {file!r}"
    half = [
        f"{c}.{m} (keys {format_keys(layer.keys)})"
        for (c, m), layer in layers.items()
        if layer.down is None or layer.up is None
    ]
    if half:
        raise CheckpointMismatchError(
            f"{head}: {len(half)} layers lack their down (lora_A) or up (lora_B) weight: "
            f"{'; '.join(half[:3])}. Nothing was loaded."
        )
    bad: list[str] = []
    for (component, module), layer in layers.items():
        layer_down, layer_up = layer.halves()
        weight = getattr(
            getattr(pipeline, component).get_submodule(module), "weight", None
        )
        down, up = tuple(layer_down.shape), tuple(layer_up.shape)
        fits = len(down) >= 2 and len(up) >= 2 and down[0] == up[1]
        if fits and weight is not None:
            fits = down[1] == weight.shape[1] and up[0] == weight.shape[0]
        if not fits:
            have = f", weight {tuple(weight.shape)}" if weight is not None else ""
            bad.append(f"{component}.{module}: down {down}, up {up}{have}")
    if bad:
        raise CheckpointMismatchError(
            f"{head}: {len(bad)} layers do not fit their module (down is (r, in), up is "
            f"(out, r)): {'; '.join(bad[:3])}. Was it trained for another base model? "
            "Nothing was loaded."
        )


def _pattern_value(patterns: Mapping[str, Any], module: str) -> Any:
    # peft's rule for rank_pattern / alpha_pattern keys: a regex matching the name's tail.
    for pattern, value in patterns.items():
        if re.match(rf"(.*\.)?({pattern})$", module):
            return value
    return None


def _factor(layer: LoraLayer, config: Mapping[str, Any], file: str) -> float:
    """``alpha / r`` (``alpha / sqrt(r)`` for rsLoRA); ``1`` when the file gives no alpha."""
    alpha = layer.alpha
    stored = _pattern_value(config.get("alpha_pattern") or {}, layer.module)
    if stored is None:
        stored = config.get("lora_alpha")
    if alpha is not None and stored is not None:
        raise CheckpointMismatchError(
            f"LoRA file {file!r}: {layer.component}.{layer.module} has an alpha key and a "
            f"lora_alpha in the file's {METADATA_KEY!r}; which one applies is ambiguous"
        )
    if alpha is None and stored is not None:
        alpha = _to_float(stored, f"{layer.component}.lora_alpha", file)
    if alpha is None:
        return 1.0
    rank = layer.rank
    return alpha / (math.sqrt(rank) if config.get("use_rslora") else rank)


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

    if any(layer.magnitude is not None for layer in layers):
        raise CheckpointMismatchError(
            f"{what}: DoRA (lora_magnitude_vector) on a text encoder is not supported; "
            "merge the DoRA into the encoder's weights and give it as a text-encoder override"
        )
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
        key: _factor(layer, configs.get(layer.component, {}), file)
        for key, layer in layers.items()
    }
    by_component: dict[str, list[LoraLayer]] = {}
    for layer in layers.values():
        by_component.setdefault(layer.component, []).append(layer)
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
