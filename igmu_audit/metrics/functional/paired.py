"""Paired comparisons on same-seed image pairs: McNemar's exact test and a paired bootstrap.

Images of two models from the same prompt and seed are paired; tests that ignore the
pairing (two-sample proportions, unpaired bootstraps) throw that information away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import torch

from igmu_audit.metrics.functional._checks import (
    check_confidence,
    check_count,
    check_same_length,
    check_vector,
)
from igmu_audit.metrics.functional.intervals import (
    Interval,
    MeanEstimate,
    mean_estimate,
)


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """McNemar's exact test and the paired difference of two proportions.

    Attributes:
        b: pairs positive under the first condition only. c: positive under the second only.
        n: all pairs (concordant ones included).
        p_value: exact two-sided p-value, ``min(1, 2 · P(Bin(b + c, ½) <= min(b, c)))``.
        difference: ``(b - c) / n`` = rate(first) - rate(second).
        interval: Agresti-Min interval of ``difference``.
    """

    b: int
    c: int
    n: int
    p_value: float
    difference: float
    interval: Interval


def mcnemar_test(b: int, c: int, n: int, confidence: float = 0.95) -> McNemarResult:
    """McNemar's exact test from discordant counts, with an interval on the difference.

    For paired binary outcomes (e.g. "detector correct" before vs after unlearning on
    the same seeds), only the discordant pairs carry evidence: under H0 each of the
    ``b + c`` is equally likely to go either way, so
    ``p = min(1, 2 · Σ_{i <= min(b,c)} C(b+c, i) / 2^(b+c))``.
    The interval on ``(b - c) / n`` is Agresti-Min (2005): add ½ to each of the four
    cells, then ``d ± z · sqrt(b' + c' - (b' - c')² / n') / n'``, clipped to [-1, 1].

    Args:
        b: pairs positive in the first condition and negative in the second.
        c: pairs negative in the first and positive in the second.
        n: total pairs, ``>= b + c`` and ``>= 1``.
        confidence: two-sided coverage of the interval.

    Returns:
        ``McNemarResult``.

    Example:
        >>> r = mcnemar_test(b=1, c=9, n=50)
        >>> round(r.p_value, 4), r.difference
        (0.0215, -0.16)
    """
    from scipy.stats import binom

    check_count(b, "b")
    check_count(c, "c")
    check_count(n, "n", minimum=1)
    if b + c > n:
        raise ValueError(
            f"`n` must be >= b + c = {b + c} (it counts all pairs), got {n}"
        )
    confidence = check_confidence(confidence)
    m = b + c
    p_value = 1.0 if m == 0 else min(1.0, 2.0 * float(binom.cdf(min(b, c), m, 0.5)))
    bb, cc, nn = b + 0.5, c + 0.5, n + 2.0
    d = (bb - cc) / nn
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    half = z * math.sqrt(max(0.0, bb + cc - (bb - cc) ** 2 / nn)) / nn
    iv = Interval(max(-1.0, d - half), min(1.0, d + half), confidence, "agresti-min")
    return McNemarResult(b, c, n, p_value, (b - c) / n, iv)


def mcnemar_from_outcomes(
    first: torch.Tensor, second: torch.Tensor, confidence: float = 0.95
) -> McNemarResult:
    """``mcnemar_test`` from two ``(N,)`` bool tensors paired row by row (same seeds).

    Example:
        >>> first = torch.tensor([True, True, False, True])
        >>> second = torch.tensor([True, False, False, False])
        >>> r = mcnemar_from_outcomes(first, second)
        >>> (r.b, r.c, r.n, r.p_value)
        (2, 0, 4, 0.5)
    """
    for name, x in (("first", first), ("second", second)):
        if not isinstance(x, torch.Tensor) or x.dtype != torch.bool or x.ndim != 1:
            raise ValueError(f"`{name}` must be a 1-d bool tensor (N,), got {x!r}")
    check_same_length(first, second, "first", "second")
    b = int((first & ~second).sum())
    c = int((~first & second).sum())
    return mcnemar_test(b, c, first.numel(), confidence)


def paired_bootstrap_interval(
    a: torch.Tensor,
    b: torch.Tensor,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    clusters: list[int] | None = None,
) -> MeanEstimate:
    """Mean of the paired differences ``a_i - b_i`` with a percentile bootstrap interval.

    Pairs are resampled as units (the bootstrap runs on the differences), sorted first, so
    the result is deterministic given ``seed`` and independent of shard order. With
    ``clusters`` (a prompt id per pair) whole prompts are resampled.

    Args:
        a, b: ``(N,)`` float values paired row by row (same prompt and seed).
        confidence: two-sided coverage. n_resamples: resamples (>= 100). seed: its seed.

    Returns:
        ``MeanEstimate`` of ``mean(a - b)``.

    Example:
        >>> a = torch.tensor([0.50, 0.61, 0.42, 0.55])
        >>> round(paired_bootstrap_interval(a, a - 0.1).value, 6)
        0.1
    """
    check_vector(a, "a")
    check_vector(b, "b")
    check_same_length(a, b, "a", "b")
    diff = a.detach().to(torch.float64) - b.detach().to(a.device, torch.float64)
    return mean_estimate(diff, confidence, "bootstrap", n_resamples, seed, clusters)
