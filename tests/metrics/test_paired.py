"""McNemar's exact test and the paired bootstrap, against hand counts and scipy."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import binomtest

from igmu_audit.metrics.functional import (
    mcnemar_from_outcomes,
    mcnemar_test,
    paired_bootstrap_interval,
)


def test_mcnemar_by_hand() -> None:
    # b = 1, c = 9: P(X <= 1 | Bin(10, 1/2)) = (1 + 10) / 1024, doubled
    result = mcnemar_test(1, 9, n=50)
    assert result.p_value == pytest.approx(22 / 1024, rel=1e-12)
    assert result.difference == pytest.approx(-8 / 50)
    assert result.interval.contains(result.difference)
    assert result.interval.high < 0  # significant at 5 %: the interval excludes 0


@pytest.mark.parametrize(("b", "c"), [(0, 0), (5, 5), (0, 6), (12, 3), (2, 30)])
def test_mcnemar_matches_exact_binomial_test(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_test(b, c, n=100).p_value == pytest.approx(expected, rel=1e-12)


def test_agresti_min_interval_by_hand() -> None:
    # b' = 12.5, c' = 3.5, n' = 102: d = 9/102, se = sqrt(16 - 81/102) / 102
    r = mcnemar_test(12, 3, n=100)
    d, se = 9 / 102, math.sqrt(16 - 81 / 102) / 102
    assert r.interval.low == pytest.approx(d - 1.959963984540054 * se, rel=1e-9)
    assert r.interval.high == pytest.approx(d + 1.959963984540054 * se, rel=1e-9)
    assert r.interval.method == "agresti-min"


def test_mcnemar_from_outcomes_counts_discordant_pairs() -> None:
    before = torch.tensor([True, True, True, False, False, True, False, True])
    after = torch.tensor([False, True, False, False, True, False, False, True])
    r = mcnemar_from_outcomes(before, after)
    assert (r.b, r.c, r.n) == (3, 1, 8)
    assert r.p_value == pytest.approx(binomtest(1, 4, 0.5).pvalue)


def test_paired_bootstrap_mean_and_determinism() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(200, generator=gen)
    b = a - 0.1 + 0.05 * torch.randn(200, generator=gen)
    est = paired_bootstrap_interval(a, b, seed=1)
    assert est.value == pytest.approx(
        float((a.double() - b.double()).mean()), rel=1e-12
    )
    assert est.interval.contains(0.1)
    assert not est.interval.contains(0.0)
    assert est == paired_bootstrap_interval(a.flip(0), b.flip(0), seed=1)
    # pairing matters: the unpaired spread of a alone dwarfs the paired one
    assert est.interval.width < 0.05


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="`n` must be >= b \\+ c"):
        mcnemar_test(5, 6, n=10)
    with pytest.raises(ValueError, match="`b`"):
        mcnemar_test(-1, 6, n=10)
    with pytest.raises(ValueError, match="`first`"):
        mcnemar_from_outcomes(torch.tensor([1, 0]), torch.tensor([True, False]))
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap_interval(torch.rand(3), torch.rand(4))
