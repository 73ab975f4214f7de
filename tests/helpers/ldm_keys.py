"""Write a diffusers SD pipeline as an original-format (CompVis/LDM) single-file checkpoint.

Why by hand: diffusers ships only the LDM -> diffusers direction (for ``from_single_file``);
its reverse script lives outside the package and hard-codes SD-1.x's block counts. This is
the exact inverse of ``diffusers.loaders.single_file_utils.convert_ldm_unet_checkpoint`` /
``convert_ldm_vae_checkpoint`` / ``convert_ldm_clip_checkpoint`` for any block count, so
tests can load a real single-file checkpoint of the tiny pipeline offline.
"""

from __future__ import annotations

import re
from typing import Any

import torch

_RESNET = (
    ("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection"),
)  # fmt: skip
_UNET_FIXED = {
    "time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
}  # fmt: skip
_VAE_ATTN = (
    ("group_norm", "norm"),
    ("to_q", "q"),
    ("to_k", "k"),
    ("to_v", "v"),
    ("to_out.0", "proj_out"),
)


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        rest = rest.replace(new, old)
    return rest


def unet_to_ldm(
    state: dict[str, torch.Tensor], layers_per_block: int
) -> dict[str, torch.Tensor]:
    """Diffusers UNet2DConditionModel keys -> ``model.diffusion_model.*`` keys."""
    per = layers_per_block + 1
    up_has_attn = {
        int(m.group(1))
        for k in state
        if (m := re.match(r"up_blocks\.(\d+)\.attentions", k))
    }
    out = {}
    for key, value in state.items():
        head, _, leaf = key.rpartition(".")
        if head in _UNET_FIXED:
            new = f"{_UNET_FIXED[head]}.{leaf}"
        elif m := re.match(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            new = f"input_blocks.{1 + int(m[1]) * per + int(m[2])}.0.{_resnet(m[3])}"
        elif m := re.match(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", key):
            new = f"input_blocks.{1 + int(m[1]) * per + int(m[2])}.1.{m[3]}"
        elif m := re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", key):
            new = f"input_blocks.{1 + int(m[1]) * per + layers_per_block}.0.op.{m[2]}"
        elif m := re.match(r"mid_block\.resnets\.(\d+)\.(.*)", key):
            new = f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
        elif m := re.match(r"mid_block\.attentions\.0\.(.*)", key):
            new = f"middle_block.1.{m[1]}"
        elif m := re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.*)", key):
            new = f"output_blocks.{int(m[1]) * per + int(m[2])}.0.{_resnet(m[3])}"
        elif m := re.match(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.*)", key):
            new = f"output_blocks.{int(m[1]) * per + int(m[2])}.1.{m[3]}"
        elif m := re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.*)", key):
            slot = 2 if int(m[1]) in up_has_attn else 1
            new = (
                f"output_blocks.{int(m[1]) * per + layers_per_block}.{slot}.conv.{m[2]}"
            )
        else:
            raise KeyError(f"no LDM name for UNet key {key!r}")
        out[f"model.diffusion_model.{new}"] = value
    return out


def vae_to_ldm(
    state: dict[str, torch.Tensor], n_up_blocks: int
) -> dict[str, torch.Tensor]:
    """Diffusers AutoencoderKL keys -> ``first_stage_model.*`` keys."""
    out = {}
    for key, value in state.items():
        new = key.replace("conv_norm_out", "norm_out").replace(
            "conv_shortcut", "nin_shortcut"
        )
        if m := re.match(r"encoder\.down_blocks\.(\d+)\.resnets\.(.*)", new):
            new = f"encoder.down.{m[1]}.block.{m[2]}"
        elif m := re.match(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.*)", new):
            new = f"encoder.down.{m[1]}.downsample.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.resnets\.(.*)", new):
            new = f"decoder.up.{n_up_blocks - 1 - int(m[1])}.block.{m[2]}"
        elif m := re.match(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.*)", new):
            new = f"decoder.up.{n_up_blocks - 1 - int(m[1])}.upsample.{m[2]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.*)", new):
            new = f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3]}"
        elif m := re.match(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.*)", new):
            rest = m[2]
            for diffusers_name, ldm_name in _VAE_ATTN:
                rest = rest.replace(f"{diffusers_name}.", f"{ldm_name}.")
            new = f"{m[1]}.mid.attn_1.{rest}"
            if value.ndim == 2:  # LDM stores these projections as 1x1 convolutions
                value = value[:, :, None, None]
        out[f"first_stage_model.{new}"] = value
    return out


def pipeline_to_ldm(pipeline: Any) -> dict[str, torch.Tensor]:
    """The whole SD pipeline (UNet, VAE, CLIP text encoder) as one LDM-format state dict."""
    text = {
        # transformers 5's CLIPTextModel dropped the `text_model.` level that LDM files keep.
        "cond_stage_model.transformer."
        + (k if k.startswith("text_model.") else f"text_model.{k}"): v
        for k, v in pipeline.text_encoder.state_dict().items()
    }
    unet = unet_to_ldm(
        pipeline.unet.state_dict(), pipeline.unet.config.layers_per_block
    )
    vae = vae_to_ldm(pipeline.vae.state_dict(), len(pipeline.vae.config.up_block_types))
    return {
        k: v.detach().clone().contiguous() for k, v in {**unet, **vae, **text}.items()
    }
