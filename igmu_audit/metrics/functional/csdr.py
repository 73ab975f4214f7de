"""CSDR (CLIP Score Difference Rate): how far unlearning moved the prompt-image agreement.

IGMU's definition, per same-seed pair ``i`` (original model with the concept words removed
from the prompt vs the unlearned model, both scored against the concept-free prompt p')::

    CSDR_i = |CS_orig,i - CS_unlearned,i| / CS_orig,i

averaged over all pairs. IGMU multiplies by 100; here it stays a **fraction** (0.031, not
3.1 %). Lower is better: the unlearned model still draws what the rest of the prompt asks.
"""

from __future__ import annotations

import torch

from igmu_audit.metrics.functional._checks import check_same_length, check_vector
from igmu_audit.metrics.functional.intervals import MeanEstimate, mean_estimate


def csdr_per_pair(
    scores_original: torch.Tensor, scores_unlearned: torch.Tensor
) -> torch.Tensor:
    """Per-pair ``|CS_orig - CS_unlearned| / CS_orig`` as float64 ``(N,)``.

    Args:
        scores_original: ``(N,)`` CLIP scores of the original model's images (``clip_scores``).
        scores_unlearned: ``(N,)`` CLIP scores of the unlearned model's images, same seeds,
            same order.

    Raises:
        ValueError: mismatched lengths, negative scores, or an original score of 0
            (the ratio is undefined; IGMU's code would divide by zero).

    Example:
        >>> csdr_per_pair(torch.tensor([30.0, 20.0]), torch.tensor([27.0, 22.0])).tolist()
        [0.1, 0.1]
    """
    check_vector(scores_original, "scores_original")
    check_vector(scores_unlearned, "scores_unlearned")
    check_same_length(
        scores_original, scores_unlearned, "scores_original", "scores_unlearned"
    )
    a = scores_original.detach().to(torch.float64)
    b = scores_unlearned.detach().to(device=a.device, dtype=torch.float64)
    if bool((a < 0).any()) or bool((b < 0).any()):
        raise ValueError(
            "CLIP scores are clamped at 0; got negative values in the inputs"
        )
    zero = (a == 0).nonzero().flatten().tolist()
    if zero:
        raise ValueError(
            f"`scores_original` is 0 at pairs {zero[:10]}: CSDR divides by the original "
            "score, so these pairs have no defined ratio; check the prompts and embeddings"
        )
    return (a - b).abs() / a


def clip_score_difference_rate(
    scores_original: torch.Tensor,
    scores_unlearned: torch.Tensor,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> MeanEstimate:
    """CSDR: mean of ``|CS_orig - CS_unlearned| / CS_orig`` with a paired bootstrap interval.

    Pairs are resampled as units (each pair's ratio is one value), so the interval keeps
    the same-seed pairing. A fraction, not ×100.

    Args:
        scores_original: ``(N,)`` CLIP scores, original model (concept-free prompt).
        scores_unlearned: ``(N,)`` CLIP scores, unlearned model, same seeds and order.
        confidence: two-sided coverage. n_resamples: bootstrap resamples. seed: its seed.

    Returns:
        ``MeanEstimate(value, n, interval, std)``.

    Example:
        >>> orig = torch.tensor([30.0, 20.0, 25.0, 32.0])
        >>> unl = torch.tensor([27.0, 22.0, 25.0, 32.0])
        >>> round(clip_score_difference_rate(orig, unl).value, 3)
        0.05
    """
    return mean_estimate(
        csdr_per_pair(scores_original, scores_unlearned),
        confidence,
        "bootstrap",
        n_resamples,
        seed,
    )
