"""The projected soft-prompt optimisation shared by UnlearnDiffAtk and P4D (PEZ, Wen et al. 2023).

Why projection every step: the prompt must stay a real string, so the soft token vectors
``e`` are optimised continuously while the loss (and its gradient) is always computed at
their projection ``P(e)`` onto the nearest vocabulary embeddings; the gradient at ``P(e)`` is
applied to ``e`` (straight-through: ``e + (P(e) - e).detach()``). The best *projected*
prompt is kept, and every ``check_every`` steps the current projected prompt is rendered and
shown to the detector; the search stops at the first leak (the papers' early stop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from igmu_audit.attacks._run import AttackContext, SearchAttack
from igmu_audit.attacks._tokens import (
    compose,
    diffusers_pipe,
    encode,
    input_ids,
    nearest_tokens,
    random_tokens,
    word_token_ids,
)
from igmu_audit.attacks.base import (
    AttackBudget,
    BudgetMeter,
    Candidate,
    resolve_budget,
)
from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    import torch

Loss = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]


def check_soft_options(k: int, lr: float, check_every: int, batch: int) -> None:
    """Validate the shared hyper-parameters at construction time."""
    for name, value in (("k", k), ("check_every", check_every), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"`{name}` must be a positive integer, got {value!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"`lr` must be a positive number, got {lr!r}")


def target_latents(ctx: AttackContext, *, from_original: bool) -> torch.Tensor:
    """VAE latents ``z0`` of the prompt's images over the seeds (the attack's targets).

    From the original model when asked (and given); the images that show the concept are
    used if any do, else all of them.
    """
    import torch

    from igmu_audit.pipelines.generation import generate, to_batch

    model = ctx.original if from_original and ctx.original is not None else ctx.pipeline
    images = generate(model, [ctx.prompt], ctx.seeds, settings=ctx.settings, cache=ctx.cache, progress=False,
                      desc="attack targets")  # fmt: skip
    scores = ctx.original_scores if model is ctx.original else None
    if scores is not None and any(s >= ctx.detector.threshold for s in scores):
        images = [
            im
            for im, s in zip(images, scores, strict=True)
            if s >= ctx.detector.threshold
        ]
    vae = diffusers_pipe(ctx.pipeline).vae
    x = to_batch(images).to(vae.device, vae.dtype) * 2 - 1
    with torch.no_grad():
        latents: torch.Tensor = (
            vae.encode(x).latent_dist.mean * vae.config.scaling_factor
        )
    return latents


def noised(
    pipe: Any, z0: torch.Tensor, batch: int, generator: torch.Generator
) -> tuple[torch.Tensor, ...]:
    """``batch`` draws of (x_t, t, ε) with x_t = sqrt(ᾱ_t)·z0 + sqrt(1 - ᾱ_t)·ε, all seeded."""
    import torch

    steps = pipe.scheduler.config.num_train_timesteps
    pick = torch.randint(len(z0), (batch,), generator=generator)
    t = torch.randint(steps, (batch,), generator=generator)
    noise = torch.randn((batch, *z0.shape[1:]), generator=generator).to(
        z0.device, z0.dtype
    )
    x0 = z0[pick]
    xt = pipe.scheduler.add_noise(x0, noise, t.to(z0.device))
    return xt, t.to(z0.device), noise


def pez_search(
    ctx: AttackContext,
    meter: BudgetMeter,
    loss: Loss,
    *,
    k: int,
    lr: float,
    check_every: int,
    vocabulary: Sequence[str] | None,
) -> Candidate:
    """Optimise ``k`` prefix tokens of ``ctx.prompt`` to minimise ``loss(conditioning)``.

    Returns the first projected prompt that leaks at a check, else the projected prompt
    with the lowest loss seen.
    """
    import torch

    pipe = diffusers_pipe(ctx.pipeline)
    tok, te = pipe.tokenizer, pipe.text_encoder
    table = te.get_input_embeddings().weight.detach()
    candidates = torch.tensor(
        word_token_ids(tok, vocabulary), dtype=torch.long, device=table.device
    )
    unit_rows = torch.nn.functional.normalize(table[candidates].float(), dim=-1)
    start_ids = random_tokens(candidates.cpu(), k, ctx.generator).to(table.device)
    soft = table[start_ids].clone().float().requires_grad_(True)
    optimiser = torch.optim.Adam([soft], lr=lr)
    best: tuple[float, tuple[int, ...]] = (float("inf"), tuple(start_ids.tolist()))
    checked: set[tuple[int, ...]] = set()
    stopped = meter.exhausted()
    while stopped is None:
        ids = nearest_tokens(soft.detach(), unit_rows, candidates)
        key = tuple(ids.tolist())
        text = compose(tok, key, ctx.prompt)
        projected = table[ids].float()
        cond = encode(te, input_ids(tok, [text]), soft + (projected - soft).detach())
        value = loss(cond, ctx.generator)
        (grad,) = torch.autograd.grad(value, soft)
        soft.grad = grad
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        meter.steps += 1
        current = float(value.detach())
        if current < best[0]:
            best = (current, key)
        if meter.steps % check_every == 0 and key not in checked:
            if meter.exhausted(len(ctx.seeds)) == "queries":
                stopped = "queries"
                break
            checked.add(key)
            meter.queries += len(ctx.seeds)
            if ctx.leaks(ctx.scores(text)):
                return Candidate(key, text, "leak", current)
        stopped = meter.exhausted()
    return Candidate(
        best[1],
        compose(tok, best[1], ctx.prompt),
        stopped,
        best[0] if best[0] < float("inf") else None,
    )


class SoftPromptAttack(SearchAttack):
    """The options UnlearnDiffAtk and P4D share (they differ only in the loss they optimise)."""

    def __init__(
        self,
        budget: AttackBudget | None = None,
        *,
        k: int = 5,
        lr: float = 0.01,
        check_every: int = 10,
        batch: int = 4,
        vocabulary: Sequence[str] | None = None,
        seed: int = 0,
    ) -> None:
        check_soft_options(k, lr, check_every, batch)
        self.budget = resolve_budget(budget, AttackBudget(steps=40, seconds=120.0))
        self.k, self.lr, self.check_every, self.batch = k, lr, check_every, batch
        self.vocabulary = vocabulary
        self.seed = seed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(k={self.k}, lr={self.lr}, budget={self.budget})"
