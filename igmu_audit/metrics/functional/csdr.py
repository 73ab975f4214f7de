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

CSDR_AGGREGATIONS = ("per-image", "per-prompt")


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


def csdr_per_prompt(
    scores_original: torch.Tensor, scores_unlearned: torch.Tensor, prompts: list[int]
) -> torch.Tensor:
    """Per-prompt ``|mean_s CS_orig - mean_s CS_unlearned| / mean_s CS_orig`` (IGMU's code).

    The ratio of seed means, one value per prompt (in order of first appearance): seed
    noise averages out before the absolute difference, so it measures how far the
    prompt's *alignment* moved, not how different single images are.

    Example:
        >>> o, u = torch.tensor([30.0, 20.0, 25.0, 25.0]), torch.tensor([20.0, 30.0, 25.0, 20.0])
        >>> csdr_per_prompt(o, u, [0, 0, 1, 1]).tolist()  # per image: 1/3, 1/2, 0, 1/5
        [0.0, 0.1]
    """
    check_vector(scores_original, "scores_original")
    check_same_length(
        scores_original, scores_unlearned, "scores_original", "scores_unlearned"
    )
    if len(prompts) != scores_original.numel():
        raise ValueError(
            f"`prompts` must give one prompt id per pair ({scores_original.numel()}), got {len(prompts)}"
        )
    a = scores_original.detach().to(torch.float64)
    b = scores_unlearned.detach().to(device=a.device, dtype=torch.float64)
    where = {p: i for i, p in enumerate(dict.fromkeys(prompts))}
    order = list(where)
    ids = torch.tensor([where[p] for p in prompts])
    counts = torch.bincount(ids, minlength=len(order)).to(torch.float64)
    mean_a = torch.zeros(len(order), dtype=torch.float64).index_add_(0, ids, a) / counts
    mean_b = torch.zeros(len(order), dtype=torch.float64).index_add_(0, ids, b) / counts
    return csdr_per_pair(mean_a, mean_b)


def clip_score_difference_rate(
    scores_original: torch.Tensor,
    scores_unlearned: torch.Tensor,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    prompts: list[int] | None = None,
    aggregation: str = "per-image",
) -> MeanEstimate:
    """CSDR with a bootstrap interval: per image (mean of ratios) or per prompt (IGMU's code).

    ``"per-image"``: mean over pairs of ``|CS_orig - CS_unlearned| / CS_orig``; with
    ``prompts`` the bootstrap resamples whole prompts. ``"per-prompt"``: mean over prompts
    of ``csdr_per_prompt`` (needs ``prompts``), bootstrapped over prompts. A fraction, not
    x100. docs/statistics.md compares the two (per image runs 15-45 % higher).

    Args:
        scores_original: ``(N,)`` CLIP scores, original model (concept-free prompt).
        scores_unlearned: ``(N,)`` CLIP scores, unlearned model, same seeds and order.
        confidence: two-sided coverage. n_resamples: bootstrap resamples. seed: its seed.
        prompts: a prompt id per pair. aggregation: ``"per-image"`` or ``"per-prompt"``.

    Returns:
        ``MeanEstimate(value, n, interval, std)``; ``n`` counts the values averaged.

    Example:
        >>> orig = torch.tensor([30.0, 20.0, 25.0, 32.0])
        >>> unl = torch.tensor([27.0, 22.0, 25.0, 32.0])
        >>> round(clip_score_difference_rate(orig, unl).value, 3)
        0.05
        >>> round(clip_score_difference_rate(orig, unl, prompts=[0, 0, 1, 1], aggregation="per-prompt").value, 3)
        0.01
    """
    from igmu_audit.metrics.functional._checks import check_method

    check_method(aggregation, "aggregation", CSDR_AGGREGATIONS)
    if aggregation == "per-prompt":
        if prompts is None:
            raise ValueError(
                "aggregation='per-prompt' needs `prompts` (a prompt id per pair)"
            )
        values = csdr_per_prompt(scores_original, scores_unlearned, prompts)
        return mean_estimate(values, confidence, "bootstrap", n_resamples, seed)
    return mean_estimate(
        csdr_per_pair(scores_original, scores_unlearned),
        confidence,
        "bootstrap",
        n_resamples,
        seed,
        clusters=prompts,
    )
