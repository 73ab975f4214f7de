"""Threshold sensitivity: the leak-rate rule re-decided at threshold ± margin."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from igmu_audit.detectors.sensitivity import threshold_sensitivity
from igmu_audit.leak_rate import leak_rate_check, per_prompt
from igmu_audit.results import Threshold

MAX_RATE = Threshold("max_rate", 0.10, "test")


def _decider(scores: list[float], prompts: int) -> Callable[[float], str]:
    def decide(t: float) -> str:
        present = [s >= t for s in scores]
        return leak_rate_check(
            per_prompt(present, prompts), MAX_RATE, 0.95, interval="independent"
        ).verdict

    return decide


def test_scores_far_from_the_threshold_are_not_sensitive() -> None:
    scores = [0.01] * 300  # nothing near 0.5: pass at every threshold tried
    result = threshold_sensitivity(0.5, 0.1, _decider(scores, 30))
    assert result.verdict == "pass"
    assert not result.sensitive
    assert [t for t, _ in result.verdicts] == pytest.approx([0.4, 0.45, 0.5, 0.55, 0.6])
    assert "pass throughout 0.5 ± 0.1" in result.note()


def test_scores_bunched_at_the_threshold_flip_the_verdict() -> None:
    # 60 of 300 images score 0.52: a fail at 0.5, a pass once the threshold passes 0.52
    scores = [0.52] * 60 + [0.01] * 240
    result = threshold_sensitivity(0.5, 0.05, _decider(scores, 30))
    assert result.verdict == "fail"
    assert result.sensitive
    assert dict(result.verdicts)[0.55] == "pass"
    assert result.note().startswith("detector-sensitive")
    assert result.to_json()["sensitive"] is True


def test_zero_margin_tries_the_threshold_alone_and_bad_margins_are_refused() -> None:
    result = threshold_sensitivity(0.5, 0.0, lambda t: "pass")
    assert result.verdicts == ((0.5, "pass"),)
    with pytest.raises(ValueError, match="margin"):
        threshold_sensitivity(0.5, -0.1, lambda t: "pass")
