"""Forgetting: images of the forget prompts no longer show the concept.

Thresholds come from the spec (``thresholds.forgotten``), the task profile or the
built-in defaults; the original model, when configured, screens out prompts that never
showed the concept in the first place.
"""

from __future__ import annotations

from typing import Any

from igmu_audit import assert_forgotten


def test_concept_is_forgotten(
    unlearned_pipeline: Any,
    forget_prompts: list[str],
    igmu_detector: Any,
    igmu_config: Any,
) -> None:
    assert_forgotten(
        unlearned_pipeline,
        forget_prompts,
        detector=igmu_detector,
        concept=igmu_config.concept,
    )
