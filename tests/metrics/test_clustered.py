"""Leak-rate intervals with prompts as clusters: the measured failure case, the rules at
the edges, and coverage simulated with fixed seeds through the production code."""

from __future__ import annotations

import numpy as np
import pytest

from igmu_audit.leak_rate import leak_rate_check
from igmu_audit.metrics.functional.clustered import (
    clopper_pearson_arrays,
    clustered_bounds,
    clustered_design,
    clustered_interval,
    effective_sizes,
    rate_interval,
)
from igmu_audit.metrics.functional.intervals import clopper_pearson_interval
from igmu_audit.results import Threshold

ONE_PROMPT_LEAKS = ([8] + [0] * 9, [8] * 10)  # 10 prompts x 8 seeds, one leaks on all


def test_one_leaking_prompt_in_ten_does_not_pass_a_25_percent_gate() -> None:
    gate = Threshold("max_rate", 0.25, "test")
    check = leak_rate_check(ONE_PROMPT_LEAKS, gate, 0.95)
    assert check.value == pytest.approx(0.1)
    assert check.verdict != "pass"
    assert check.interval.high == pytest.approx(clopper_pearson_interval(1, 10).high)
    assert check.interval.n_effective == pytest.approx(10.0)
    assert "clustered by prompt" in check.interval.method
    assert "deff 8" in check.interval.method
    assert "distinct prompts" in check.note
    # the independent-image interval is the one that wrongly passed (issue 13, finding 1)
    independent = leak_rate_check(ONE_PROMPT_LEAKS, gate, 0.95, interval="independent")
    assert independent.verdict == "pass"
    assert independent.interval.method == "clopper-pearson, independent images"


def test_no_hits_claims_no_more_than_the_prompts_give() -> None:
    # 0 hits in 10 prompts x 100 seeds: the bound is that of 10 draws, not 1000
    iv, design = clustered_interval([0] * 10, [100] * 10)
    assert design.icc is None
    assert design.n_effective == 10.0
    assert iv.high == pytest.approx(clopper_pearson_interval(0, 10).high)
    assert "worst case" in iv.method
    # seeds do not help, prompts do
    assert clustered_interval([0] * 10, [1000] * 10)[0].high == pytest.approx(iv.high)
    assert clustered_interval([0] * 100, [10] * 100)[0].high < 0.04


def test_edges_one_prompt_one_seed_and_spread_hits() -> None:
    assert clustered_design([3], [8]).n_effective == 1.0  # one prompt: one draw
    single = clustered_design([1, 0, 1, 0], [1, 1, 1, 1])  # one seed each: independent
    assert single.n_effective == 4.0
    assert single.design_effect == 1.0
    spread = clustered_design([1] * 40, [8] * 40)  # no clustering in the data
    assert spread.icc < 0.1
    assert spread.n_effective > 0.5 * 320
    clumped = clustered_design([8] * 4 + [0] * 36, [8] * 40)
    assert clumped.icc == pytest.approx(1.0)
    assert clumped.n_effective == pytest.approx(40.0)
    assert clumped.n_effective_limit == pytest.approx(40.0)


@pytest.mark.parametrize(
    ("hits", "sizes"),
    [([0] * 10, [8] * 10), ([8] * 10, [8] * 10), ([1, 7, 0, 3], [8, 8, 8, 8]),
     ([2, 0, 5], [3, 9, 5]), ([4], [4])],
)  # fmt: skip
def test_the_estimate_lies_in_its_interval(hits: list[int], sizes: list[int]) -> None:
    iv, _ = rate_interval(hits, sizes)
    assert iv.low <= sum(hits) / sum(sizes) <= iv.high


def test_vectorised_bounds_match_the_scalar_interval() -> None:
    rng = np.random.default_rng(1)
    hits = rng.binomial(6, rng.beta(0.3, 2.0, size=(50, 7)))
    low, high = clustered_bounds(hits, np.full(7, 6), 0.9)
    for r in range(50):
        iv, _ = clustered_interval(hits[r].tolist(), [6] * 7, 0.9)
        assert (iv.low, iv.high) == pytest.approx((low[r], high[r]))
    k = np.array([0, 3, 10])
    lo, hi = clopper_pearson_arrays(k, np.full(3, 10.0), 0.95)
    for i, kk in enumerate(k):
        ref = clopper_pearson_interval(int(kk), 10)
        assert (lo[i], hi[i]) == pytest.approx((ref.low, ref.high))


def _coverage(prompts: int, seeds: int, rate: float, icc: float, draws: int) -> float:
    rng = np.random.default_rng(int(1000 * rate + 100 * icc + prompts))
    if icc == 0:
        p = np.full((draws, prompts), rate)
    else:
        s = 1 / icc - 1
        p = rng.beta(rate * s, (1 - rate) * s, size=(draws, prompts))
    hits = rng.binomial(seeds, p)
    low, high = clustered_bounds(hits, np.full(prompts, seeds), 0.95)
    return float(np.mean((low <= rate) & (rate <= high)))


@pytest.mark.parametrize("icc", [0.0, 0.1, 0.3, 0.7])
def test_coverage_at_or_above_nominal_for_clustered_prompts(icc: float) -> None:
    """Beta-binomial prompts at several ICCs, rates and designs (2000 audits per cell)."""
    draws = 2000
    slack = 3 * np.sqrt(0.95 * 0.05 / draws)  # three Monte-Carlo standard errors
    for prompts, seeds in ((10, 8), (32, 32), (100, 4)):
        for rate in (0.02, 0.1, 0.3):
            cov = _coverage(prompts, seeds, rate, icc, draws)
            assert cov >= 0.95 - slack, (prompts, seeds, rate, icc, cov)


def test_effective_sizes_never_leave_their_bounds() -> None:
    rng = np.random.default_rng(2)
    sizes = np.array([3, 5, 8, 2, 9])
    hits = rng.binomial(sizes, rng.uniform(0, 1, size=(300, 5)))
    n_eff, icc = effective_sizes(hits, sizes, 0.95)
    floor = sizes.sum() ** 2 / (sizes**2).sum()
    assert np.all(n_eff >= floor - 1e-9)
    assert np.all(n_eff <= sizes.sum() + 1e-9)
    known = icc[~np.isnan(icc)]
    assert np.all((known >= 0) & (known <= 1))
