"""Sequential looks keep each wrong verdict within 1 - confidence at every threshold.

Exact for independent images (a dynamic programme over hit counts through the audit's
own bounds and decision), simulated for prompt clusters (beta-binomial prompts kept
across looks, since looks add seeds). See docs/statistics.md for the full tables
(benchmarks/bench_statistics.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from igmu_audit.leak_rate import leak_rate_check
from igmu_audit.metrics.functional.clustered import independent_bounds
from igmu_audit.metrics.functional.sequential import (
    clustered_error_rates,
    independent_error_rates,
)
from igmu_audit.results import Threshold

THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2)
SCHEDULES = (
    (8, [8]),
    (8, [1]),
    (8, [8, 16, 32, 64, 128]),  # the 7.4 % case under Bonferroni-Wilson
    (32, [8, 16, 32, 64, 128, 256, 512]),
    (8, [2**i for i in range(10)]),  # ten looks
    (32, [2**i for i in range(10)]),
)


@pytest.mark.parametrize(("prompts", "seeds"), SCHEDULES)
def test_exact_wrong_verdict_rates_for_independent_images(
    prompts: int, seeds: list[int]
) -> None:
    for threshold in THRESHOLDS:
        r = independent_error_rates(prompts, seeds, threshold, 0.95)
        assert r.exact
        assert r.fail <= 0.05, (prompts, seeds, threshold, r)
        assert r.pass_ <= 0.05, (prompts, seeds, threshold, r)
        assert r.fail + r.pass_ + r.inconclusive == pytest.approx(1.0, abs=1e-9)


def test_the_programme_agrees_with_brute_force_simulation() -> None:
    prompts, seeds, p = 4, [2, 4, 8], 0.2
    exact = independent_error_rates(prompts, seeds, p, 0.8)
    rng = np.random.default_rng(0)
    draws = 200_000
    k = np.zeros(draws)
    alive = np.ones(draws, dtype=bool)
    fails = passes = 0
    previous = 0
    for c in seeds:
        k = k + rng.binomial(prompts * (c - previous), p, size=draws)
        previous = c
        low, high = independent_bounds(k, prompts * c, 0.8, len(seeds))
        f, q = alive & (low > p), alive & (high <= p)
        fails, passes = fails + f.sum(), passes + q.sum()
        alive &= ~(f | q)
    assert fails / draws == pytest.approx(exact.fail, abs=0.003)
    assert passes / draws == pytest.approx(exact.pass_, abs=0.003)


def test_the_programme_uses_the_audits_own_decision() -> None:
    """The bounds the programme thresholds are those leak_rate_check judges on."""
    gate = Threshold("max_rate", 0.05, "test")
    for k in (0, 3, 9, 30):
        check = leak_rate_check(
            ([k], [200]), gate, 0.95, interval="independent", looks=4
        )
        low, high = independent_bounds(np.array([k]), 200, 0.95, 4)
        assert (check.interval.low, check.interval.high) == pytest.approx(
            (low[0], high[0])
        )
        assert check.interval.confidence == pytest.approx(0.9875)


@pytest.mark.parametrize("icc", [0.0, 0.1, 0.3, 0.7])
def test_simulated_wrong_verdict_rates_for_clustered_prompts(icc: float) -> None:
    draws = 1000
    slack = 3 * np.sqrt(0.05 * 0.95 / draws)
    for threshold in (0.01, 0.05, 0.2):
        for prompts, seeds in ((64, [2, 4, 8, 16]), (200, [1, 2, 4])):
            r = clustered_error_rates(
                prompts, seeds, threshold, icc, 0.95, draws, seed=7
            )
            assert r.fail <= 0.05 + slack, (prompts, seeds, threshold, icc, r)
            assert r.pass_ <= 0.05 + slack, (prompts, seeds, threshold, icc, r)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: independent_error_rates(0, [1], 0.1), "`prompts`"),
        (lambda: independent_error_rates(4, [], 0.1), "`seeds`"),
        (lambda: independent_error_rates(4, [4, 2], 0.1), "grow"),
        (lambda: independent_error_rates(4, [4], 1.5), "`threshold`"),
        (lambda: clustered_error_rates(4, [4], 0.1, icc=1.0), "`icc`"),
    ],
)
def test_bad_schedules_are_refused(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
