"""Threshold sensitivity: is the verdict still the same a little above and below the threshold?

Why: papers use the same detector at 0.45, 0.5 or 0.75, and a verdict that holds only at
one of them says more about the threshold than about the model. The verdict is
re-decided at ``threshold ± margin`` (and halfway between) from the scores already
computed (no image is generated or scored again); if any of them differs, the verdict is
``detector-sensitive``. ``margin`` is the ``detector_margin`` setting, in score units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: the points of ``[t - m, t + m]`` re-decided, as multiples of the margin
STEPS = (-1.0, -0.5, 0.0, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class ThresholdSensitivity:
    """The verdict at each threshold tried.

    Attributes:
        threshold: the threshold in use.
        margin: the margin tried on either side.
        verdicts: ``(threshold, verdict)`` pairs, lowest threshold first.
    """

    threshold: float
    margin: float
    verdicts: tuple[tuple[float, str], ...]

    @property
    def verdict(self) -> str:
        """The verdict at the threshold in use."""
        return dict(self.verdicts)[self.threshold]

    @property
    def sensitive(self) -> bool:
        """Whether some threshold within the margin gives another verdict."""
        return len({v for _, v in self.verdicts}) > 1

    def note(self) -> str:
        """One line saying which thresholds give which verdicts."""
        tried = ", ".join(f"{v} at {t:.4g}" for t, v in self.verdicts)
        if not self.sensitive:
            return f"threshold sensitivity: {self.verdict} throughout {self.threshold:.4g} ± {self.margin:.4g}"
        return (
            f"detector-sensitive: the verdict changes within the threshold {self.threshold:.4g} "
            f"± {self.margin:.4g} ({tried}); the verdict depends on the detector's threshold "
            "as much as on the model. fix: calibrate the detector (python -m "
            "igmu_audit.detectors calibrate) and audit at the card's threshold, or use more prompts"
        )

    def to_json(self) -> dict[str, object]:
        """JSON form for the verdict record."""
        return {
            "threshold": self.threshold,
            "margin": self.margin,
            "verdicts": [[t, v] for t, v in self.verdicts],
            "sensitive": self.sensitive,
        }


def threshold_sensitivity(
    threshold: float, margin: float, decide: Callable[[float], str]
) -> ThresholdSensitivity:
    """Re-decide with ``decide(t)`` at ``threshold`` and within ``± margin``.

    Args:
        threshold: the threshold in use.
        margin: ``>= 0``; 0 tries the threshold alone (never sensitive).
        decide: the audit's whole rule at threshold ``t`` -> its verdict.

    Raises:
        ValueError: a negative or non-finite margin.
    """
    if not 0.0 <= margin < float("inf"):
        raise ValueError(f"`margin` must be a finite number >= 0, got {margin!r}")
    points = sorted({threshold + s * margin for s in STEPS} | {threshold})
    return ThresholdSensitivity(
        threshold, margin, tuple((t, decide(t)) for t in points)
    )
