"""The toy diffusion model: a real diffusers ``StableDiffusionPipeline`` at toy size.

Why real classes: loaders, overrides, generation and unlearning methods then run exactly as
on Stable Diffusion. Recipe (measured in REFERENCE §6): a 32 px ``AutoencoderKL`` with 8x8x4
latents, an 8x8 ``UNet2DConditionModel`` with cross-attention width 64, conditioned on the
toy-CLIP text tower (frozen first, then fine-tuned with the UNet); 10 % empty captions so
classifier-free guidance works.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from igmu_audit.pipelines.tokenizer import MAX_LENGTH
from igmu_audit.toyworld.clip import LANGUAGES, TEXT_DIM, text_config
from igmu_audit.toyworld.data import DEFAULT_CLASS, caption
from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from igmu_audit.toyworld.clip import ToyClip

#: Generation settings the audits use on the toy world (also written to generation.json).
GENERATION: dict[str, Any] = {
    "height": 32,
    "width": 32,
    "num_inference_steps": 25,
    "guidance_scale": 4.0,
    "scheduler": "DDIMScheduler",
}
_SCHEDULE: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
}


def build_vae(seed: int = 0) -> AutoencoderKL:
    """32 px -> 8x8x4 latents; three blocks [16, 32, 64], one layer each (~0.68 M params)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    )


def build_unet(seed: int = 0) -> UNet2DConditionModel:
    """8x8 latent UNet, blocks [48, 96] (~1.8 M params); cross-attention at 8x8 and the 4x4 middle."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(48, 96),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=8,
        norm_num_groups=16,
    )


def text_encoder_from_clip(clip: ToyClip) -> CLIPTextModel:
    """A standalone ``CLIPTextModel`` holding the toy CLIP's text tower (SD's text_encoder)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    encoder = CLIPTextModel(CLIPTextConfig(**text_config()))
    encoder.load_state_dict(clip.model.text_model.state_dict())
    evaluated: CLIPTextModel = encoder.eval()
    return evaluated


def train_vae(
    images: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 32,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> AutoencoderKL:
    """MSE + 1e-6 KL; then sets ``scaling_factor`` to 1 / std of the latents.

    Why 1200 steps (``Budget.vae_steps``): after 600 the posterior std was still 0.37 and
    the decoder blurred 2.5 px dots into smudges (the toy detector saw dotted on 22 % of
    reconstructions); after 1200 it is 0.17 and 99.5 % come back dotted (measured on 600
    held-out images before the retrain).
    """
    vae = build_vae(seed).train()
    optimiser = torch.optim.AdamW(vae.parameters(), lr=2e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=2e-3, total_steps=steps, pct_start=0.05
    )
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        batch = (
            images[torch.randint(0, len(images), (batch_size,), generator=generator)]
            * 2
            - 1
        )
        posterior = vae.encode(batch).latent_dist
        recon = vae.decode(posterior.sample(generator=generator)).sample
        loss = nn.functional.mse_loss(recon, batch) + 1e-6 * posterior.kl().mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress is not None:
            progress(step, loss.item())
    vae.eval()
    mean, _ = encode_latents(vae, images[:2048])
    vae.register_to_config(scaling_factor=float(1.0 / mean.std()))
    return vae


@torch.no_grad()
def encode_latents(
    vae: AutoencoderKL, images: torch.Tensor, batch_size: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std (unscaled) of float images in [0, 1]."""
    means, stds = [], []
    for i in range(0, len(images), batch_size):
        dist = vae.encode(images[i : i + batch_size] * 2 - 1).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)


def training_captions(
    labels: np.ndarray,
    rng: np.random.Generator,
    empty_rate: float = 0.1,
    unnamed_default_rate: float = 0.0,
    fewest_rate: float = 0.0,
    fillers: Sequence[str] = (),
) -> list[str]:
    """One caption per image: half English, the rest spread over six languages; some empty.

    A caption leaves the texture out only for a plain image (``name_non_default``), so the
    generator learns that a prompt naming no texture asks for plain; the empty captions keep
    every texture (the unconditional branch of classifier-free guidance). With
    ``unnamed_default_rate`` above 0, that share of images showing a default class gets a
    caption leaving it out: with uniform templates a short caption ("a circle") is rare and
    lies close to the empty one, so the generator drew a texture for it a third of the time.
    ``fewest_rate`` of the captions name the fewest attributes their template set allows
    ("a circle", "a striped circle"): the generator drew malformed, many-coloured blobs for
    prompts naming no colour, which it saw in only a quarter of its captions.
    With ``fillers`` (from :func:`filler_words`), a share ``FILLER_RATE`` of the captions gets
    one of those words inserted at a random word boundary: a word the world never trained
    ("photo" in a held-out template) is a random vector to the text tower, and a short
    prompt holding one drew dots for one prompt in six.
    """
    vocab = load_vocabulary()
    texts = []
    for row in labels:
        if rng.random() < empty_rate:
            texts.append("")
            continue
        names = [vocab.classes(a)[int(i)] for a, i in zip(ATTRIBUTES, row, strict=True)]
        language = "en" if rng.random() < 0.5 else str(rng.choice(LANGUAGES[1:]))
        shows_default = any(
            DEFAULT_CLASS.get(a) == n for a, n in zip(ATTRIBUTES, names, strict=True)
        )
        # Draws nothing at rate 0, so stage 1 keeps the random stream it was trained with.
        leave_out = (
            unnamed_default_rate > 0
            and shows_default
            and rng.random() < unnamed_default_rate
        )
        fewest = fewest_rate > 0 and rng.random() < fewest_rate
        text = caption(
            *names,
            rng=rng,
            language=language,
            name_non_default=True,
            leave_default_unnamed=leave_out,
            fewest_attributes=fewest,
        )
        if fillers and rng.random() < FILLER_RATE:
            words = text.split(" ")
            at = int(rng.integers(0, len(words) + 1))
            # Same draw as rng.choice, without copying the 32 k words per caption.
            filler = fillers[int(rng.integers(0, len(fillers)))]
            text = " ".join([*words[:at], filler, *words[at:]])
        texts.append(text)
    return texts


#: Share of captions that get one filler word when ``fillers`` are given.
FILLER_RATE = 0.3


def filler_words(tokenizer: CLIPTokenizer) -> list[str]:
    """Whole-word tokens of the tokenizer that no toy caption, train or test, contains.

    Every template word of both splits is left out, so no held-out word is trained.
    """
    known = {w.lower() for w in load_vocabulary().all_words()}
    out = []
    for token in tokenizer.get_vocab():
        word = token.removesuffix("</w>")
        whole = token.endswith("</w>") and word.isascii() and word.isalpha()
        if whole and len(word) >= 3 and word.lower() not in known:
            out.append(word)
    return sorted(out)


def encode_prompts(
    text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer, texts: list[str]
) -> torch.Tensor:
    """Hidden states (N, 77, 64) exactly as ``StableDiffusionPipeline`` computes them."""
    ids = tokenizer(
        texts,
        padding="max_length",
        max_length=MAX_LENGTH,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    hidden: torch.Tensor = text_encoder(ids)[0]
    return hidden


@dataclass(frozen=True)
class UNetSchedule:
    """One UNet training stage's optimiser settings, kept together so stages differ visibly.

    ``text_lr`` 0 keeps the text encoder frozen (stage 1); above 0 it is fine-tuned with the
    UNet (stage 2), which sharpens the conditioning cheaply.
    """

    steps: int
    batch_size: int = 64
    seed: int = 0
    lr: float = 5e-4
    text_lr: float = 0.0
    unnamed_default_rate: float = 0.0
    fewest_rate: float = 0.0
    fillers: bool = False


def train_unet(
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    images: torch.Tensor,
    labels: np.ndarray,
    plan: UNetSchedule,
    *,
    unet: UNet2DConditionModel | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[UNet2DConditionModel, CLIPTextModel]:
    """Epsilon-prediction training on VAE latents; returns EMA copies of UNet and text encoder.

    A ``plan`` with ``text_lr`` above 0 continues from ``unet`` (stage 2).
    """
    from diffusers import DDPMScheduler

    steps, batch_size, seed = plan.steps, plan.batch_size, plan.seed
    lr, text_lr = plan.lr, plan.text_lr
    unet = (unet if unet is not None else build_unet(seed)).train()
    joint = text_lr > 0
    text_encoder.train(joint).requires_grad_(joint)
    modules = nn.ModuleList([unet, text_encoder])
    ema = copy.deepcopy(modules).eval().requires_grad_(False)
    noise_scheduler = DDPMScheduler(**_SCHEDULE)
    mean, std = encode_latents(vae, images)
    scale = vae.config.scaling_factor
    groups: list[dict[str, Any]] = [{"params": list(unet.parameters()), "lr": lr}]
    if joint:
        groups.append({"params": list(text_encoder.parameters()), "lr": text_lr})
    optimiser = torch.optim.AdamW(groups, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=[g["lr"] for g in groups],
        total_steps=steps,
        pct_start=0.05,
        final_div_factor=10,
    )
    fillers = filler_words(tokenizer) if plan.fillers else []
    rng = np.random.default_rng(seed + (1 if joint else 0))
    generator = torch.Generator().manual_seed(seed + (1 if joint else 0))
    for step in range(steps):
        index = torch.from_numpy(rng.integers(0, len(images), size=batch_size))
        noise_latent = torch.randn(mean[index].shape, generator=generator)
        latents = (mean[index] + std[index] * noise_latent) * scale
        texts = training_captions(
            labels[index.numpy()], rng, unnamed_default_rate=plan.unnamed_default_rate,
            fewest_rate=plan.fewest_rate, fillers=fillers,
        )  # fmt: skip
        with torch.set_grad_enabled(joint):
            states = encode_prompts(text_encoder, tokenizer, texts)
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(
            0,
            noise_scheduler.config.num_train_timesteps,
            (batch_size,),
            generator=generator,
        )
        noisy = noise_scheduler.add_noise(latents, noise, timesteps)
        loss = nn.functional.mse_loss(unet(noisy, timesteps, states).sample, noise)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(modules.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), modules.parameters(), strict=True):
                p_ema.lerp_(p, 1 - decay)
        if progress is not None:
            progress(step, loss.item())
    text_encoder.eval().requires_grad_(False)
    # ModuleList items type as Module; the deep copy keeps each one's class.
    return ema[0], cast("CLIPTextModel", ema[1])


def assemble_pipeline(
    vae: AutoencoderKL,
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
) -> StableDiffusionPipeline:
    """A plain ``StableDiffusionPipeline`` with a DDIM scheduler and no safety checker."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    scheduler = DDIMScheduler(
        **_SCHEDULE, clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    tokenizer.model_max_length = MAX_LENGTH
    pipe = StableDiffusionPipeline(
        vae=vae.eval(),
        unet=unet.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@torch.no_grad()
def generate(
    pipe: StableDiffusionPipeline,
    prompts: list[str],
    seeds: list[int],
    *,
    batch_size: int = 64,
    **settings: Any,
) -> torch.Tensor:
    """Images for ``prompts`` (one seed each) as a float batch quantised to uint8 levels."""
    if len(prompts) != len(seeds):
        raise ValueError(
            f"`prompts` and `seeds` must have the same length, got {len(prompts)} and {len(seeds)}"
        )
    options = {k: v for k, v in {**GENERATION, **settings}.items() if k != "scheduler"}
    out = []
    for i in range(0, len(prompts), batch_size):
        generators = [
            torch.Generator().manual_seed(s) for s in seeds[i : i + batch_size]
        ]
        images = pipe(
            prompts[i : i + batch_size],
            generator=generators,
            output_type="pt",
            **options,
        ).images
        out.append((images.clamp(0, 1) * 255).round() / 255)
    return torch.cat(out)
