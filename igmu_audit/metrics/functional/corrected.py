"""Leak rates corrected for detector error (Rogan-Gladen), with calibration uncertainty.

Why: a detector with sensitivity ``se`` and specificity ``sp`` reports the apparent rate
``q = p·se + (1 - p)(1 - sp)`` when the true rate is ``p``; a detector that misses
half the concept halves every leak it sees. Rogan-Gladen inverts that:
``p = (q + sp - 1) / (se + sp - 1)``, clipped to ``[0, 1]``.

The interval carries all three uncertainties with a Bonferroni box: the observed rate's
interval is built at ``1 - 0.8·α`` and the Clopper-Pearson intervals of ``se`` and ``sp``
(from the detector card's counts) at ``1 - 0.1·α`` each. The split is unequal because the
audit's own sample is almost always the smaller one: an equal ``α/3`` each turned a
zero-leak PASS at 20 prompts into INCONCLUSIVE behind a detector with 400 + 800 perfect
calibration images. ``p`` is monotone in each of the three when
``se + sp > 1``, so its extremes over the box lie at the box's corners. When all three
intervals hold (probability ``>= 1 - α``) the true ``p`` lies inside, so the interval
never under-covers whatever the observed interval's method (clustered, sequential),
at the price of some width. ``benchmarks/bench_corrected_coverage.py`` measures its
coverage (docs/statistics.md). A detector whose box reaches ``se + sp <= 1`` (no
better than a coin somewhere in the box) gives ``[0, 1]``: nothing can be concluded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from igmu_audit.metrics.functional.intervals import Interval, clopper_pearson_interval

#: the share of ``α`` the observed rate's interval gets; se and sp get the rest, half each
OBSERVED_SHARE = 0.8
CARD_SHARE = (1.0 - OBSERVED_SHARE) / 2
METHOD = "rogan-gladen"


def split_confidence(confidence: float) -> float:
    """The level the observed rate's interval is built at: ``1 - 0.8·(1 - c)``."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got {confidence!r}")
    return 1.0 - OBSERVED_SHARE * (1.0 - confidence)


def rogan_gladen(q: float, sensitivity: float, specificity: float) -> float:
    """The true rate behind apparent rate ``q``, clipped to ``[0, 1]``.

    Raises:
        ValueError: an input outside ``[0, 1]``, or ``se + sp <= 1`` (the detector is no
            better than chance, so no rate can be recovered).

    Example:
        >>> round(rogan_gladen(0.1, 0.8, 0.95), 6)
        0.066667
    """
    for name, v in (
        ("q", q),
        ("sensitivity", sensitivity),
        ("specificity", specificity),
    ):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"`{name}` must be in [0, 1], got {v!r}")
    youden = sensitivity + specificity - 1.0
    if youden <= 0.0:
        raise ValueError(
            f"sensitivity + specificity must exceed 1 (got {sensitivity} + {specificity}): "
            "the detector is no better than chance"
        )
    return min(1.0, max(0.0, (q + specificity - 1.0) / youden))


@dataclass(frozen=True, slots=True)
class CorrectedRate:
    """A leak rate corrected for detector error, beside the raw one.

    Attributes:
        raw: the apparent rate (images the detector flagged / images).
        value: the Rogan-Gladen estimate of the true rate.
        interval: the corrected interval (at the caller's confidence).
        observed: the raw rate's interval at the box level ``1 - 0.8·α``.
        sensitivity, specificity: the card's intervals, each at ``1 - 0.1·α``.
        sensitivity_value, specificity_value: the card's point estimates.
    """

    raw: float
    value: float
    interval: Interval
    observed: Interval
    sensitivity: Interval
    specificity: Interval
    sensitivity_value: float
    specificity_value: float

    def to_json(self) -> dict[str, object]:
        """JSON form for the verdict record."""

        def iv(i: Interval) -> list[float]:
            return [round(i.low, 6), round(i.high, 6)]

        return {
            "method": self.interval.method,
            "raw": round(self.raw, 6),
            "corrected": round(self.value, 6),
            "interval": iv(self.interval),
            "confidence": self.interval.confidence,
            "box_confidence": self.observed.confidence,
            "observed_interval": iv(self.observed),
            "sensitivity": round(self.sensitivity_value, 6),
            "sensitivity_interval": iv(self.sensitivity),
            "specificity": round(self.specificity_value, 6),
            "specificity_interval": iv(self.specificity),
        }


def corrected_rate(
    raw: float, observed: Interval, counts: tuple[int, int, int, int]
) -> CorrectedRate:
    """Correct ``raw`` for detector error with the card's calibration ``counts``.

    ``observed``'s level ``L`` sets the corrected interval's confidence,
    ``c = 1 - (1 - L) / 0.8``, and the sensitivity and specificity intervals are built at
    ``1 - 0.1·(1 - c)`` each: pass the raw interval built at ``split_confidence(c)`` to get
    one at ``c`` (a sequential look's Bonferroni level carries through the same way).

    Args:
        raw: the apparent leak rate.
        observed: the raw rate's interval at the box level.
        counts: ``(true positives, positives, false positives, negatives)`` on the
            calibration set at the threshold in use (``DetectorCard.counts_at``).

    Raises:
        ValueError: a box level too low for a corrected interval, or bad counts.
    """
    level = observed.confidence
    confidence = round(1.0 - (1.0 - level) / OBSERVED_SHARE, 12)
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"`observed` is at level {level:.6g}; the box needs one above "
            f"{1 - OBSERVED_SHARE:.4g} (build it at split_confidence(confidence))"
        )
    card_level = 1.0 - CARD_SHARE * (1.0 - confidence)
    tp, npos, fp, nneg = counts
    se_iv = clopper_pearson_interval(tp, npos, card_level)
    fpr_iv = clopper_pearson_interval(fp, nneg, card_level)
    sp_iv = Interval(1.0 - fpr_iv.high, 1.0 - fpr_iv.low, card_level, "clopper-pearson")
    se, sp = tp / npos, 1.0 - fp / nneg
    method = f"{METHOD} box ({observed.method}, clopper-pearson se/sp)"
    if se_iv.low + sp_iv.low <= 1.0:
        return CorrectedRate(
            raw, _point(raw, se, sp), Interval(0.0, 1.0, confidence, method),
            observed, se_iv, sp_iv, se, sp,
        )  # fmt: skip
    corners = [
        rogan_gladen(q, s, c)
        for q, s, c in itertools.product(
            (observed.low, observed.high),
            (se_iv.low, se_iv.high),
            (sp_iv.low, sp_iv.high),
        )
    ]
    interval = Interval(min(corners), max(corners), confidence, method)
    value = min(max(rogan_gladen(raw, se, sp), interval.low), interval.high)
    return CorrectedRate(raw, value, interval, observed, se_iv, sp_iv, se, sp)


def _point(raw: float, se: float, sp: float) -> float:
    """The point estimate where the box is uninformative (``raw`` when ``se + sp <= 1``)."""
    return rogan_gladen(raw, se, sp) if se + sp > 1.0 else raw
