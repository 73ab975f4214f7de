"""Tiny, seeded, real SDXL / SD3 / FLUX / SD-2 (v-prediction) pipelines built in-process.

The same idiom as ``tiny_sd.py`` and diffusers' own ``get_dummy_components``: every
component is the real diffusers / transformers class with a tiny config (hidden size
32, one or two layers), so loading, overriding, fingerprinting and generation run the
family's real code. The T5 slot reuses the offline CLIP tokenizer: the pipelines accept
any ``PreTrainedTokenizer`` there, and the tiny T5 encoder has the same vocabulary size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from igmu_audit.pipelines.tokenizer import build_clip_tokenizer

#: CLIP BPE vocabulary size (the offline tokenizer's).
VOCAB = 49408
HIDDEN = 32


def _clip_config(**extra: Any) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_hidden_layers=1,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        **extra,
    )


def _clip(seed: int, *, projection: bool = False) -> Any:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    if projection:
        return CLIPTextModelWithProjection(_clip_config(projection_dim=HIDDEN)).eval()
    return CLIPTextModel(_clip_config()).eval()


def _t5(seed: int, d_model: int) -> Any:
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=VOCAB,
        d_model=d_model,
        d_kv=8,
        d_ff=37,
        num_layers=1,
        num_heads=2,
        relative_attention_num_buckets=8,
        pad_token_id=49407,
        eos_token_id=49407,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config).eval()


def _vae(seed: int, *, blocks: tuple[int, ...], latent: int, flow: bool) -> Any:
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    extra = {"shift_factor": 0.0609, "scaling_factor": 1.5035} if flow else {}
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(blocks),
        up_block_types=("UpDecoderBlock2D",) * len(blocks),
        block_out_channels=blocks,
        latent_channels=latent,
        norm_num_groups=1 if blocks[0] < 32 else 32,
        sample_size=32,
        **extra,
    )


def tiny_sdxl(seed: int = 0) -> Any:
    """A real ``StableDiffusionXLPipeline``: two CLIP encoders, ``text_time`` size conditioning."""
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + HIDDEN,
        cross_attention_dim=2 * HIDDEN,
        norm_num_groups=1,
    )
    tokenizer = build_clip_tokenizer()
    return StableDiffusionXLPipeline(
        vae=_vae(seed + 1, blocks=(32, 64), latent=4, flow=False),
        text_encoder=_clip(seed + 2),
        text_encoder_2=_clip(seed + 3, projection=True),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        ),
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )


def tiny_sd3(seed: int = 0, *, t5: bool = True) -> Any:
    """A real ``StableDiffusion3Pipeline`` (MMDiT, flow matching); ``t5=False`` drops T5."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=8,
        patch_size=1,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=2 * HIDDEN,
        pooled_projection_dim=2 * HIDDEN,
        out_channels=4,
    )
    tokenizer = build_clip_tokenizer()
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_vae(seed + 1, blocks=(32, 64), latent=4, flow=True),
        text_encoder=_clip(seed + 2, projection=True),
        tokenizer=tokenizer,
        text_encoder_2=_clip(seed + 3, projection=True),
        tokenizer_2=tokenizer,
        text_encoder_3=_t5(seed + 4, 2 * HIDDEN) if t5 else None,
        tokenizer_3=tokenizer if t5 else None,
    )


def tiny_flux(seed: int = 0) -> Any:
    """A real ``FluxPipeline`` (CLIP + T5, packed latents, distilled guidance embedding)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=HIDDEN,
        pooled_projection_dim=HIDDEN,
        guidance_embeds=True,
        axes_dims_rope=(4, 4, 8),
    )
    tokenizer = build_clip_tokenizer()
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=_vae(seed + 1, blocks=(4,), latent=1, flow=True),
        text_encoder=_clip(seed + 2),
        tokenizer=tokenizer,
        text_encoder_2=_t5(seed + 3, HIDDEN),
        tokenizer_2=tokenizer,
        transformer=transformer,
    )


def tiny_sd2_v(seed: int = 0) -> Any:
    """A real SD-2-style ``StableDiffusionPipeline`` with a v-prediction scheduler."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from helpers.tiny_sd import tiny_components

    parts = tiny_components(seed)
    parts["scheduler"] = DDIMScheduler.from_config(
        parts["scheduler"].config, prediction_type="v_prediction"
    )
    return StableDiffusionPipeline(**parts)


BUILDERS = {
    "sd2-v": tiny_sd2_v,
    "sdxl": tiny_sdxl,
    "sd3": tiny_sd3,
    "sd3-no-t5": lambda seed=0: tiny_sd3(seed, t5=False),
    "flux": tiny_flux,
}


def save_family(name: str, folder: Path, seed: int = 0) -> Path:
    """Save the tiny pipeline of family ``name`` as a diffusers folder (safetensors)."""
    BUILDERS[name](seed).save_pretrained(folder, safe_serialization=True)
    return folder
