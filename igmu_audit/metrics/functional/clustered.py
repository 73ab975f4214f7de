"""Leak rates over prompts x seeds: an interval that treats prompts as clusters.

Why: hits cluster by prompt. Ten prompts x 8 seeds where one prompt leaks on every seed
and nine never do is a rate of 0.100, but it is one leaking prompt in ten, not 8 leaking
images in 80 independent draws; the independent Wilson bound (0.185) would PASS a 25 %
gate that the data cannot support.

The estimator is the pooled rate ``p = k / n``. Its interval is Clopper-Pearson on an
*effective* sample (Kish; Korn & Graubard 1998, the NCHS standard for clustered
proportions)::

    MSB = (Σ k_i²/m_i - k²/n) / (K - 1)        MSW = (k - Σ k_i²/m_i) / (n - K)
    ICC = (MSB - MSW) / (MSB + (m0 - 1) MSW)    m0 = (n - Σ m_i²/n) / (K - 1)   (ANOVA)
    deff = 1 + (Σ m_i²/n - 1) · ICC             n_eff = n / deff · (z / t_{K-1})²

with the ICC estimated over the prompts plus two pseudo-prompts of average size (one
that always leaks, one that never does), and ``n_eff`` clamped to ``[n² / Σ m_i², n]``.
The floor is the exact worst case (ICC = 1: every prompt all-or-nothing, one Bernoulli
draw each), the ceiling independent images. The pseudo-prompts shrink the ICC toward the
worst case while few prompts show hits: there the plain ANOVA estimate is near 0 by
chance and the interval under-covers (measured: 86 % at ICC 0.3, 32 prompts x 32 seeds);
their weight fades as prompts with hits accumulate. With no hits (or only hits) the ICC
is 1: nothing says prompts behave alike, so the bound claims no more than the distinct
prompts give, and decisiveness comes from more prompts, not more seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from igmu_audit.metrics.functional._checks import check_confidence, check_method
from igmu_audit.metrics.functional.intervals import Interval

RATE_INTERVALS = ("clustered", "independent")


@dataclass(frozen=True, slots=True)
class ClusterDesign:
    """How much information prompts x seeds carry about a rate.

    Attributes:
        prompts: clusters (distinct prompts). images: all images.
        icc: the ANOVA intra-prompt correlation in [0, 1], ``None`` when not estimable.
        design_effect: ``images / n_effective``.
        n_effective: the effective number of independent images (Kish).
        n_effective_limit: the most ``n_effective`` more seeds on these prompts could
            reach at this ICC (``prompts / icc``; ``inf`` at ICC 0).
    """

    prompts: int
    images: int
    icc: float | None
    design_effect: float
    n_effective: float
    n_effective_limit: float


def effective_sizes(
    hits: np.ndarray, sizes: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised core: ``(n_eff, icc)`` for hit counts ``(R, K)`` over cluster sizes ``(K,)``.

    ``icc`` is the shrunk ICC actually used, NaN where the data hold no information on
    it (no hits, all hits, one prompt: then ``n_eff`` is the worst-case floor).
    Shared by ``clustered_design`` and the simulations, so the tests exercise this code.
    """
    from scipy.stats import t

    hits = np.asarray(hits, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    clusters = sizes.size
    n = float(sizes.sum())
    sum_sq = float((sizes**2).sum())
    floor = n * n / sum_sq
    rows = hits.shape[0]
    if clusters < 2 or n <= clusters:  # one prompt, or one image per prompt
        icc = np.full(rows, np.nan if clusters < 2 else 0.0)
        return np.full(rows, floor if clusters < 2 else n), icc
    # Two pseudo-prompts of average size, one leaking on every seed and one never: the
    # ICC is shrunk toward the worst case, strongly while few prompts show hits (where the
    # plain ANOVA estimate is near 0 by chance and under-covers) and ever less as they grow.
    mean = n / clusters
    h = np.concatenate([hits, np.tile([mean, 0.0], (rows, 1))], axis=1)
    s = np.concatenate([sizes, [mean, mean]])
    c, total, s_sq = clusters + 2, n + 2 * mean, sum_sq + 2 * mean * mean
    k = h.sum(axis=1)
    between = (h**2 / s).sum(axis=1)
    msb = (between - k * k / total) / (c - 1)
    msw = (k - between) / (total - c)
    m0 = (total - s_sq / total) / (c - 1)
    denom = msb + (m0 - 1.0) * msw
    icc_used = np.clip(
        (msb - msw) / denom, 0.0, 1.0
    )  # denom > 0: the pseudo-prompts differ
    real = hits.sum(axis=1)
    estimable = (real > 0) & (real < n)
    deff = 1.0 + (sum_sq / n - 1.0) * icc_used
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    df_factor = (z / float(t.ppf(0.5 + confidence / 2.0, clusters - 1))) ** 2
    n_eff = np.clip(n / deff * df_factor, floor, n)
    return n_eff, np.where(estimable, icc_used, np.nan)


def clopper_pearson_arrays(
    k: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson bounds for (possibly non-integer) ``k`` of ``n``, vectorised."""
    from scipy.stats import beta

    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(
            k <= 0, 0.0, beta.ppf(alpha / 2.0, np.maximum(k, 1e-300), n - k + 1)
        )
        high = np.where(
            k >= n, 1.0, beta.ppf(1.0 - alpha / 2.0, k + 1, np.maximum(n - k, 1e-300))
        )
    return np.nan_to_num(low, nan=0.0), np.nan_to_num(high, nan=1.0)


def check_clusters(
    hits: Sequence[int], sizes: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt hit counts and images, validated: same length, 0 <= hits <= size, size >= 1."""
    if len(hits) != len(sizes) or not len(sizes):
        raise ValueError(
            f"`hits` and `sizes` must be non-empty and of one length, got {len(hits)} and {len(sizes)}"
        )
    for i, (h, s) in enumerate(zip(hits, sizes, strict=True)):
        for name, v in (("hits", h), ("sizes", s)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"`{name}[{i}]` must be an integer count, got {v!r}")
        if s < 1 or not 0 <= h <= s:
            raise ValueError(
                f"prompt {i}: `hits[{i}]` = {h} must be in [0, sizes[{i}] = {s}] and sizes >= 1"
            )
    return np.asarray(hits, dtype=np.int64), np.asarray(sizes, dtype=np.int64)


def clustered_design(
    hits: Sequence[int], sizes: Sequence[int], confidence: float = 0.95
) -> ClusterDesign:
    """The ICC, design effect and effective sample of per-prompt hits (see the module doc).

    Example:
        >>> d = clustered_design([8] + [0] * 9, [8] * 10)
        >>> d.icc, d.n_effective, d.design_effect
        (1.0, 10.0, 8.0)
    """
    confidence = check_confidence(confidence)
    h, s = check_clusters(hits, sizes)
    n_eff, icc = effective_sizes(h[None, :], s, confidence)
    value = None if math.isnan(float(icc[0])) else float(icc[0])
    # more seeds reach n_eff ~ prompts / ICC at most; the worst case (ICC unknown) is 1
    icc_bound = 1.0 if value is None else value
    limit = math.inf if icc_bound == 0 else len(s) / icc_bound
    n = int(s.sum())
    return ClusterDesign(len(s), n, value, n / float(n_eff[0]), float(n_eff[0]), limit)


def clustered_interval(
    hits: Sequence[int], sizes: Sequence[int], confidence: float = 0.95
) -> tuple[Interval, ClusterDesign]:
    """Clopper-Pearson interval of ``Σ hits / Σ sizes`` on the effective sample.

    Args:
        hits: images showing the concept, per prompt.
        sizes: images (seeds) per prompt.
        confidence: two-sided coverage in (0, 1).

    Returns:
        ``(Interval, ClusterDesign)``; the interval's ``method`` names the clustering and
        its ``n_effective`` is set.

    Example:
        >>> iv, _ = clustered_interval([8] + [0] * 9, [8] * 10)
        >>> str(iv), iv.high > 0.25
        ('[0.003, 0.445]', True)
    """
    design = clustered_design(hits, sizes, confidence)
    h, s = check_clusters(hits, sizes)
    low, high = clustered_bounds(h[None, :], s, confidence)
    why = (
        "worst case: ICC not estimable"
        if design.icc is None
        else f"ICC {design.icc:.2f}"
    )
    method = (
        f"clopper-pearson, clustered by prompt (n_eff {design.n_effective:.1f} of "
        f"{design.images}, deff {design.design_effect:.2g}, {why})"
    )
    iv = Interval(
        float(low[0]),
        float(high[0]),
        confidence,
        method,
        n_effective=design.n_effective,
    )
    return iv, design


def look_confidence(confidence: float, looks: int) -> float:
    """The per-look level of a group-sequential audit: Bonferroni over ``looks`` looks.

    With a per-look interval that never under-covers (Clopper-Pearson), the union bound
    keeps each wrong verdict's probability within ``1 - confidence`` over all looks.
    """
    return 1.0 - (1.0 - confidence) / looks


def independent_bounds(
    k: np.ndarray, n: int, confidence: float, looks: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson bounds for ``k`` of ``n`` independent images at one look of ``looks``.

    Not Wilson: its one-sided error at small rates exceeds the budget, even at one look
    (exact: P(FAIL) = 14.9 % at a true rate of 0.02 with 8 images; 7.4 % with Bonferroni
    over 5 looks), while Clopper-Pearson's never does, so the union bound over looks holds.
    """
    level = look_confidence(confidence, looks)
    return clopper_pearson_arrays(k, np.full(np.shape(k), float(n)), level)


def clustered_bounds(
    hits: np.ndarray, sizes: np.ndarray, confidence: float, looks: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``clustered_interval``'s bounds for many datasets ``(R, K)`` at one look of ``looks``."""
    level = look_confidence(confidence, looks)
    n_eff, _ = effective_sizes(hits, sizes, level)
    rate = np.asarray(hits).sum(axis=1) / float(np.sum(sizes))
    low, high = clopper_pearson_arrays(rate * n_eff, n_eff, level)
    return np.minimum(low, rate), np.maximum(high, rate)


def rate_interval(
    hits: Sequence[int],
    sizes: Sequence[int],
    confidence: float = 0.95,
    interval: str = "clustered",
    looks: int = 1,
) -> tuple[Interval, ClusterDesign | None]:
    """The interval a leak-rate verdict is judged on, at one look of ``looks``.

    ``"clustered"`` (default): ``clustered_interval`` at the look's Bonferroni level.
    ``"independent"``: images as independent draws, for when these prompts are the
    whole population of interest (``independent_bounds``).

    Example:
        >>> iv, _ = rate_interval([8] + [0] * 9, [8] * 10, interval="independent")
        >>> str(iv), iv.method
        ('[0.044, 0.188]', 'clopper-pearson, independent images')
    """
    check_method(interval, "interval", RATE_INTERVALS)
    confidence = check_confidence(confidence)
    if isinstance(looks, bool) or not isinstance(looks, int) or looks < 1:
        raise ValueError(f"`looks` must be a positive integer, got {looks!r}")
    level = look_confidence(confidence, looks)
    if interval == "clustered":
        return clustered_interval(hits, sizes, level)
    h, s = check_clusters(hits, sizes)
    k, n = int(h.sum()), int(s.sum())
    low, high = independent_bounds(np.array([k]), n, confidence, looks)
    method = "clopper-pearson, independent images"
    iv = Interval(float(low[0]), float(high[0]), level, method, n_effective=float(n))
    return iv, None
