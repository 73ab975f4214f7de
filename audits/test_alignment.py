"""Alignment on forget prompts with the concept removed (IGMU's FID / CSDR protocol).

For paired DataIGM tasks (nudity, styles), the unlearned model's image of a forget prompt is
compared with the original model's image of the same prompt without the concept words, and
both are CLIP-scored against that concept-free prompt: the rest of the prompt must still be
drawn. Unpaired tasks (objects) are not applicable: their retain prompts are other objects.
"""

from __future__ import annotations

from typing import Any

from igmu_audit import assert_preserved
from igmu_audit.applicability import not_applicable


def test_rest_of_the_prompt_is_still_drawn(
    unlearned_pipeline: Any,
    original_pipeline: Any,
    dataigm: Any,
    igmu_config: Any,
    igmu_clip: Any,
) -> None:
    task = dataigm[igmu_config.dataigm_task] if igmu_config.dataigm_task else None
    if task is None or not task.paired:
        not_applicable(
            "alignment audit: needs a paired DataIGM task (retain[j] = forget[j] without the concept)"
        )
    assert_preserved(
        unlearned_pipeline,
        original_pipeline,
        {c: list(p) for c, p in task.forget.items()},
        reference_prompts={c: list(p) for c, p in task.retain.items()},
        clip=igmu_clip,
        name=f"alignment/{igmu_config.dataigm_task}",
    )
