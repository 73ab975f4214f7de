"""Parse a LoRA file's converted keys into layers, each checked against the pipeline.

diffusers' ``lora_state_dict`` leaves keys in several spellings (PEFT ``lora_A`` /
``lora_B``, ``lora_linear_layer.down``, ``lora.up``, kohya ``lora_down``, old attention
processors ``to_q_lora``). Each key is mapped to one module of the pipeline and one role;
a key that maps to no module, a layer missing a half, a weight given twice or a shape
that does not fit is a ``CheckpointMismatchError`` before anything is loaded. The alpha
of a layer comes from the file (kohya ``.alpha``, diffusers' network alphas or
``lora_adapter_metadata``), never from a guess.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import CheckpointMismatchError
from igmu_audit.pipelines.override_keys import closest_hint, format_keys

if TYPE_CHECKING:
    import torch

__all__ = [
    "METADATA_KEY",
    "LoraLayer",
    "alpha_factor",
    "lora_metadata",
    "parse_lora_layers",
]

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
        role = parsed[1]
        if getattr(layer, role) is not None:
            # two spellings of one weight: loading either would drop the other silently
            raise CheckpointMismatchError(
                f"LoRA file {file!r}: {component}.{module} gets its {role} twice, from "
                f"{format_keys(layer.keys)} and {key!r}; keep one layout per file"
            )
        layer.keys.append(key)
        setattr(layer, role, _to_float(value, key, file) if role == "alpha" else value)
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


def alpha_factor(layer: LoraLayer, config: Mapping[str, Any], file: str) -> float:
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
