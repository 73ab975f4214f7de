"""Prompts: DataIGM splits, multilingual lexicons and Hypothesis strategies.

The strategies (``paraphrases``, ``translations``, ``prompt_variants``) are loaded on first
access, so importing this package does not import Hypothesis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from igmu_audit.prompts.concept_words import ConceptSpan, find_concept, find_concepts
from igmu_audit.prompts.lexicons import (
    Lexicon,
    concept_for_task,
    get_lexicon,
    known_concepts,
    known_tasks,
)
from igmu_audit.prompts.perturb import Perturbation
from igmu_audit.prompts.splits import (
    DataIGM,
    TaskPrompts,
    load_dataigm,
    load_image_tree,
)
from igmu_audit.prompts.translate import (
    LexiconTranslator,
    TransformersTranslator,
    Translator,
)

if TYPE_CHECKING:
    from igmu_audit.prompts.strategies import paraphrases, prompt_variants, translations

from igmu_audit.prompts.profiles import profile_for_environment, register_profiles

_LAZY = {"paraphrases", "prompt_variants", "translations"}

__all__ = [
    "ConceptSpan",
    "DataIGM",
    "Lexicon",
    "LexiconTranslator",
    "Perturbation",
    "TaskPrompts",
    "TransformersTranslator",
    "Translator",
    "concept_for_task",
    "find_concept",
    "find_concepts",
    "get_lexicon",
    "known_concepts",
    "known_tasks",
    "load_dataigm",
    "load_image_tree",
    "paraphrases",
    "profile_for_environment",
    "prompt_variants",
    "register_profiles",
    "translations",
]


def __getattr__(name: str) -> Any:
    # Lazy: the strategies module imports Hypothesis, which plain prompt loading never needs.
    if name in _LAZY:
        return getattr(importlib.import_module("igmu_audit.prompts.strategies"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
