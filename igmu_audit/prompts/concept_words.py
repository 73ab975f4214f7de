"""Concept-word detection: where a concept's words (any language, any form) sit in a prompt.

Reads the merged lexicons of :mod:`igmu_audit.prompts.lexicons` and compiles one pattern
per word, longest first, cached per concept and dropped whenever the lexicon providers
change. Pure Python: importing this module is cheap.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from igmu_audit.errors import ConfigError
from igmu_audit.prompts.lexicons import (
    concept_for_task,
    get_lexicon,
    on_lexicons_changed,
)


@dataclass(frozen=True, slots=True)
class ConceptSpan:
    """Where a concept word sits in a prompt.

    Attributes:
        start: index of the first character.
        end: index after the last character (``prompt[start:end] == text``).
        text: the matched text, plural suffix included.
        language: the language or transliteration scheme of the matched word.
        form: ``"word"``, ``"synonym"``, ``"hypernym"``, ``"phrase"`` or ``"transliteration"``.
        plural: whether an English plural suffix (``s``/``es``) was matched.
    """

    start: int
    end: int
    text: str
    language: str
    form: str
    plural: bool = False


def script_of(text: str) -> str:
    """The Unicode script family of the first letter of ``text`` (``"LATIN"``, ``"CJK"``...)."""
    for ch in text:
        if ch.isalpha():
            return unicodedata.name(ch, "UNKNOWN").split(" ")[0]
    return "NONE"


def _spaced(ch: str) -> bool:
    # Scripts written without spaces between words get no word-boundary checks.
    return script_of(ch) not in {"CJK", "HIRAGANA", "KATAKANA", "HANGUL"}


@cache
def _patterns(concept: str) -> tuple[tuple[re.Pattern[str], str, str], ...]:
    lexicon = get_lexicon(concept)
    terms: list[tuple[str, str, str]] = [(w, "en", "synonym") for w in lexicon.synonyms]
    terms += [(w, "en", "hypernym") for w in lexicon.hypernyms]
    terms += [(w, "en", "phrase") for w in lexicon.phrases]
    terms += [(w, lang, "word") for lang, ws in lexicon.words.items() for w in ws]
    terms += [
        (w, s, "transliteration")
        for s, ws in lexicon.transliterations.items()
        for w in ws
    ]
    out = []
    # Longest first, so "Vincent van Gogh" wins over "Van Gogh" and "Vincent".
    for text, lang, form in sorted(dict.fromkeys(terms), key=lambda t: -len(t[0])):
        body = re.escape(text)
        left = r"(?<!\w)" if _spaced(text[0]) else ""
        plural = (
            r"(?P<plural>e?s)?"
            if lang == "en" and text.isascii() and text[-1].isalpha()
            else ""
        )
        right = r"(?!\w)" if _spaced(text[-1]) else ""
        out.append(
            (re.compile(left + body + plural + right, re.IGNORECASE), lang, form)
        )
    return tuple(out)


def find_concepts(prompt: str, concept: str) -> list[ConceptSpan]:
    """Every non-overlapping occurrence of the concept's words in ``prompt``, left to right.

    Matching is case-insensitive, respects word boundaries in scripts that use spaces, and
    accepts English plurals (``"parachutes"``). Longer words win over their parts.

    Args:
        prompt: the prompt to search.
        concept: a concept or DataIGM task name.

    Returns:
        The spans, possibly empty.
    """
    spans: list[ConceptSpan] = []
    taken: list[tuple[int, int]] = []
    for pattern, lang, form in _patterns(concept_for_task(concept)):
        for m in pattern.finditer(prompt):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            taken.append((m.start(), m.end()))
            plural = bool(m.groupdict().get("plural"))
            spans.append(
                ConceptSpan(m.start(), m.end(), m.group(0), lang, form, plural)
            )
    return sorted(spans, key=lambda s: s.start)


def find_concept(prompt: str, concept: str) -> ConceptSpan:
    """The first occurrence of the concept's words in ``prompt``.

    Example:
        >>> find_concept("a nude woman by a window", "nudity")
        ConceptSpan(start=2, end=6, text='nude', language='en', form='word', plural=False)

    Raises:
        ConfigError: the prompt holds none of the concept's words (no word is inserted: a
            prompt without the concept is a retain prompt, not a paraphrase seed).
    """
    spans = find_concepts(prompt, concept)
    if not spans:
        lexicon = get_lexicon(concept)
        raise ConfigError(
            f"`prompt` {prompt!r} contains no word of concept {lexicon.concept!r} "
            f"(English words: {', '.join(lexicon.english_alternatives())}); add one, or pass "
            "prompt=None to build prompts from the concept's templates"
        )
    return spans[0]


on_lexicons_changed(_patterns.cache_clear)
