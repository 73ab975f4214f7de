"""ESD-x / ESD-u: erase a concept by fine-tuning the UNet (Gandikota et al., 2023).

Erased Stable Diffusion trains the model to follow *negative* guidance away from the concept
``c``. With the frozen original ε* and a latent ``x_t`` from partial DDIM sampling under
``c``, the target is (ESD, eq. 2)::

    ε_θ(x_t, c, t)  ←  ε*(x_t, ∅, t) − η · (ε*(x_t, c, t) − ε*(x_t, ∅, t))

One deviation, for CPU budgets: ESD re-samples ``x_t`` with the model being trained at every
step; here every prompt's DDIM trajectory is sampled once with the original (a pool of
``x_t`` at every step) and refreshed with the current model ``refreshes`` times.

ESD-x updates only the text-conditioned attention (``attn2``: to_q, to_k, to_v, to_out), so
the edit is tied to prompts; ESD-u (``parameters="full"``) updates every UNet weight. The
optional retain term regresses other classes' prompts (and the empty prompt) to the
original's prediction on the same kind of ``x_t``; without it the erasure spreads to
neighbouring concepts, which the zoo's over-erased ESD-u model keeps on purpose.
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
        ddim_steps: length of that DDIM schedule (x_t is taken after a random number of steps).
        pool_size: prompts per trajectory pool (erase and retain each).
        refreshes: how many times during training the pools are re-sampled with the
            current model (ESD's own-sampling, at a fraction of the cost).
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
    pool_size: int = 96
    refreshes: int = 1
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
def trajectories(
    unet: nn.Module,
    scheduler: Any,
    states: torch.Tensor,
    empty: torch.Tensor,
    guidance: float,
    generator: torch.Generator,
    batch_size: int = 64,
) -> torch.Tensor:
    """DDIM latents before every step, under classifier-free guidance: (steps, N, C, H, W)."""
    # the diffusers UNet's config (nn.Module types attributes as Tensor | Module)
    config: Any = unet.config
    size = config.sample_size
    shape = (len(states), config.in_channels, size, size)
    latents = torch.randn(shape, generator=generator) * scheduler.init_noise_sigma
    pool = []
    for start in range(0, len(states), batch_size):
        x = latents[start : start + batch_size]
        cond = states[start : start + batch_size]
        context = torch.cat([empty.expand(len(x), -1, -1), cond])
        steps = []
        for t in scheduler.timesteps:
            steps.append(x)
            uncond, text = unet(torch.cat([x, x]), t, context).sample.chunk(2)
            x = scheduler.step(uncond + guidance * (text - uncond), t, x).prev_sample
        pool.append(torch.stack(steps))
    return torch.cat(pool, dim=1)


def _pick(
    states: torch.Tensor, config: ESDConfig, generator: torch.Generator
) -> torch.Tensor:
    # At most pool_size prompts, drawn without replacement (the pools' rows).
    order = torch.randperm(len(states), generator=generator)[: config.pool_size]
    return states[order]


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
    unet.requires_grad_(False)
    trainable = _trainable(unet, config.parameters)
    for p in trainable.values():
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(trainable.values(), lr=config.lr)
    mse = nn.functional.mse_loss

    encoder, tokenizer = pipe.text_encoder, pipe.tokenizer
    generator = torch.Generator().manual_seed(config.seed)
    erase_states = _pick(
        encode_texts(encoder, tokenizer, erase_prompts), config, generator
    )
    retain_states = (
        _pick(encode_texts(encoder, tokenizer, retain_prompts), config, generator)
        if retain
        else None
    )
    empty = encode_texts(encoder, tokenizer, [""])
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(config.ddim_steps)
    refresh_at = {
        config.steps * r // (config.refreshes + 1) for r in range(config.refreshes + 1)
    }
    n = config.batch_size

    def draw(pool: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # n random (trajectory, step) cells: x_t, its prompt row and its DDIM step index.
        index = torch.randint(0, pool.shape[1], (n,), generator=generator)
        stop = torch.randint(1, config.ddim_steps, (n,), generator=generator)
        return pool[stop, index], index, stop

    def sample(sampler: nn.Module, states: torch.Tensor) -> torch.Tensor:
        guidance = config.sample_guidance
        return trajectories(sampler, scheduler, states, empty, guidance, generator)

    for step in range(config.steps):
        if step in refresh_at:
            sampler = original if step == 0 else unet
            erase_pool = sample(sampler, erase_states)
            if retain_states is not None:
                retain_pool = sample(sampler, retain_states)
        x_t, index, stop = draw(erase_pool)
        t = scheduler.timesteps[stop]
        states = erase_states[index]
        with torch.no_grad():
            e_empty = original(x_t, t, empty.expand(n, -1, -1)).sample
            e_concept = original(x_t, t, states).sample
            target = e_empty - config.eta * (e_concept - e_empty)
        loss = mse(unet(x_t, t, states).sample, target)
        if retain_states is not None:
            x_r, index_r, stop_r = draw(retain_pool)
            t_r = scheduler.timesteps[stop_r]
            with torch.no_grad():
                kept = original(x_r, t_r, retain_states[index_r]).sample
            prediction = unet(x_r, t_r, retain_states[index_r]).sample
            loss = loss + config.retain_weight * mse(prediction, kept)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress is not None:
            progress(step, loss.detach().item())

    unet.requires_grad_(False)
    return changed_tensors(before, unet.state_dict())
