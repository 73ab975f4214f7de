"""UCE: a closed-form edit of the cross-attention key/value projections (Gandikota et al., 2024).

Unified Concept Editing rewrites every ``attn2.to_k`` / ``attn2.to_v`` matrix ``W`` so that
the text states ``c_i`` of the erased prompts project where an anchor's states ``c_i*``
did (``v_i* = W_old c_i*``), while preserved prompts' states ``c_j`` keep ``W_old c_j``.
The least-squares solution (UCE, eq. 7, with the λ-regulariser of the official code) is::

    W = (λ W_old + s_e Σ_i v_i* c_iᵀ + s_p Σ_j W_old c_j c_jᵀ)
        (λ I     + s_e Σ_i c_i  c_iᵀ + s_p Σ_j c_j c_jᵀ)⁻¹

As in the official code, an erased prompt contributes the states from the concept's first
token to the end of the sequence (its padding tokens carry the concept too, through causal
attention), aligned with the anchor prompt's states from the anchor's first token; a
preserved prompt contributes all 77 states.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from igmu_audit.toyworld.unlearn._common import (
    cross_attention_layers,
    encode_texts,
    token_ids,
)


@dataclass(frozen=True)
class UCEConfig:
    """UCE's scales (defaults: the official code's ``lamb``, ``erase_scale``, ``preserve_scale``).

    Attributes:
        lamb: weight λ of ``‖W − W_old‖²`` (keeps unseen directions unchanged).
        erase_scale: weight s_e of the erased prompts' rows.
        preserve_scale: weight s_p of the preserved prompts' rows.
        with_to_k: edit ``to_k`` as well as ``to_v`` (the official default).
    """

    lamb: float = 0.1
    erase_scale: float = 1.0
    preserve_scale: float = 0.1
    with_to_k: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (recorded in the zoo's metadata and card)."""
        return asdict(self)


def _first_difference(a: torch.Tensor, b: torch.Tensor) -> int:
    differ = (a != b).nonzero()
    if len(differ) == 0:
        raise ValueError("an erase prompt and its anchor prompt tokenise identically")
    return int(differ[0])


def edit_pairs(
    states_old: torch.Tensor,
    ids_old: torch.Tensor,
    states_new: torch.Tensor,
    ids_new: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned (erased, anchor) state rows: from the first differing token to the end.

    Why the first difference: erase and anchor prompts share a template, so the first
    token where their ids differ is where the concept (and the anchor word) starts.
    """
    keys, anchors = [], []
    for s_old, i_old, s_new, i_new in zip(
        states_old, ids_old, states_new, ids_new, strict=True
    ):
        start = _first_difference(i_old, i_new)
        keys.append(s_old[start:])
        anchors.append(s_new[start:])
    return torch.cat(keys), torch.cat(anchors)


@torch.no_grad()
def closed_form(
    weight: torch.Tensor,
    erased: torch.Tensor,
    anchors: torch.Tensor,
    preserved: torch.Tensor,
    config: UCEConfig,
) -> torch.Tensor:
    """UCE's least-squares solution for one projection ``weight`` (out, in); float64 inside."""
    w = weight.double()
    c_e, c_a, c_p = erased.double(), anchors.double(), preserved.double()
    v_star = c_a @ w.T
    left = config.lamb * w + config.erase_scale * v_star.T @ c_e
    left = left + config.preserve_scale * (c_p @ w.T).T @ c_p
    right = config.lamb * torch.eye(w.shape[1], dtype=w.dtype)
    right = (
        right + config.erase_scale * c_e.T @ c_e + config.preserve_scale * c_p.T @ c_p
    )
    # W = left @ right⁻¹, solved rather than inverted (right is symmetric positive definite).
    edited: torch.Tensor = torch.linalg.solve(right, left.T).T.to(weight.dtype)
    return edited


def uce_edit(
    pipe: Any,
    erase_prompts: Sequence[str],
    anchor_prompts: Sequence[str],
    preserve_prompts: Sequence[str],
    config: UCEConfig | None = None,
) -> dict[str, torch.Tensor]:
    """Apply UCE to ``pipe.unet`` in place; return the edited tensors (a partial UNet dict).

    Args:
        pipe: a ``StableDiffusionPipeline`` in float32.
        erase_prompts: prompts naming the concept.
        anchor_prompts: the same prompts with the concept replaced by the anchor word.
        preserve_prompts: prompts whose key/value outputs must not move (include ``""``).
        config: UCE's scales.

    Returns:
        ``{state-dict key: fp16 tensor}`` for every edited ``to_k`` / ``to_v`` weight.
    """
    config = config or UCEConfig()
    if len(erase_prompts) != len(anchor_prompts) or not erase_prompts:
        raise ValueError(
            "`erase_prompts` and `anchor_prompts` must be non-empty and of equal length, "
            f"got {len(erase_prompts)} and {len(anchor_prompts)}"
        )
    encoder, tokenizer = pipe.text_encoder, pipe.tokenizer
    erased, anchors = edit_pairs(
        encode_texts(encoder, tokenizer, erase_prompts),
        token_ids(tokenizer, erase_prompts),
        encode_texts(encoder, tokenizer, anchor_prompts),
        token_ids(tokenizer, anchor_prompts),
    )
    preserved = encode_texts(encoder, tokenizer, preserve_prompts).flatten(0, 1)
    edited: dict[str, torch.Tensor] = {}
    names = ("to_v", "to_k") if config.with_to_k else ("to_v",)
    for layer_name, layer in cross_attention_layers(pipe.unet).items():
        for name in names:
            linear = getattr(layer, name)
            new = closed_form(linear.weight.data, erased, anchors, preserved, config)
            linear.weight.data.copy_(new)
            edited[f"{layer_name}.{name}.weight"] = new.to(torch.float16).contiguous()
    return edited
