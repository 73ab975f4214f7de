"""The p-value of a three-valued verdict, so a run can make its verdicts hold jointly.

A verdict is decided on an interval: pass when the whole interval clears the threshold,
fail when it lies beyond it. Intervals at higher confidence contain those at lower
confidence, so a pass (or fail) at confidence ``c`` stays one at every lower confidence,
and the verdict has a *decision p-value*: the smallest ``α = 1 - c`` at which the same
procedure, on the same data, still reaches it. Under the hypothesis that the verdict is
wrong, ``P(p <= u) <= u`` whenever the interval's error rate is at most ``1 - c`` at
every level (for sequential looks: when the procedure's error rate is, see
``leak_rate.leak_rate_check``), which is what Holm's procedure needs
(``igmu_audit/reporting/family_wise.py``).

Where an audit cannot recompute its interval at another confidence (bootstrap
preservation metrics), its p-value is its own level ``1 - confidence``: a valid, if
conservative, bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from igmu_audit.results import Check

#: the smallest p-value reported (a confidence of 1 - 1e-15 is still below 1.0 in floats)
P_FLOOR = 1e-15
_STEPS = 48


def decision_p_value(
    check_at: Callable[[float], Check], verdict: str, confidence: float
) -> float | None:
    """The smallest ``1 - c`` at which ``check_at(c)`` still reaches ``verdict``.

    Args:
        check_at: the audit's check recomputed at overall confidence ``c``.
        verdict: the verdict reached at ``confidence``.
        confidence: the confidence the audit was decided at.

    Returns:
        The p-value, at least ``P_FLOOR`` and at most ``1 - confidence``; ``None`` for an
        inconclusive verdict (it claims nothing, so it cannot be wrong).

    Example:
        >>> from igmu_audit.steps import rate_check
        >>> from igmu_audit.results import Threshold
        >>> t = Threshold("max_rate", 0.5, "call argument")
        >>> p = decision_p_value(lambda c: rate_check(0, 40, t, c), "pass", 0.95)
        >>> 0 < p < 0.05
        True
    """
    if verdict not in ("pass", "fail"):
        return None
    alpha = 1.0 - confidence

    def holds(a: float) -> bool:
        try:
            return check_at(1.0 - a).verdict == verdict
        except (ValueError, ArithmeticError):
            return False  # a level the interval cannot be built at proves nothing

    if holds(P_FLOOR):
        return P_FLOOR
    good, bad = math.log(alpha), math.log(P_FLOOR)
    for _ in range(_STEPS):
        mid = (good + bad) / 2
        if holds(math.exp(mid)):
            good = mid
        else:
            bad = mid
    return min(alpha, math.exp(good))


def own_level(verdict: str, confidence: float) -> float | None:
    """The conservative p-value of a verdict that cannot be recomputed: its own level."""
    return 1.0 - confidence if verdict in ("pass", "fail") else None
