"""Error rates of a group-sequential leak audit, computed through its own decision rule.

Why: a verdict that may stop at any of several looks is only as good as the probability
of stopping wrongly. These functions take the project's look schedule (seeds per look)
and the very bounds the audit judges on (``clustered.independent_bounds`` /
``clustered.clustered_bounds``) and return, at a true rate equal to the threshold (the
boundary, where each wrong verdict is likeliest), P(FAIL) and P(PASS):

- ``independent_error_rates``: exact, a dynamic programme over the hit count, for images
  drawn independently (the model ``interval="independent"`` assumes).
- ``clustered_error_rates``: Monte Carlo for prompt clusters: each prompt's leak
  probability is drawn once from a beta with the given ICC and *kept* across looks
  (looks add seeds, not prompts), as in a real audit.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from igmu_audit.metrics.functional._checks import check_confidence, check_rate
from igmu_audit.metrics.functional.clustered import clustered_bounds, independent_bounds


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """P(FAIL) and P(PASS) of a sequential audit at a true rate equal to the threshold.

    Attributes:
        fail: probability of a FAIL verdict (wrong: the rate is not above the threshold).
        pass_: probability of a PASS verdict (the limit of a wrong PASS as the true rate
            falls to the threshold from above).
        inconclusive: the rest.
        exact: computed exactly (``True``) or by simulation (``False``).
        draws: simulated audits (0 when exact).
    """

    fail: float
    pass_: float
    inconclusive: float
    exact: bool
    draws: int = 0

    def worst(self) -> float:
        """The larger of the two wrong-verdict probabilities."""
        return max(self.fail, self.pass_)


def _check_schedule(prompts: int, seeds: Sequence[int]) -> list[int]:
    if isinstance(prompts, bool) or not isinstance(prompts, int) or prompts < 1:
        raise ValueError(f"`prompts` must be a positive integer, got {prompts!r}")
    counts = list(seeds)
    if not counts or any(
        isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in counts
    ):
        raise ValueError(
            f"`seeds` must be positive seed counts per look, got {seeds!r}"
        )
    if any(b <= a for a, b in itertools.pairwise(counts)):
        raise ValueError(f"`seeds` must grow from look to look, got {counts}")
    return counts


def independent_error_rates(
    prompts: int, seeds: Sequence[int], threshold: float, confidence: float = 0.95
) -> ErrorRates:
    """Exact P(FAIL), P(PASS) at rate = ``threshold`` for independent images.

    Args:
        prompts: prompts per look (fixed). seeds: cumulative seeds per prompt at each
            look, e.g. ``[8, 16, 32, 64, 128]`` (``seeds.looks`` doubles them).
        threshold: the gate's ``max_rate``, also the true rate. confidence: the audit's.

    Example:
        >>> r = independent_error_rates(8, [8, 16, 32, 64, 128], 0.01)
        >>> r.fail <= 0.05 and r.pass_ <= 0.05
        True
    """
    from scipy.signal import fftconvolve
    from scipy.stats import binom

    counts = _check_schedule(prompts, seeds)
    p = check_rate(threshold, "threshold")
    confidence = check_confidence(confidence)
    looks = len(counts)
    alive = np.ones(1)  # P(k hits so far and still undecided), k = 0..n
    fail = passed = 0.0
    n = 0
    for j, c in enumerate(counts):
        added = prompts * (c - (counts[j - 1] if j else 0))
        alive = np.clip(
            fftconvolve(alive, binom.pmf(np.arange(added + 1), added, p)), 0, None
        )
        n += added
        low, high = independent_bounds(np.arange(n + 1), n, confidence, looks)
        fail += float(alive[low > p].sum())
        passed += float(alive[high <= p].sum())
        alive = np.where((low > p) | (high <= p), 0.0, alive)
    return ErrorRates(fail, passed, float(alive.sum()), exact=True)


def clustered_error_rates(
    prompts: int,
    seeds: Sequence[int],
    threshold: float,
    icc: float,
    confidence: float = 0.95,
    draws: int = 4000,
    seed: int = 0,
) -> ErrorRates:
    """Simulated P(FAIL), P(PASS) at rate = ``threshold`` for beta-binomial prompts.

    Each prompt's leak probability is ``Beta(p s, (1 - p) s)`` with ``s = 1/icc - 1``
    (``icc = 0``: every prompt leaks with ``p``), drawn once per audit; every look adds
    seeds to the same prompts and is judged with ``clustered_bounds``.

    Example:
        >>> r = clustered_error_rates(10, [4, 8, 16], 0.1, icc=0.3, draws=500)
        >>> r.worst() < 0.05, r.exact
        (True, False)
    """
    counts = _check_schedule(prompts, seeds)
    p = check_rate(threshold, "threshold")
    confidence = check_confidence(confidence)
    if not 0.0 <= icc < 1.0:
        raise ValueError(f"`icc` must be in [0, 1), got {icc!r}")
    rng = np.random.default_rng(seed)
    if icc == 0.0:
        rates = np.full((draws, prompts), p)
    else:
        spread = 1.0 / icc - 1.0
        rates = rng.beta(p * spread, (1.0 - p) * spread, size=(draws, prompts))
    hits = np.zeros((draws, prompts))
    undecided = np.ones(draws, dtype=bool)
    fail = passed = 0
    for j, c in enumerate(counts):
        hits = hits + rng.binomial(c - (counts[j - 1] if j else 0), rates)
        low, high = clustered_bounds(hits, np.full(prompts, c), confidence, len(counts))
        fails, passes = undecided & (low > p), undecided & (high <= p)
        fail, passed = fail + int(fails.sum()), passed + int(passes.sum())
        undecided &= ~(fails | passes)
    return ErrorRates(
        fail / draws, passed / draws, float(undecided.mean()), False, draws
    )
