"""The bases strategies draw from: per language (or the English phrases), frames of prompts.

Why a module of its own: what a strategy can reach (the bare words, the seed sentence
with each word, the templates, a translator's sentence) is one job; ``strategies.py``
draws from it and says how examples shrink. Every group holds its language's bare
words, the shortest prompts there are, so a shrink can reach ``"rayé"`` or ``"条纹"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from igmu_audit.errors import ConfigError
from igmu_audit.prompts.concept_words import ConceptSpan, find_concept, find_concepts
from igmu_audit.prompts.lexicons import get_lexicon
from igmu_audit.prompts.perturb import fill_template, remove_concept, substitute
from igmu_audit.prompts.translate import Translator

Row = tuple[
    str, ...
]  # one frame (the bare word, the seed or a template) filled with each word
Group = tuple[
    Row, ...
]  # one language (or the English phrases): its frames, shortest first


def words_in(text: str) -> int:
    """Whitespace-separated words of ``text`` (what ``max_words`` counts)."""
    return len(text.split())


def _group(rows: list[list[str]], max_words: int | None) -> Group:
    """Drop empty prompts and prompts over ``max_words``; sort frames shortest-first."""
    kept = []
    for row in rows:
        cells = tuple(
            dict.fromkeys(
                c
                for c in row
                if c.strip() and (max_words is None or words_in(c) <= max_words)
            )
        )
        if cells:
            kept.append(cells)
    return tuple(sorted(dict.fromkeys(kept), key=lambda r: (len(r[0]), r[0])))


def _seed_spans(prompt: str | None, concept: str) -> list[ConceptSpan]:
    if prompt is None:
        return []
    find_concept(
        prompt, concept
    )  # raises a clear error when the prompt lacks the concept
    return find_concepts(prompt, concept)


def paraphrase_groups(
    prompt: str | None,
    concept: str,
    synonyms: bool,
    hypernyms: bool,
    templates: bool,
    max_words: int | None,
) -> list[Group]:
    lexicon = get_lexicon(concept)
    words = list(lexicon.words["en"])
    words += list(lexicon.synonyms) if synonyms else []
    words += list(lexicon.hypernyms) if hypernyms else []
    spans = _seed_spans(prompt, concept)
    if spans:
        # The seed's own word first: the word index shrinks toward the seed.
        own = spans[0].text.lower()
        words.sort(
            key=lambda w: (
                w.lower() not in {own, own.removesuffix("s"), own.removesuffix("es")}
            )
        )
    # the bare words (the shortest prompts there are) count as the bare template
    rows: list[list[str]] = [list(words)] if templates else []
    if prompt is not None:
        rows.append([prompt, *(substitute(prompt, spans, w) for w in words)])
    if templates:
        rows += [
            [fill_template(t, w) for w in words] for t in lexicon.templates_for("en")
        ]
    phrases: list[list[str]] = []
    if prompt is not None and synonyms and lexicon.phrases:
        rest = remove_concept(prompt, spans)
        phrases = [
            [f"{rest}, {phrase}" if rest else phrase] for phrase in lexicon.phrases
        ]
    return [_group(rows, max_words), _group(phrases, max_words)]


def translation_groups(
    prompt: str | None,
    concept: str,
    languages: Sequence[str] | None,
    transliterations: bool,
    translator: Any,
    max_words: int | None,
) -> list[Group]:
    lexicon = get_lexicon(concept)
    if languages is None:
        languages = [lang for lang in lexicon.words if lang != "en"]
        languages += list(lexicon.transliterations) if transliterations else []
    elif (
        isinstance(languages, str)
        or not isinstance(languages, Sequence)
        or not languages
    ):
        raise ConfigError(
            f"`languages` must be a non-empty list of codes such as ['fr', 'ja'], got {languages!r}"
        )
    if translator is not None and (
        isinstance(translator, str) or not isinstance(translator, Translator)
    ):
        raise ConfigError(
            f"`translator` must have translate(text, target_language) -> str, got {translator!r}"
        )
    spans = _seed_spans(prompt, concept)
    groups = []
    for lang in languages:
        words = lexicon.terms(lang)
        if not words:
            raise ConfigError(
                f"`languages`: concept {lexicon.concept!r} has an empty lexicon for {lang!r}"
            )
        rows = [list(words)]  # the bare words ("rayé", "条纹"): the shortest prompts
        rows += [
            [fill_template(t, w) for w in words] for t in lexicon.templates_for(lang)
        ]
        if prompt is not None:
            rows.append([substitute(prompt, spans, w) for w in words])
        if translator is not None:
            rows.append([translator.translate(prompt or lexicon.words["en"][0], lang)])
        groups.append(_group(rows, max_words))
    return groups
