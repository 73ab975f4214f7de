"""Style carrier: erasing a style must not erase what is depicted in that style.

For each forget prompt, the object it names must still be drawn (toy world: the shape of
a "striped square" must still be a square), compared pairwise with the original model.
"""

from __future__ import annotations

from typing import Any

import pytest

from igmu_audit import assert_preserved
from igmu_audit.applicability import not_applicable


def _group_by_object(prompts: list[str], objects: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for prompt in prompts:
        named = [o for o in objects if o in prompt.split()]
        if len(named) == 1:
            groups.setdefault(named[0], []).append(prompt)
    return groups


@pytest.mark.igmu(task="style")
def test_depicted_objects_survive_style_erasure(
    unlearned_pipeline: Any,
    original_pipeline: Any,
    forget_prompts: list[str],
    igmu_config: Any,
) -> None:
    if igmu_config.task != "style" or igmu_config.retain_detector != "toyworld":
        not_applicable(
            "style carrier audit: needs task: style and an object detector per class (toy world)"
        )
    from igmu_audit.toyworld.vocabulary import load_vocabulary

    groups = _group_by_object(forget_prompts, load_vocabulary().classes("shape"))
    assert_preserved(
        unlearned_pipeline,
        original_pipeline,
        groups,
        detector="toyworld",
        name=f"carrier/{igmu_config.concept}",
    )
