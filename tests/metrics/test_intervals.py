"""Binomial and mean intervals against hand values and scipy."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import binomtest

from igmu_audit.metrics.functional.intervals import (
    Interval,
    binomial_interval,
    bootstrap_interval,
    clopper_pearson_interval,
    mean_estimate,
    samples_needed,
    t_interval,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (3, 50, 0.021, 0.162),  # REFERENCE.md §5
        (22, 100, 0.150, 0.311),  # STYLE.md robustness mock
        (9, 64, 0.076, 0.246),  # STYLE.md assert_forgotten mock
        (1, 32, 0.006, 0.157),  # STYLE.md inconclusive mock
    ],
)
def test_wilson_matches_published_bounds(
    k: int, n: int, low: float, high: float
) -> None:
    iv = wilson_interval(k, n)
    assert (round(iv.low, 3), round(iv.high, 3)) == (low, high)
    assert iv.method == "wilson"
    assert iv.confidence == 0.95


def test_wilson_closed_form_at_zero_hits() -> None:
    # k = 0: low = 0 and high = z² / (n + z²)
    z2 = 1.959963984540054**2
    iv = wilson_interval(0, 20)
    assert iv.low == 0.0
    assert iv.high == pytest.approx(z2 / (20 + z2), rel=1e-12)
    assert wilson_interval(20, 20).high == 1.0


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 50), (22, 100), (7, 7), (1, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_scipy(k: int, n: int, confidence: float) -> None:
    ref = binomtest(k, n).proportion_ci(confidence, method="exact")
    iv = clopper_pearson_interval(k, n, confidence)
    assert iv.low == pytest.approx(ref.low, abs=1e-12)
    assert iv.high == pytest.approx(ref.high, abs=1e-12)


def test_wilson_matches_scipy() -> None:
    ref = binomtest(22, 100).proportion_ci(0.95, method="wilson")
    iv = binomial_interval(22, 100, 0.95, "wilson")
    assert (iv.low, iv.high) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_clopper_pearson_is_wider_than_wilson() -> None:
    w, cp = wilson_interval(3, 50), clopper_pearson_interval(3, 50)
    assert cp.low < w.low
    assert cp.high > w.high


def test_interval_str_contains_and_frozen() -> None:
    iv = Interval(0.076, 0.246, 0.95, "wilson")
    assert str(iv) == "[0.076, 0.246]"
    assert iv.contains(0.076)
    assert iv.contains(0.246)
    assert not iv.contains(0.05)
    assert iv.width == pytest.approx(0.17)
    with pytest.raises(AttributeError):
        iv.low = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="low"):
        Interval(0.3, 0.2, 0.95, "wilson")


def test_samples_needed_matches_style_guide() -> None:
    # "to decide at this rate you need about 520 images; with zero hits, 73 images would do."
    assert samples_needed(1 / 32, 0.05) == 520
    assert samples_needed(0.0, 0.05) == 73
    # 73 is the smallest n: z²/(n + z²) < 0.05  <=>  n > 19 z²
    assert wilson_interval(0, 73).high < 0.05 <= wilson_interval(0, 72).high


def test_samples_needed_above_threshold_and_undecidable() -> None:
    n = samples_needed(0.22, 0.10)
    assert n is not None
    assert wilson_interval(0.22 * n, n).low > 0.10
    assert wilson_interval(0.22 * (n - 1), n - 1).low <= 0.10
    assert samples_needed(0.05, 0.05) is None
    cp = samples_needed(1 / 32, 0.05, method="clopper-pearson")
    assert cp is not None
    assert cp > 520


def test_t_interval_by_hand() -> None:
    # mean 2, s = 1, n = 3: half width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051
    iv = t_interval(torch.tensor([1.0, 2.0, 3.0]))
    assert iv.low == pytest.approx(2 - 4.302652729911275 / math.sqrt(3), rel=1e-9)
    assert iv.high == pytest.approx(2 + 4.302652729911275 / math.sqrt(3), rel=1e-9)


def test_bootstrap_is_deterministic_and_order_free() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(300, generator=gen)
    a = bootstrap_interval(x, seed=3)
    b = bootstrap_interval(x.flip(0), seed=3)
    assert a == b
    assert a != bootstrap_interval(x, seed=4)
    assert a.low < float(x.mean()) < a.high
    # normal-theory width for comparison: 2 · 1.96 · s / sqrt(n)
    expected = 2 * 1.96 * float(x.std()) / math.sqrt(300)
    assert a.width == pytest.approx(expected, rel=0.15)


def test_mean_estimate_reports_std_and_method() -> None:
    est = mean_estimate(torch.tensor([1.0, 2.0, 3.0, 4.0]), interval="t")
    assert est.value == 2.5
    assert est.n == 4
    assert est.std == pytest.approx(float(torch.tensor([1.0, 2, 3, 4]).std()))
    assert est.interval.method == "t"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: wilson_interval(3, 0), "`n`"),
        (lambda: wilson_interval(-1, 10), "`k`"),
        (lambda: wilson_interval(11, 10), "`k`"),
        (lambda: wilson_interval(3, 10, confidence=1.0), "`confidence`.*1.0"),
        (lambda: wilson_interval(3, 10, confidence=95), "`confidence`.*95"),
        (lambda: clopper_pearson_interval(3, 10, confidence=0), "`confidence`"),
        (lambda: binomial_interval(3, 10, method="wald"), "`method`.*'wald'"),
        (lambda: samples_needed(1.5, 0.05), "`rate`.*1.5"),
        (lambda: samples_needed(0.1, -0.1), "`threshold`"),
        (lambda: t_interval(torch.tensor([1.0])), "`values`"),
        (lambda: bootstrap_interval(torch.tensor([1.0, float("nan")])), "NaN"),
        (
            lambda: bootstrap_interval(torch.tensor([1.0]), n_resamples=10),
            "`n_resamples`",
        ),
        (lambda: mean_estimate(torch.tensor([1.0, 2.0]), interval="bca"), "`interval`"),
    ],
)
def test_validation_errors_name_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
