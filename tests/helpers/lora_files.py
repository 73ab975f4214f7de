"""Real LoRA tensors for text encoders, in PEFT and kohya / A1111 key layouts.

transformers' own ``add_adapter`` refuses the installed peft on a version check, so the
layers are drawn here: random ``lora_A`` ``(r, in)`` and ``lora_B`` ``(out, r)`` for the
first layer's projections, which is what a trained LoRA file holds.
"""

from __future__ import annotations

import torch

#: Per encoder, the first-layer projections a text-encoder LoRA trains (CLIP and T5).
ENCODER_TARGETS = (
    "layers.0.self_attn.q_proj",
    "layers.0.mlp.fc1",
    "block.0.layer.0.SelfAttention.q",
    "block.0.layer.0.SelfAttention.v",
)


def encoder_layers(
    encoder: torch.nn.Module,
    rank: int,
    seed: int,
    targets: tuple[str, ...] = ENCODER_TARGETS,
) -> dict[str, torch.Tensor]:
    """Random ``lora_A`` / ``lora_B`` for the Linear modules whose names end with one of
    ``targets`` (default: a text encoder's first-layer projections), in PEFT keys."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for name, module in encoder.named_modules():
        if name.endswith(targets) and isinstance(module, torch.nn.Linear):
            out[f"{name}.lora_A.weight"] = torch.randn(
                rank, module.in_features, generator=gen
            )
            out[f"{name}.lora_B.weight"] = torch.randn(
                module.out_features, rank, generator=gen
            )
    if not out:
        raise ValueError(f"no LoRA targets in {type(encoder).__name__}")
    return out


def kohya(
    layers: dict[str, torch.Tensor],
    prefix: str,
    alpha: float,
    root: str = "text_model.",
) -> dict[str, torch.Tensor]:
    """``layers`` in kohya / A1111 naming: ``<prefix><root+path, dots as _>.lora_down.weight``,
    ``.lora_up.weight`` and ``.alpha`` (CLIP paths under ``text_model``; ``root=""`` for a UNet)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in layers.items():
        module, _, role = key.rpartition(".lora_")
        name = prefix + (root + module).replace(".", "_")
        kind = "lora_down" if role.startswith("A") else "lora_up"
        out[f"{name}.{kind}.weight"] = value
        out[f"{name}.alpha"] = torch.tensor(alpha)
    return out
