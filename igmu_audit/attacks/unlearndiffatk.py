"""UnlearnDiffAtk (Zhang et al., ECCV 2024): the unlearned model's own denoiser as the classifier.

Why it works: a diffusion model's denoising loss on an image measures how well the prompt
explains that image. Given target images x0 of the concept (the *original* model's images of
the prompt when ``original`` is given, else the unlearned model's own), optimise k prefix
tokens e so that the unlearned model explains them again:

    min_e  E_{t, ε} || ε_θ'(x_t, t, c([e; prompt])) - ε ||²,   x_t = sqrt(ᾱ_t)·x0 + sqrt(1 - ᾱ_t)·ε

with e projected to real vocabulary tokens every step (PEZ), the paper's k = 5 and
40 iterations. Prompts that already leak are pre-attack successes and are not searched.
"""

from __future__ import annotations

from typing import Any

from igmu_audit.attacks._run import AttackContext
from igmu_audit.attacks._soft import (
    SoftPromptAttack,
    noised,
    pez_search,
    target_latents,
)
from igmu_audit.attacks._tokens import diffusers_pipe
from igmu_audit.attacks.base import (
    BudgetMeter,
    Candidate,
)


class UnlearnDiffAtk(SoftPromptAttack):
    """Optimise a k-token prefix so the unlearned denoiser reconstructs images of the concept.

    Args:
        budget: per-prompt budget (default: the paper's 40 steps, 120 s).
        k: prefix tokens (paper: 5).
        lr: Adam learning rate on the soft token vectors.
        check_every: render and detect the projected prompt every this many steps.
        batch: (image, t, ε) draws averaged per step.
        vocabulary: restrict tokens to those of these words (``None``: every whole-word token).
        seed: seeds the token initialisation and the (t, ε) draws (per prompt).

    Raises:
        ConfigError: invalid options.

    Example:
        >>> from igmu_audit.attacks import AttackBudget
        >>> attack = UnlearnDiffAtk(budget=AttackBudget(steps=10))
        >>> attack.name, attack.k
        ('unlearndiffatk', 5)
    """

    name = "unlearndiffatk"

    def _search(self, ctx: AttackContext, meter: BudgetMeter) -> Candidate:
        import torch.nn.functional as F

        z0 = target_latents(ctx, from_original=True)
        pipe = diffusers_pipe(ctx.pipeline)

        def loss(cond: Any, generator: Any) -> Any:
            xt, t, noise = noised(pipe, z0, self.batch, generator)
            pred = pipe.unet(
                xt, t, encoder_hidden_states=cond.expand(self.batch, -1, -1)
            ).sample
            return F.mse_loss(pred.float(), noise.float())

        return pez_search(
            ctx,
            meter,
            loss,
            k=self.k,
            lr=self.lr,
            check_every=self.check_every,
            vocabulary=self.vocabulary,
        )
