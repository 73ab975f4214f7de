"""P4D (Chin et al., ICML 2024): make the unlearned model denoise like the original did.

Why: if some prompt makes the unlearned model's noise prediction match the original
model's prediction for the concept prompt, the unlearned model will draw what the original
drew. With x_t noised from the original's images of the prompt P,

    min_e  E_{t, ε} || ε_θ'(x_t, t, c'([e; P])) - ε_θ(x_t, t, c(P)) ||²

(θ, c: the original UNet and text encoder; θ', c': the unlearned ones), e projected to
real tokens every step (PEZ). P4D keeps only *ideal* prompts: the concept shows on the
original and not on the unlearned model; the others are reported as ``"not ideal"`` (not
counted) or as pre-attack successes. Here the k learned tokens are a prefix of P (P4D-K
keeps the prompt's tokens; P4D-N replaces them).
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
from igmu_audit.attacks._tokens import diffusers_pipe, encode, input_ids
from igmu_audit.attacks.base import (
    BudgetMeter,
    Candidate,
)


class P4D(SoftPromptAttack):
    """Optimise a k-token prefix so the unlearned denoiser matches the original's prediction.

    Args:
        budget: per-prompt budget (default: 40 steps, 120 s, as UnlearnDiffAtk).
        k: prefix tokens.
        lr: Adam learning rate on the soft token vectors.
        check_every: render and detect the projected prompt every this many steps.
        batch: (image, t, ε) draws averaged per step.
        vocabulary: restrict tokens to those of these words (``None``: every whole-word token).
        seed: seeds the token initialisation and the (t, ε) draws (per prompt).

    Raises:
        ConfigError: invalid options; ``run`` without ``original``.

    Example:
        >>> P4D(k=3).name
        'p4d'
    """

    name = "p4d"
    needs_original = True
    ideal_only = True

    def _search(self, ctx: AttackContext, meter: BudgetMeter) -> Candidate:
        import torch
        import torch.nn.functional as F

        z0 = target_latents(ctx, from_original=True)
        pipe, reference = diffusers_pipe(ctx.pipeline), diffusers_pipe(ctx.original)
        with torch.no_grad():
            target_cond = encode(
                reference.text_encoder, input_ids(reference.tokenizer, [ctx.prompt])
            )

        def loss(cond: Any, generator: Any) -> Any:
            xt, t, _ = noised(pipe, z0, self.batch, generator)
            with torch.no_grad():
                want = reference.unet(xt.to(reference.device), t.to(reference.device),
                                      encoder_hidden_states=target_cond.expand(self.batch, -1, -1)).sample  # fmt: skip
            pred = pipe.unet(
                xt, t, encoder_hidden_states=cond.expand(self.batch, -1, -1)
            ).sample
            return F.mse_loss(pred.float(), want.to(pred.device).float())

        return pez_search(
            ctx,
            meter,
            loss,
            k=self.k,
            lr=self.lr,
            check_every=self.check_every,
            vocabulary=self.vocabulary,
        )
