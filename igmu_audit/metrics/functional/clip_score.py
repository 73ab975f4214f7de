"""CLIP score from embeddings: ``S = max(100 · cos(E_img, E_txt), 0)`` per image-text pair.

Model-agnostic on purpose: the caller embeds images and prompts with whatever CLIP it
trusts (ViT-B/16 in IGMU's CSDR, a toy CLIP in tests) and hands in the embeddings.
"""

from __future__ import annotations

import torch

from igmu_audit.metrics.functional._checks import check_features
from igmu_audit.metrics.functional.intervals import (
    Interval,
    MeanEstimate,
    mean_estimate,
)


def clip_scores(image_embeds: torch.Tensor, text_embeds: torch.Tensor) -> torch.Tensor:
    """Per-pair CLIP scores ``max(100 · cos(E_img[i], E_txt[i]), 0)``.

    Args:
        image_embeds: ``(N, D)`` image embeddings (need not be normalised).
        text_embeds: ``(N, D)`` text embeddings paired row by row, or ``(1, D)`` for one
            prompt shared by every image.

    Returns:
        ``(N,)`` float64 scores in ``[0, 100]``.

    Example:
        >>> img = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
        >>> clip_scores(img, torch.tensor([[1.0, 1.0]])).round(decimals=2).tolist()
        [70.71, 70.71, 0.0]
    """
    check_features(image_embeds, "image_embeds")
    check_features(text_embeds, "text_embeds")
    n, d = image_embeds.shape
    if text_embeds.shape[1] != d or text_embeds.shape[0] not in (1, n):
        raise ValueError(
            f"`text_embeds` must be (N={n}, D={d}) or (1, D={d}) to pair with "
            f"`image_embeds`, got shape {tuple(text_embeds.shape)}"
        )
    img = image_embeds.detach().to(torch.float64)
    txt = text_embeds.detach().to(device=img.device, dtype=torch.float64)
    cos = torch.nn.functional.cosine_similarity(img, txt.expand(n, d), dim=1, eps=1e-12)
    return (100.0 * cos).clamp(min=0.0)


def clip_score(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    confidence: float = 0.95,
    interval: str = "bootstrap",
    n_resamples: int = 2000,
    seed: int = 0,
    clamp: str = "per-pair",
) -> MeanEstimate:
    """Mean CLIP score over image-text pairs, with a bootstrap (default) or t interval.

    ``CS = mean_i max(100 · cos(E_img[i], E_txt[i]), 0)``. Higher means images match
    their prompts better. ``clamp="mean"`` gives torchmetrics' ``CLIPScore`` instead,
    ``max(100 · mean_i cos_i, 0)``: the clamp after the mean lets negative pairs cancel
    positive ones (an over-erased model: 8.93 per pair vs 0.00 torchmetrics-style).

    Args:
        image_embeds: ``(N, D)``. text_embeds: ``(N, D)`` or ``(1, D)``.
        confidence: two-sided coverage. interval: ``"bootstrap"`` or ``"t"``.
        n_resamples: bootstrap resamples. seed: bootstrap seed.

    Returns:
        ``MeanEstimate(value, n, interval, std)``.

    Example:
        >>> img = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
        >>> round(clip_score(img, torch.tensor([[1.0, 0.0]])).value, 1)
        80.0
    """
    from igmu_audit.metrics.functional._checks import check_method

    check_method(clamp, "clamp", ("per-pair", "mean"))
    if clamp == "per-pair":
        return mean_estimate(
            clip_scores(image_embeds, text_embeds),
            confidence,
            interval,
            n_resamples,
            seed,
        )
    clip_scores(image_embeds, text_embeds)  # validates shapes and values
    n, d = image_embeds.shape
    img = image_embeds.detach().to(torch.float64)
    txt = text_embeds.detach().to(device=img.device, dtype=torch.float64).expand(n, d)
    raw = 100.0 * torch.nn.functional.cosine_similarity(img, txt, dim=1, eps=1e-12)
    est = mean_estimate(raw, confidence, interval, n_resamples, seed)
    iv = est.interval
    clamped = Interval(
        max(iv.low, 0.0),
        max(iv.high, 0.0),
        iv.confidence,
        f"{iv.method}, clamped after the mean",
    )
    return MeanEstimate(max(est.value, 0.0), est.n, clamped, est.std)
