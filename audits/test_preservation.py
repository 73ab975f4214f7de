"""Preservation: unrelated concepts survive, measured unlearned vs original with the same seeds."""

from __future__ import annotations

from typing import Any

import pytest

from igmu_audit import assert_preserved


def test_retain_prompts_are_preserved(
    unlearned_pipeline: Any,
    original_pipeline: Any,
    retain_by_category: dict[str, list[str]],
    igmu_config: Any,
    request: pytest.FixtureRequest,
) -> None:
    clip = request.getfixturevalue("igmu_clip") if igmu_config.clip else None
    assert_preserved(
        unlearned_pipeline,
        original_pipeline,
        retain_by_category,
        detector=igmu_config.retain_detector,
        clip=clip,
        name=f"retain/{igmu_config.dataigm_task}",
    )
