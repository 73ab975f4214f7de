"""The toy world's lexicon, read from ``fixtures/toyworld/vocabulary.json``.

One data file holds every concept (shape, colour, texture), its English synonyms, its
translations and the caption templates per language, so that the caption generator here
and the multilingual prompt strategies elsewhere read the same words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from igmu_audit._paths import fixtures_dir

#: The three attributes every toy image has, in the classifier's head order.
ATTRIBUTES: tuple[str, ...] = ("shape", "colour", "texture")


@dataclass(frozen=True)
class Vocabulary:
    """Concept words and caption templates of the toy world.

    Attributes:
        languages: language codes, English first.
        concepts: ``{attribute: {concept: {"english", "synonyms", "translations"}}}``.
        templates: ``{language: {"train": [...], "test": [...]}}``.
    """

    languages: tuple[str, ...]
    concepts: dict[str, dict[str, dict[str, Any]]]
    templates: dict[str, dict[str, list[str]]]

    def classes(self, attribute: str) -> list[str]:
        """The class names of ``attribute`` in a fixed order (the classifier's output order)."""
        if attribute not in self.concepts:
            raise ValueError(
                f"`attribute` must be one of {list(ATTRIBUTES)}, got {attribute!r}"
            )
        return list(self.concepts[attribute])

    def attribute_of(self, concept: str) -> str:
        """Which attribute ``concept`` belongs to (``"circle"`` -> ``"shape"``)."""
        for attribute, entries in self.concepts.items():
            if concept in entries:
                return attribute
        known = [c for entries in self.concepts.values() for c in entries]
        raise ValueError(
            f"unknown toy-world concept {concept!r}; known concepts: {known}"
        )

    def words(self, concept: str, language: str = "en") -> list[str]:
        """Every word for ``concept`` in ``language`` (English: name first, then synonyms)."""
        entry = self.concepts[self.attribute_of(concept)][concept]
        if language == "en":
            return list(entry["synonyms"])
        if language not in entry["translations"]:
            raise ValueError(
                f"`language` must be one of {list(self.languages)}, got {language!r}"
            )
        return list(entry["translations"][language])

    def all_words(self) -> list[str]:
        """Every word the toy world's captions can contain (an attacker's dictionary), sorted.

        Concept names, synonyms and translations split on spaces, plus the template words
        (placeholders such as ``{shape}`` dropped, punctuation stripped).
        """
        words: set[str] = set()
        for entries in self.concepts.values():
            for name, entry in entries.items():
                phrases = [name, *entry["synonyms"]]
                phrases += [w for ws in entry["translations"].values() for w in ws]
                words.update(w for phrase in phrases for w in phrase.split())
        for splits in self.templates.values():
            for template in (t for ts in splits.values() for t in ts):
                words.update(w.strip(".,:;") for w in template.split() if "{" not in w)
        return sorted(w for w in words if w)


@cache
def load_vocabulary() -> Vocabulary:
    """Read the shipped vocabulary once per process."""
    path = fixtures_dir() / "toyworld" / "vocabulary.json"
    with path.open(encoding="utf-8") as fh:
        raw = json.load(fh)
    return Vocabulary(
        languages=tuple(raw["languages"]),
        concepts=raw["concepts"],
        templates=raw["templates"],
    )
