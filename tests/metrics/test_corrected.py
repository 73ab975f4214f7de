"""Rogan-Gladen correction and its Bonferroni-box interval (igmu_audit/metrics/functional/corrected.py)."""

from __future__ import annotations

import numpy as np
import pytest

from igmu_audit.metrics.functional.corrected import (
    corrected_rate,
    rogan_gladen,
    split_confidence,
)
from igmu_audit.metrics.functional.intervals import Interval, clopper_pearson_interval


def test_rogan_gladen_inverts_the_apparent_rate() -> None:
    p, se, sp = 0.07, 0.8, 0.95
    q = p * se + (1 - p) * (1 - sp)
    assert rogan_gladen(q, se, sp) == pytest.approx(p)
    assert rogan_gladen(0.1, 0.8, 0.95) == pytest.approx(0.05 / 0.75)


def test_rogan_gladen_clips_and_refuses_a_chance_detector() -> None:
    assert rogan_gladen(0.01, 0.9, 0.9) == 0.0  # below the false-positive floor
    assert rogan_gladen(0.99, 0.9, 0.99) == 1.0
    with pytest.raises(ValueError, match="no better than chance"):
        rogan_gladen(0.2, 0.5, 0.5)
    with pytest.raises(ValueError, match="`q` must be in"):
        rogan_gladen(1.5, 0.9, 0.9)


def test_a_zero_leak_pass_survives_a_near_perfect_card() -> None:
    # 0 of 20 prompt clusters, threshold 0.2: the raw 95 % upper bound is 0.168; a card of
    # 402 + 798 images without one error must not turn that PASS into INCONCLUSIVE.
    out = corrected_rate(0.0, clopper_pearson_interval(0, 20, split_confidence(0.95)), (402, 402, 0, 798))  # fmt: skip
    assert out.interval.high < 0.2
    assert out.interval.high > clopper_pearson_interval(0, 20, 0.95).high


def test_perfect_detector_leaves_the_rate_and_nearly_the_interval() -> None:
    level = split_confidence(0.95)
    observed = clopper_pearson_interval(6, 96, level)
    out = corrected_rate(6 / 96, observed, (1000, 1000, 0, 1000))
    assert out.value == pytest.approx(6 / 96)
    assert out.raw == pytest.approx(6 / 96)
    # only the calibration's own uncertainty (se >= 0.9955) widens it
    assert observed.low - 0.01 < out.interval.low <= observed.low
    assert observed.high <= out.interval.high < observed.high + 0.01
    assert out.interval.confidence == 0.95
    assert out.observed.confidence == level


def test_interval_is_the_worst_corner_of_the_box() -> None:
    level = split_confidence(0.95)
    observed = clopper_pearson_interval(12, 100, level)
    out = corrected_rate(0.12, observed, (80, 100, 5, 100))
    se, sp = out.sensitivity, out.specificity
    assert out.interval.high == pytest.approx(
        rogan_gladen(observed.high, se.low, sp.high)
    )
    assert out.interval.low == pytest.approx(
        rogan_gladen(observed.low, se.high, sp.low)
    )
    assert out.value == pytest.approx(rogan_gladen(0.12, 0.8, 0.95))
    assert "rogan-gladen" in out.interval.method


def test_detector_no_better_than_chance_somewhere_in_the_box_gives_everything() -> None:
    level = split_confidence(0.95)
    out = corrected_rate(0.3, clopper_pearson_interval(3, 10, level), (6, 10, 4, 10))
    assert (out.interval.low, out.interval.high) == (0.0, 1.0)


def test_the_box_level_sets_the_corrected_confidence() -> None:
    # a sequential look's level carries through: box at 1 - 0.8 * 0.025 -> corrected at
    # 1 - 0.025, and the card's intervals at 1 - 0.1 * 0.025 each
    box = clopper_pearson_interval(2, 50, 1 - 0.8 * 0.025)
    out = corrected_rate(0.04, box, (95, 100, 1, 100))
    assert out.interval.confidence == pytest.approx(1 - 0.025)
    assert out.sensitivity.confidence == pytest.approx(1 - 0.1 * 0.025)
    assert out.specificity.confidence == pytest.approx(1 - 0.1 * 0.025)
    with pytest.raises(ValueError, match="split_confidence"):
        corrected_rate(0.1, clopper_pearson_interval(1, 10, 0.15), (9, 10, 0, 10))


def test_coverage_holds_where_ignoring_calibration_error_does_not() -> None:
    """A small simulation (the full one: benchmarks/bench_corrected_coverage.py)."""
    rng = np.random.default_rng(3)
    p, se, sp, n, npos, nneg, reps = 0.08, 0.85, 0.97, 400, 60, 60, 300
    covered = naive_covered = 0
    for _ in range(reps):
        q_true = p * se + (1 - p) * (1 - sp)
        k = int(rng.binomial(n, q_true))
        tp, fp = int(rng.binomial(npos, se)), int(rng.binomial(nneg, 1 - sp))
        level = split_confidence(0.95)
        out = corrected_rate(
            k / n, clopper_pearson_interval(k, n, level), (tp, npos, fp, nneg)
        )
        covered += out.interval.contains(p)
        raw = clopper_pearson_interval(k, n, 0.95)
        se_hat, sp_hat = tp / npos, 1 - fp / nneg
        naive = Interval(
            rogan_gladen(raw.low, se_hat, sp_hat),
            rogan_gladen(raw.high, se_hat, sp_hat),
            0.95,
            "naive",
        )
        naive_covered += naive.contains(p)
    assert covered / reps >= 0.95
    assert naive_covered / reps < covered / reps
