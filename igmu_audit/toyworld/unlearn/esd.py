"""ESD-x: erase a concept by fine-tuning only the UNet's cross-attention (Gandikota et al., 2023).

Erased Stable Diffusion trains the model to follow *negative* guidance away from the concept
``c``. With the frozen original ε* and the latent ``x_t`` taken from the model's own partial
DDIM sampling under ``c``, the target is (ESD, eq. 2)::

    ε_θ(x_t, c, t)  ←  ε*(x_t, ∅, t) − η · (ε*(x_t, c, t) − ε*(x_t, ∅, t))

ESD-x updates only the text-conditioned attention (``attn2``: to_q, to_k, to_v, to_out), so
the edit is tied to prompts. The optional retain term regresses other classes' prompts (and
the empty prompt) to the original's prediction on the same kind of ``x_t``; without it the
erasure spreads to neighbouring concepts (measured in REFERENCE §6), which the zoo's
over-erased model keeps on purpose.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from igmu_audit.toyworld.unlearn._common import (
    changed_tensors,
    cross_attention_parameters,
    encode_texts,
)


@dataclass(frozen=True)
class ESDConfig:
    """Hyper-parameters of one ESD run.

    Attributes:
        steps: optimiser steps.
        lr: Adam learning rate (ESD uses 1e-5 on SD; the toy model needs more).
        batch_size: erase prompts per step (and as many retain prompts when retaining).
        eta: negative-guidance strength η of the target.
        retain_weight: weight of the retain term; 0 turns it off.
        sample_guidance: classifier-free guidance of the partial DDIM sampling that makes x_t.
        ddim_steps: length of that DDIM schedule (x_t stops after a random number of steps).
        parameters: ``"xattn"`` (ESD-x, attn2 only) or ``"full"`` (every UNet parameter).
        seed: seeds prompts, noise and stopping steps.
    """

    steps: int = 600
    lr: float = 2e-4
    batch_size: int = 8
    eta: float = 1.0
    retain_weight: float = 1.0
    sample_guidance: float = 3.0
    ddim_steps: int = 25
    parameters: str = "xattn"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.parameters not in ("xattn", "full"):
            raise ValueError(
                f"`parameters` must be 'xattn' or 'full', got {self.parameters!r}"
            )
        if self.steps < 1 or self.batch_size < 1 or self.ddim_steps < 2:
            raise ValueError(
                f"`steps`, `batch_size` must be >= 1 and `ddim_steps` >= 2, got {self}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (recorded in the zoo's metadata and card)."""
        return asdict(self)


def _trainable(unet: nn.Module, parameters: str) -> dict[str, nn.Parameter]:
    if parameters == "xattn":
        return cross_attention_parameters(unet)
    return dict(unet.named_parameters())


@torch.no_grad()
def _partial_sample(
    unet: nn.Module,
    scheduler: Any,
    states: torch.Tensor,
    empty: torch.Tensor,
    stop: int,
    guidance: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """Run ``stop`` DDIM steps with classifier-free guidance from fresh noise (ESD's x_t)."""
    n = len(states)
    size = unet.config.sample_size
    latents = (
        torch.randn((n, unet.config.in_channels, size, size), generator=generator)
        * scheduler.init_noise_sigma
    )
    context = torch.cat([empty.expand(n, -1, -1), states])
    for t in scheduler.timesteps[:stop]:
        uncond, cond = unet(torch.cat([latents, latents]), t, context).sample.chunk(2)
        noise = uncond + guidance * (cond - uncond)
        latents = scheduler.step(noise, t, latents).prev_sample
    return latents


def train_esd(
    pipe: Any,
    erase_prompts: Sequence[str],
    retain_prompts: Sequence[str] = (),
    config: ESDConfig | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Fine-tune ``pipe.unet`` in place with the ESD objective; return the changed tensors.

    Args:
        pipe: a ``StableDiffusionPipeline`` in float32 (e.g. ``load_pipeline(...).pipeline``).
        erase_prompts: prompts naming the concept (drawn uniformly per step).
        retain_prompts: prompts whose predictions must not move (used when
            ``config.retain_weight > 0``); include ``""`` to pin the unconditional branch.
        config: hyper-parameters (default ``ESDConfig()``).
        progress: called as ``progress(step, loss)`` after every step.

    Returns:
        ``{state-dict key: fp16 tensor}`` of every parameter that changed: a partial UNet
        dict in the format ESD-x checkpoints ship.
    """
    from diffusers import DDIMScheduler

    config = config or ESDConfig()
    if not erase_prompts:
        raise ValueError("`erase_prompts` must not be empty")
    retain = config.retain_weight > 0 and len(retain_prompts) > 0
    unet = pipe.unet
    before = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    original = copy.deepcopy(unet).eval().requires_grad_(False)
    unet.train().requires_grad_(False)
    trainable = _trainable(unet, config.parameters)
    for p in trainable.values():
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(trainable.values(), lr=config.lr)

    encoder, tokenizer = pipe.text_encoder, pipe.tokenizer
    erase_states = encode_texts(encoder, tokenizer, erase_prompts)
    retain_states = encode_texts(encoder, tokenizer, retain_prompts) if retain else None
    empty = encode_texts(encoder, tokenizer, [""])
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(config.ddim_steps)
    generator = torch.Generator().manual_seed(config.seed)
    mse = nn.functional.mse_loss

    for step in range(config.steps):
        pick = torch.randint(
            0, len(erase_states), (config.batch_size,), generator=generator
        )
        states = erase_states[pick]
        if retain_states is not None:
            keep = torch.randint(
                0, len(retain_states), (config.batch_size,), generator=generator
            )
            states = torch.cat([states, retain_states[keep]])
        stop = int(torch.randint(1, config.ddim_steps, (1,), generator=generator))
        unet.eval()
        x_t = _partial_sample(
            unet, scheduler, states, empty, stop, config.sample_guidance, generator
        )
        unet.train()
        t = scheduler.timesteps[stop]
        n = config.batch_size
        with torch.no_grad():
            e_empty = original(x_t[:n], t, empty.expand(n, -1, -1)).sample
            e_concept = original(x_t[:n], t, states[:n]).sample
            target = e_empty - config.eta * (e_concept - e_empty)
            kept = original(x_t[n:], t, states[n:]).sample if retain else None
        prediction = unet(x_t, t, states).sample
        loss = mse(prediction[:n], target)
        if kept is not None:
            loss = loss + config.retain_weight * mse(prediction[n:], kept)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(step, loss.detach().item())

    unet.eval().requires_grad_(False)
    return changed_tensors(before, unet.state_dict())
