"""Apply unlearned weights on top of an original pipeline: state-dict overrides and LoRA.

Published unlearning methods ship full or partial state dicts (ESD-u/x, FMN, UCE, DoCo,
AdvUnlearn) or LoRA weights. An override that silently matches nothing would make the
audit measure the *original* model, so every key must land: no match, an unexpected key
or a wrong shape is a ``CheckpointMismatchError`` and nothing is loaded.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit._imports import requires
from igmu_audit.errors import CheckpointMismatchError, ConfigError
from igmu_audit.pipelines.checkpoints import (
    PICKLE_SUFFIXES,
    SAFE_SUFFIXES,
    non_tensor_keys,
    read_state_dict,
    tensor_items,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("igmu_audit.pipelines")

#: How many offending keys an error message shows.
SAMPLE = 5
#: Prefixes that wrap a component's keys in common checkpoints; stripped only when every
#: key carries one and the result matches better (the choice is then unambiguous).
STRIP_PREFIXES = (
    "module.",
    "unet.",
    "model.",
    "text_encoder.",
    "text_encoder.text_model.",
    "text_model.",
    "cond_stage_model.transformer.",
    "cond_stage_model.transformer.text_model.",
)
#: Prefixes that some library versions expect and others drop (transformers 5's
#: ``CLIPTextModel`` has no ``text_model.`` level; older files and models do).
ADD_PREFIXES = ("text_model.",)
_LDM_PREFIXES = ("model.diffusion_model.", "first_stage_model.")
_LORA_SPLIT = re.compile(r"^(.*?)\.(?:lora[._]|alpha$)")


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


def _fmt(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:SAMPLE])
    return shown + (f", ... (+{len(keys) - SAMPLE} more)" if len(keys) > SAMPLE else "")


def _closest(keys: list[str], expected: list[str]) -> str:
    found: list[str] = []
    for key in keys[:2]:
        for match in difflib.get_close_matches(key, expected, n=3, cutoff=0.5):
            if match not in found:
                found.append(match)
    return f"; closest expected keys: {_fmt(found)}" if found else ""


def _ldm_hint(keys: list[str]) -> str:
    if any(k.startswith(_LDM_PREFIXES) for k in keys):
        return (
            ". These look like original CompVis/LDM keys: give the full single-file "
            "checkpoint as the model `path`, or convert the dict to diffusers keys"
        )
    return ""


def select_component_dict(
    raw: Mapping[str, Any], component: str, file: str
) -> dict[str, torch.Tensor]:
    """The flat tensor dict for ``component`` inside a loaded checkpoint.

    Args:
        raw: what :func:`read_state_dict` returned.
        component: ``"unet"`` or ``"text_encoder"``.
        file: the file, for messages.

    Returns:
        ``raw[component]`` when it is a mapping (DoCo ships ``{"unet": {...}}``), else
        ``raw["state_dict"]`` when it is a mapping (Lightning), else ``raw``.

    Raises:
        CheckpointMismatchError: the selected dict holds non-tensor values.
    """
    for key in (component, "state_dict"):
        if isinstance(raw.get(key), Mapping):
            raw = raw[key]
            break
    odd = non_tensor_keys(raw)
    if odd:
        raise CheckpointMismatchError(
            f"{component} override {file!r}: {len(odd)} entries are not tensors: {_fmt(odd)} "
            f"(nested dicts are read only under the key {component!r} or 'state_dict')"
        )
    return tensor_items(raw)


def _candidates(keys: list[str]) -> list[tuple[str, str, str]]:
    # (description, prefix to strip, prefix to add); identity first so it wins ties.
    strips = [""] + [p for p in STRIP_PREFIXES if all(k.startswith(p) for k in keys)]
    out = []
    for strip in strips:
        for add in ("", *ADD_PREFIXES):
            parts = [f"stripped {strip!r}"] if strip else []
            parts += [f"added {add!r}"] if add else []
            out.append((" and ".join(parts), strip, add))
    return out


def normalise_keys(
    state_dict: Mapping[str, torch.Tensor], expected: Mapping[str, Any]
) -> tuple[dict[str, torch.Tensor], str]:
    """Rename ``state_dict``'s keys with the prefix change that matches ``expected`` best.

    Args:
        state_dict: the override tensors.
        expected: the target module's state dict (only its keys are used).

    Returns:
        The renamed dict and a description of the change (``""``: unchanged).
    """
    keys = list(state_dict)
    best: tuple[int, str, str, str] = (-1, "", "", "")
    for what, strip, add in _candidates(keys):
        hits = sum(add + k[len(strip) :] in expected for k in keys)
        if hits > best[0]:
            best = (hits, what, strip, add)
    _, what, strip, add = best
    return {add + k[len(strip) :]: v for k, v in state_dict.items()}, what


def check_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    *,
    component: str,
    file: str,
) -> None:
    """Raise unless every key of ``state_dict`` exists in ``expected`` with the same shape.

    Args:
        state_dict: override tensors, keys already normalised.
        expected: the target module's state dict.
        component: for messages.
        file: for messages.

    Raises:
        CheckpointMismatchError: no key matches, some keys are unexpected, or shapes differ.
    """
    names = list(expected)
    head = f"{component} override {file!r}"
    keys = list(state_dict)
    if not keys:
        raise CheckpointMismatchError(
            f"{head} holds no tensors; nothing would be overridden"
        )
    unexpected = [k for k in keys if k not in expected]
    if len(unexpected) == len(keys):
        raise CheckpointMismatchError(
            f"{head} matches none of the model's {len(names)} keys: all {len(keys)} keys are "
            f"unknown, e.g. {_fmt(unexpected)}{_closest(unexpected, names)}{_ldm_hint(keys)}. "
            "Nothing was loaded."
        )
    if unexpected:
        raise CheckpointMismatchError(
            f"{head}: {len(unexpected)} of {len(keys)} keys are unexpected: "
            f"{_fmt(unexpected)}{_closest(unexpected, names)}. Nothing was loaded."
        )
    bad = [k for k in keys if tuple(state_dict[k].shape) != tuple(expected[k].shape)]
    if bad:
        shapes = "; ".join(
            f"{k!r}: file {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
            for k in bad[:SAMPLE]
        )
        more = f" (+{len(bad) - SAMPLE} more)" if len(bad) > SAMPLE else ""
        raise CheckpointMismatchError(
            f"{head}: {len(bad)} of {len(keys)} tensors have the wrong shape: {shapes}{more}. "
            "Was it trained for a different base model? Nothing was loaded."
        )


def override_files(path: str | Path, component: str) -> list[Path]:
    """The weight files an override path stands for.

    Args:
        path: a weight file; a folder with ``config.json`` and weights (a diffusers /
            transformers component folder, AdvUnlearn style); or a pipeline folder with
            a ``<component>/`` subfolder.
        component: ``"unet"`` or ``"text_encoder"``.

    Returns:
        One file, or the shards a ``*.index.json`` lists, in order.

    Raises:
        ConfigError: the path is missing, or a folder holds no (or ambiguous) weights.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(f"model {component!r}: override {str(path)!r} does not exist")
    if (
        not (path / "config.json").is_file()
        and (path / component / "config.json").is_file()
    ):
        path = path / component
    for suffixes in (SAFE_SUFFIXES, PICKLE_SUFFIXES):
        indexes = sorted(
            p for p in path.glob("*.index.json") if Path(p.stem).suffix in suffixes
        )
        if indexes:
            weight_map = json.loads(indexes[0].read_text(encoding="utf-8"))[
                "weight_map"
            ]
            return [path / name for name in sorted(set(weight_map.values()))]
        files = sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix in suffixes
        )
        if len(files) == 1:
            return files
        if files:
            raise ConfigError(
                f"model {component!r}: folder {str(path)!r} holds several weight files "
                f"({', '.join(p.name for p in files)}); name the file to use"
            )
    raise ConfigError(
        f"model {component!r}: folder {str(path)!r} holds no weight files"
    )


def apply_state_dict_override(
    pipeline: Any, component: str, path: str | Path, *, allow_pickle: bool = False
) -> OverrideReport:
    """Copy a full or partial state dict from ``path`` into ``pipeline.<component>``.

    Args:
        pipeline: a loaded diffusers pipeline.
        component: ``"unet"`` or ``"text_encoder"``.
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
    state: dict[str, torch.Tensor] = {}
    for file in override_files(path, component):
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


def _lora_targets(pipeline: Any, state_dict: Mapping[str, Any]) -> dict[str, set[str]]:
    # component -> module paths the LoRA keys address, checked to exist before loading.
    targets: dict[str, set[str]] = {}
    missing: list[str] = []
    names: dict[str, set[str]] = {}  # component -> its module names, listed once
    for key in state_dict:
        component, _, rest = key.partition(".")
        match = _LORA_SPLIT.match(rest)
        module = getattr(pipeline, component, None)
        if match is None or not hasattr(module, "named_modules"):
            missing.append(key)
            continue
        if component not in names:
            names[component] = {name for name, _ in module.named_modules()}
        path = match.group(1)
        if path not in names[component] and path.startswith("text_model."):
            path = path[
                len("text_model.") :
            ]  # transformers 5's CLIPTextModel has no text_model level
        if path in names[component]:
            targets.setdefault(component, set()).add(path)
        else:
            missing.append(key)
    known = [f"{c}.{n}" for c, ns in names.items() for n in sorted(ns)]
    if missing:
        raise CheckpointMismatchError(
            f"{len(missing)} of {len(state_dict)} LoRA keys address no module of the "
            f"pipeline: {_fmt(missing)}{_closest(missing, known)}. Nothing was loaded."
        )
    return targets


def apply_lora(
    pipeline: Any,
    path: str | Path,
    *,
    scale: float = 1.0,
    allow_pickle: bool = False,
    adapter_name: str = "igmu_override",
) -> OverrideReport:
    """Load LoRA weights with diffusers' ``load_lora_weights`` and fuse them at ``scale``.

    Fusing bakes ``scale * B @ A`` into the base weights and removes the adapter layers,
    so the audited model is a plain pipeline whose state dict shows the change.

    Args:
        pipeline: a diffusers pipeline with ``load_lora_weights`` (SD-style).
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
    raw = read_state_dict(path, allow_pickle=allow_pickle, field="lora")
    odd = non_tensor_keys(raw)
    if odd:
        raise CheckpointMismatchError(
            f"LoRA file {str(path)!r}: non-tensor entries {_fmt(odd)}"
        )
    state = tensor_items(raw)
    # lora_state_dict converts kohya / A1111 / PEFT layouts to diffusers' prefixed keys.
    converted, _ = pipeline.lora_state_dict(dict(state))
    targets = _lora_targets(pipeline, converted)
    pipeline.load_lora_weights(dict(state), adapter_name=adapter_name)
    for component, paths in targets.items():
        module = getattr(pipeline, component)
        injected = {
            name
            for name, sub in module.named_modules()
            if adapter_name in getattr(getattr(sub, "lora_A", None), "keys", list)()
        }
        if len(injected) < len(paths):
            raise CheckpointMismatchError(
                f"LoRA file {str(path)!r}: only {len(injected)} of {len(paths)} {component} "
                "modules received LoRA weights"
            )
    pipeline.fuse_lora(lora_scale=scale, adapter_names=[adapter_name])
    pipeline.unload_lora_weights()
    report = OverrideReport(
        component="+".join(sorted(targets)),
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
