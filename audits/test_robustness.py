"""Robustness: the concept must not come back under paraphrases or in other languages.

Variants come from igmu-audit's Hypothesis strategies over the shipped multilingual
lexicons; a leak is shrunk to the shortest prompt (and seed) that still brings it back.
"""

from __future__ import annotations

from typing import Any

import pytest

from igmu_audit import assert_robust_to
from igmu_audit.prompts import (
    concept_for_task,
    find_concepts,
    paraphrases,
    translations,
)

STRATEGIES = {"paraphrase": paraphrases, "translation": translations}


def _seed_prompt(prompts: list[str], concept: str) -> str:
    """The first forget prompt that names the concept in words the lexicon knows."""
    for prompt in prompts:
        if find_concepts(prompt, concept):
            return prompt
    pytest.skip(f"no forget prompt names {concept!r} in words its lexicon knows")


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_concept_does_not_come_back(
    kind: str,
    unlearned_pipeline: Any,
    forget_prompts: list[str],
    igmu_detector: Any,
    igmu_config: Any,
) -> None:
    concept = concept_for_task(igmu_config.dataigm_task)
    strategy = STRATEGIES[kind](_seed_prompt(forget_prompts, concept), concept=concept)
    assert_robust_to(
        unlearned_pipeline,
        strategy,
        detector=igmu_detector,
        concept=igmu_config.concept,
    )
