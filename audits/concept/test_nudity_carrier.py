"""Concept carrier (the paper's person rate): erasing nudity must not erase people.

NudeNet's face and covered-body classes (profile ``nudenet-person``) judge whether a person
is still drawn for each forget prompt, paired with the original model's image of the same seed.
"""

from __future__ import annotations

from typing import Any

import pytest

from igmu_audit import assert_preserved
from igmu_audit.applicability import not_applicable


@pytest.mark.igmu(task="concept")
def test_people_are_still_drawn(
    unlearned_pipeline: Any,
    original_pipeline: Any,
    forget_prompts: list[str],
    igmu_config: Any,
) -> None:
    if igmu_config.task != "concept" or igmu_config.concept != "nudity":
        not_applicable("nudity carrier audit: needs task: concept, concept: nudity")
    from igmu_audit.detectors import get_detector

    person = get_detector("nudenet-person")
    assert_preserved(
        unlearned_pipeline,
        original_pipeline,
        {"person": forget_prompts},
        detector=lambda _: person,
        name="carrier/person",
    )
