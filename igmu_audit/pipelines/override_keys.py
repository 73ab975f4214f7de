"""Match an override's tensors to a module's state dict: key renames, then every check.

An override that silently matches nothing would make the audit measure the *original*
model, so every key must land: no match, an unexpected key, a wrong shape or an integer
tensor for a floating-point weight is a ``CheckpointMismatchError`` and nothing is loaded.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import CheckpointMismatchError
from igmu_audit.pipelines.checkpoints import non_tensor_keys, tensor_items

if TYPE_CHECKING:
    import torch

#: How many offending keys an error message shows.
SAMPLE = 5
#: Prefixes that wrap a component's keys in common checkpoints; stripped only when every
#: key carries one and the result matches better (the choice is then unambiguous).
STRIP_PREFIXES = (
    "module.",
    "unet.",
    "transformer.",
    "model.",
    "text_encoder.",
    "text_encoder.text_model.",
    "text_encoder_2.",
    "text_encoder_2.text_model.",
    "text_encoder_3.",
    "text_model.",
    "cond_stage_model.transformer.",
    "cond_stage_model.transformer.text_model.",
)
#: Prefixes that some library versions expect and others drop (transformers 5's
#: ``CLIPTextModel`` has no ``text_model.`` level; older files and models do).
ADD_PREFIXES = ("text_model.",)
_LDM_PREFIXES = ("model.diffusion_model.", "first_stage_model.")


def format_keys(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:SAMPLE])
    return shown + (f", ... (+{len(keys) - SAMPLE} more)" if len(keys) > SAMPLE else "")


def closest_hint(keys: list[str], expected: list[str]) -> str:
    found: list[str] = []
    for key in keys[:2]:
        for match in difflib.get_close_matches(key, expected, n=3, cutoff=0.5):
            if match not in found:
                found.append(match)
    return f"; closest expected keys: {format_keys(found)}" if found else ""


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
            f"{component} override {file!r}: {len(odd)} entries are not tensors: {format_keys(odd)} "
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
            f"unknown, e.g. {format_keys(unexpected)}{closest_hint(unexpected, names)}{_ldm_hint(keys)}. "
            "Nothing was loaded."
        )
    if unexpected:
        raise CheckpointMismatchError(
            f"{head}: {len(unexpected)} of {len(keys)} keys are unexpected: "
            f"{format_keys(unexpected)}{closest_hint(unexpected, names)}. Nothing was loaded."
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
    check_dtypes(state_dict, expected, head=head)


def check_dtypes(
    state_dict: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Tensor],
    *,
    head: str,
) -> None:
    """Raise if an integer or bool tensor would be cast into a floating-point parameter.

    ``copy_`` would cast silently (int32 ``3`` becomes ``3.0``): weights saved with the
    wrong dtype are a broken export, never an unlearned model.

    Raises:
        CheckpointMismatchError: naming the keys and both dtypes.
    """
    bad = [
        k
        for k in state_dict
        if expected[k].is_floating_point()
        and not (state_dict[k].is_floating_point() or state_dict[k].is_complex())
    ]
    if bad:
        shown = "; ".join(
            f"{k!r}: file {str(state_dict[k].dtype).removeprefix('torch.')} vs model "
            f"{str(expected[k].dtype).removeprefix('torch.')}"
            for k in bad[:SAMPLE]
        )
        more = f" (+{len(bad) - SAMPLE} more)" if len(bad) > SAMPLE else ""
        raise CheckpointMismatchError(
            f"{head}: {len(bad)} of {len(state_dict)} tensors are integer or bool where "
            f"the model has floating-point weights: {shown}{more}. Re-export the "
            "weights in their floating-point dtype (no silent cast). Nothing was loaded."
        )
