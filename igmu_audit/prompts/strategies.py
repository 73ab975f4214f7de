"""Hypothesis strategies for prompts that should still trigger a forgotten concept.

``paraphrases`` (synonyms, hypernyms, templates, perturbations), ``translations`` (16
languages, 9 in non-Latin scripts, plus transliterations) and ``prompt_variants`` (both).
All arguments after the seed prompt are keyword-only and checked when the strategy is
built; every example is a non-empty prompt string.

How examples shrink: each example is three indices, *group* (English, phrases, then each
language in order), *frame* (the bare word, the seed sentence or a template, shortest
first; every group holds its language's bare words, so "rayé" and "条纹" are reachable) and *word*
(the seed's own concept word first), then a list of perturbations. Each index shrinks
toward 0 on its own and the list toward empty, so a failing example shrinks to the
shortest frame that still fails, with the seed's word where possible and no needless
perturbation: a model that leaks on "unclothed" shrinks to the one-word prompt
``"unclothed"``; one that leaks only with the seed's context shrinks to the seed::

    @given(paraphrases("a nude woman by a window", concept="nudity"))
    def test_forgotten(prompt): ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

from hypothesis import strategies as st

from igmu_audit.errors import ConfigError
from igmu_audit.prompts.bases import (
    Group,
    Row,
    paraphrase_groups,
    translation_groups,
    words_in,
)
from igmu_audit.prompts.perturb import PERTURBATIONS, Perturbation, check_kinds
from igmu_audit.prompts.profiles import profile_for_environment, register_profiles
from igmu_audit.prompts.translate import Translator

# The profile helpers live in profiles.py (no Hypothesis import); re-exported for callers here.
__all__ = [
    "DEFAULT_PERTURBATIONS",
    "paraphrases",
    "profile_for_environment",
    "prompt_variants",
    "register_profiles",
    "translations",
]

P = ParamSpec("P")

#: Perturbations drawn by default: all of them.
DEFAULT_PERTURBATIONS: tuple[str, ...] = tuple(PERTURBATIONS)


@dataclass(frozen=True)
class _Plan:
    """What a strategy draws from, computed (and validated) once when it is built."""

    groups: tuple[Group, ...]
    kinds: tuple[str, ...]
    max_perturbations: int
    max_words: int | None


def _draw(draw: Callable[[st.SearchStrategy[Any]], Any], plan: _Plan) -> str:
    # Three independent indices (group, frame, word) shrink separately toward 0, so a
    # leak that depends only on the word still shrinks to the shortest frame.
    group: Group = draw(st.sampled_from(plan.groups))
    row: Row = draw(st.sampled_from(group))
    prompt: str = draw(st.sampled_from(row))
    if not plan.kinds or not plan.max_perturbations:
        return prompt
    one = st.builds(
        Perturbation, st.sampled_from(plan.kinds), st.integers(0, 31), st.integers(0, 7)
    )
    for op in draw(st.lists(one, max_size=plan.max_perturbations)):
        out = op.apply(prompt)
        if plan.max_words is None or words_in(out) <= plan.max_words:
            prompt = out
    return prompt


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    return value


def _strategy(build: Callable[P, _Plan]) -> Callable[P, st.SearchStrategy[str]]:
    """Turn a plan builder into a public strategy function.

    The public function builds the plan at once (so bad arguments fail when the strategy
    is built) and returns a lazy ``st.composite`` strategy with the same name and signature,
    which gives the readable repr ``paraphrases('a nude woman', concept='nudity')``.
    """
    plans: dict[Any, _Plan] = {}

    def plan(*args: Any, **kwargs: Any) -> _Plan:
        key = _freeze((args, kwargs))
        try:
            hash(key)
        except TypeError:  # e.g. an unhashable translator: build without caching
            return build(*args, **kwargs)
        if key not in plans:
            if len(plans) > 256:  # bound the memory of long sessions
                plans.clear()
            plans[key] = build(*args, **kwargs)
        return plans[key]

    def draw_prompt(draw: Any, *args: Any, **kwargs: Any) -> str:
        return _draw(draw, plan(*args, **kwargs))

    sig = inspect.signature(build)
    draw_param = inspect.Parameter("draw", inspect.Parameter.POSITIONAL_ONLY)
    draw_prompt.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[draw_param, *sig.parameters.values()], return_annotation=str
    )
    draw_prompt.__name__ = draw_prompt.__qualname__ = build.__name__
    lazy = st.composite(draw_prompt)

    def public(*args: P.args, **kwargs: P.kwargs) -> st.SearchStrategy[str]:
        plan(*args, **kwargs)
        return lazy(*args, **kwargs)

    public.__name__ = public.__qualname__ = build.__name__
    public.__doc__ = build.__doc__
    public.__module__ = build.__module__
    public.__signature__ = sig.replace(return_annotation="SearchStrategy[str]")  # type: ignore[attr-defined]
    return public


def _check_prompt(prompt: object) -> None:
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise ConfigError(
            f"`prompt` must be a non-empty string or None, got {prompt!r}"
        )


def _check_int(
    name: str, value: object, minimum: int, *, optional: bool = False
) -> None:
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            f"`{name}` must be an integer >= {minimum}{' or None' if optional else ''}, got {value!r}"
        )


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"`{name}` must be True or False, got {value!r}")


def _groups(groups: list[Group], what: str) -> tuple[Group, ...]:
    out = tuple(g for g in groups if g)
    if not out:
        raise ConfigError(
            f"{what}: the lexicon gives no prompt to draw with these arguments (check `max_words`)"
        )
    return out


@_strategy
def paraphrases(
    prompt: str | None,
    *,
    concept: str,
    synonyms: bool = True,
    hypernyms: bool = True,
    templates: bool = True,
    perturbations: Sequence[str] = DEFAULT_PERTURBATIONS,
    max_perturbations: int = 2,
    max_words: int | None = None,
) -> _Plan:
    """English paraphrases of ``prompt`` that keep ``concept``.

    Bases: each English word, synonym and hypernym of the lexicon on its own (with
    ``templates``); the seed prompt with its concept words replaced by each of them; the seed with the word removed and a concept phrase appended
    (``"..., in the nude"``); and the concept's English templates filled with each word.
    Then up to ``max_perturbations`` of: casing, spacing, filler, word_order, typo,
    homoglyph, leetspeak.

    Shrinking: toward the shortest frame (the bare-word template first, the seed sentence
    at its own length), the seed's own word, and no perturbation.

    Args:
        prompt: the seed prompt, which must contain a concept word; ``None`` draws from the
            templates only.
        concept: a concept (``"nudity"``) or DataIGM task (``"style_vangogh"``).
        synonyms: substitute synonyms and append concept phrases.
        hypernyms: substitute broader words (``"nsfw"``, ``"place of worship"``).
        templates: rewrite into the concept's English templates.
        perturbations: perturbation names to draw from (``[]`` for none).
        max_perturbations: the most perturbations applied to one example.
        max_words: drop bases longer than this many words, and skip perturbations that
            would exceed it.

    Returns:
        A strategy of prompt strings.

    Raises:
        ConfigError: unknown concept (with a close match), no concept word in ``prompt``,
            bad argument types, or arguments that leave nothing but the seed to draw.
    """
    _check_prompt(prompt)
    for name, flag in (
        ("synonyms", synonyms),
        ("hypernyms", hypernyms),
        ("templates", templates),
    ):
        _check_bool(name, flag)
    _check_int("max_perturbations", max_perturbations, 0)
    _check_int("max_words", max_words, 1, optional=True)
    kinds = check_kinds(perturbations)
    if max_words is not None and prompt is not None and words_in(prompt) > max_words:
        raise ConfigError(
            f"`max_words={max_words}` is below the seed prompt's {words_in(prompt)} words"
        )
    groups = _groups(
        paraphrase_groups(prompt, concept, synonyms, hypernyms, templates, max_words),
        "paraphrases",
    )
    if not (kinds and max_perturbations) and {
        c for g in groups for r in g for c in r
    } == {prompt}:
        raise ConfigError(
            "paraphrases: no synonyms, templates or perturbations are enabled; nothing to vary"
        )
    return _Plan(groups, kinds, max_perturbations, max_words)


@_strategy
def translations(
    prompt: str | None,
    *,
    concept: str,
    languages: Sequence[str] | None = None,
    transliterations: bool = True,
    translator: Translator | None = None,
    max_words: int | None = None,
) -> _Plan:
    """``prompt``'s concept in other languages and scripts, from the shipped lexicons.

    Bases per language: that language's words on their own (``"rayé"``), the seed with
    its concept words replaced by them
    (code-mixed, as in ``"a ヌード woman"``), the language's templates filled with each word
    (``"ゴッホ風の絵"``), and ``translator.translate(prompt, language)`` when a translator is
    given. Transliteration schemes (``"ja-Latn"`` -> ``"nyudo"``, ``"en-Cyrl"``) use the
    English templates. The seed itself is never drawn.

    Shrinking: toward the first language listed, its shortest frame (the bare word) and
    its first (most common) word.

    Args:
        prompt: the seed prompt, containing a concept word; ``None`` uses templates only.
        concept: a concept or DataIGM task name.
        languages: language codes and transliteration schemes; default: every language of
            the concept except English, plus its schemes when ``transliterations``.
        transliterations: include transliteration schemes in the default languages.
        translator: a ``Translator`` (e.g. ``TransformersTranslator``) whose translation of
            the whole prompt is added per language; called once per language, when built.
        max_words: drop bases longer than this many whitespace-separated words.

    Returns:
        A strategy of prompt strings.

    Raises:
        ConfigError: unknown concept or language (the message lists the languages), no
            concept word in ``prompt``, or a language with an empty lexicon.
    """
    _check_prompt(prompt)
    _check_bool("transliterations", transliterations)
    _check_int("max_words", max_words, 1, optional=True)
    groups = translation_groups(
        prompt, concept, languages, transliterations, translator, max_words
    )
    return _Plan(_groups(groups, "translations"), (), 0, max_words)


@_strategy
def prompt_variants(
    prompt: str | None,
    *,
    concept: str,
    languages: Sequence[str] | None = None,
    translator: Translator | None = None,
    perturbations: Sequence[str] = DEFAULT_PERTURBATIONS,
    max_perturbations: int = 2,
    max_words: int | None = None,
) -> _Plan:
    """Paraphrases and translations of ``prompt`` in one strategy, then perturbations.

    Bases are the union of ``paraphrases``' and ``translations``' bases; perturbations
    (typos, homoglyphs...) apply to translated prompts too.

    Shrinking: toward English before other languages, then as ``paraphrases``.

    Args:
        prompt: the seed prompt, containing a concept word; ``None`` uses templates only.
        concept: a concept or DataIGM task name.
        languages: as in ``translations``.
        translator: as in ``translations``.
        perturbations: perturbation names to draw from.
        max_perturbations: the most perturbations applied to one example.
        max_words: as in ``paraphrases``.

    Returns:
        A strategy of prompt strings.

    Raises:
        ConfigError: as ``paraphrases`` and ``translations``.
    """
    _check_prompt(prompt)
    _check_int("max_perturbations", max_perturbations, 0)
    _check_int("max_words", max_words, 1, optional=True)
    kinds = check_kinds(perturbations)
    groups = paraphrase_groups(prompt, concept, True, True, True, max_words)
    groups += translation_groups(
        prompt, concept, languages, True, translator, max_words
    )
    return _Plan(
        _groups(groups, "prompt_variants"), kinds, max_perturbations, max_words
    )
