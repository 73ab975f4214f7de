"""Multilingual concept lexicons: every word igmu-audit knows for a concept.

Shipped and provided sources are merged behind one API, ``get_lexicon(concept)``:

- ``fixtures/lexicons/concepts.json`` (written by the project): nudity, vangogh, church,
  parachute, in 16 languages (9 of them in non-Latin scripts) plus transliterations;
- lexicon providers: the entry-point group ``igmu_audit.lexicons`` (a callable
  ``() -> {concept: Lexicon}``) or :func:`register_lexicons`. The toy world provides its
  shapes, colours and textures in its 7 languages that way; a user's package can too::

      [project.entry-points."igmu_audit.lexicons"]
      my-concepts = "my_package.lexicons:lexicons"   # () -> {concept: Lexicon}

Project concepts come first, then each provider's in name order; a concept a provider
repeats is ignored with a warning. DataIGM task names resolve to concepts
(``"style_vangogh"`` -> ``"vangogh"``; a provided concept's task is ``<kind>_<concept>``,
e.g. ``"shape_circle"`` -> ``"circle"``). Finding those words in a prompt is
:mod:`igmu_audit.prompts.concept_words`. Pure Python: importing this module is cheap.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from igmu_audit._paths import fixtures_dir
from igmu_audit.config.schema import closest
from igmu_audit.errors import ConfigError
from igmu_audit.providers import Registry

#: The entry-point group lexicon providers register under.
ENTRY_POINT_GROUP = "igmu_audit.lexicons"


@dataclass(frozen=True)
class Lexicon:
    """Every word igmu-audit knows for one concept.

    Attributes:
        concept: the concept name, e.g. ``"nudity"`` or ``"circle"``.
        kind: ``"object"`` or ``"style"`` (project lexicons) or a provider's kind (the
            toy world's attribute, ``"shape"``...); a provided concept's task is ``<kind>_<concept>``.
        source: where it was read from, for messages (``"lexicons/concepts.json"``).
        words: language code -> the concept's words in that language, English first.
        synonyms: English words that replace the concept word in place.
        hypernyms: broader English words that replace it in place (``"nsfw"``, ``"building"``).
        phrases: English clauses that carry the concept without its word (``"in the nude"``).
        transliterations: scheme (``"ja-Latn"``, ``"en-Cyrl"``) -> transliterated words.
        templates: language or scheme -> prompt templates holding ``{concept}``.
    """

    concept: str
    kind: str
    source: str
    words: Mapping[str, tuple[str, ...]]
    synonyms: tuple[str, ...] = ()
    hypernyms: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    transliterations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    templates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes with words, English first, then transliteration schemes."""
        return (*self.words, *self.transliterations)

    def terms(self, language: str) -> tuple[str, ...]:
        """Words of ``language`` (a language code or a transliteration scheme).

        Raises:
            ConfigError: the lexicon has no such language; the message lists them.
        """
        table = (
            self.transliterations if language in self.transliterations else self.words
        )
        if language not in table:
            names = {lang: language_name(lang) for lang in self.languages}
            by_name = {
                n.split(",")[0].lower(): lang
                for lang, n in names.items()
                if lang in self.words
            }
            hint = closest(str(language), list(self.languages))
            if not hint and str(language).lower() in by_name:
                hint = f"; did you mean {by_name[str(language).lower()]!r}?"
            listed = ", ".join(
                f"{lang} ({names[lang]})" if lang in self.words else lang
                for lang in self.languages
            )
            raise ConfigError(
                f"`languages`: concept {self.concept!r} has no language {language!r}{hint} (languages: {listed})"
            )
        return table[language]

    def english_alternatives(self) -> tuple[str, ...]:
        """English words, synonyms and hypernyms: everything that replaces the word in place."""
        return tuple(
            dict.fromkeys((*self.words.get("en", ()), *self.synonyms, *self.hypernyms))
        )

    def templates_for(self, language: str) -> tuple[str, ...]:
        """Templates for ``language``; transliterations use the English templates."""
        if language in self.transliterations:
            return self.templates.get("en", ("{concept}",))
        return self.templates.get(language, ("{concept}",))


def _read_json(name: str) -> Any:
    path = fixtures_dir() / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the shipped lexicon: {exc}") from None


@cache
def _project_data() -> dict[str, Any]:
    data: dict[str, Any] = _read_json("lexicons/concepts.json")
    return data


@cache
def _project_lexicons() -> dict[str, Lexicon]:
    data = _project_data()
    out: dict[str, Lexicon] = {}
    for concept, raw in data["concepts"].items():
        kind_templates = data["templates_by_kind"][raw["kind"]]
        templates = {
            lang: tuple(ts)
            for lang, ts in {**kind_templates, **raw["templates"]}.items()
        }
        out[concept] = Lexicon(
            concept=concept,
            kind=raw["kind"],
            source="lexicons/concepts.json",
            words={lang: tuple(ws) for lang, ws in raw["words"].items()},
            synonyms=tuple(raw["synonyms"]),
            hypernyms=tuple(raw["hypernyms"]),
            phrases=tuple(raw["phrases"]),
            transliterations={k: tuple(v) for k, v in raw["transliterations"].items()},
            templates=templates,
        )
    return out


def _check_lexicons(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return f"is a {type(value).__name__}, not a mapping of concept -> Lexicon"
    for concept, lexicon in value.items():
        if not isinstance(lexicon, Lexicon) or lexicon.concept != concept:
            return (
                f"maps {concept!r} to {lexicon!r:.60}, not to a Lexicon of that concept"
            )
    return None


_PROVIDERS = Registry(ENTRY_POINT_GROUP, "lexicon provider", check=_check_lexicons)
#: ``cache_clear`` of caches elsewhere built from the merged lexicons.
_DEPENDENT_CACHES: list[Callable[[], None]] = []


def register_lexicons(
    name: str,
    provider: Callable[[], Mapping[str, Lexicon]],
    *,
    overwrite: bool = False,
) -> None:
    """Register a lexicon provider in this process (as an entry point would).

    Args:
        name: the provider's name, e.g. ``"my-concepts"``.
        provider: ``() -> {concept: Lexicon}``, called once, on first use.
        overwrite: replace a provider already known under ``name`` (registered in
            process or an installed entry point); without it that is an error.

    Raises:
        ConfigError: an invalid name or provider, or a name already known.
    """
    _PROVIDERS.register(name, provider, overwrite=overwrite)
    _forget()


def unregister_lexicons(name: str) -> None:
    """Forget an in-process provider (tests, notebooks)."""
    _PROVIDERS.unregister(name)
    _forget()


def on_lexicons_changed(clear: Callable[[], None]) -> None:
    """Call ``clear`` whenever the providers change.

    Caches built from the merged lexicons in other modules (the concept-word patterns of
    :mod:`igmu_audit.prompts.concept_words`) register here, so they are dropped together
    with the merged tables and never match words of a provider that is gone.
    """
    _DEPENDENT_CACHES.append(clear)


def _forget() -> None:
    """Drop every merged table, so the next lookup sees the providers as they are now."""
    for cached in (_lexicons, _task_map):
        cached.cache_clear()
    for clear in _DEPENDENT_CACHES:
        clear()


@cache
def _lexicons() -> dict[str, Lexicon]:
    """Project lexicons, then each provider's in name order; repeats lose, loudly."""
    out = dict(_project_lexicons())
    for name in _PROVIDERS.names():
        for concept, lexicon in _PROVIDERS.build(name).items():
            if concept in out:
                warnings.warn(
                    f"ignoring concept {concept!r} from {_PROVIDERS.origin(name)}: "
                    f"{out[concept].source} already defines it",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            out[concept] = lexicon
    return out


@cache
def _task_map() -> dict[str, str]:
    tasks = dict(_project_data()["tasks"])
    project = _project_lexicons()
    for name, lexicon in _lexicons().items():
        if name not in project:
            tasks.setdefault(f"{lexicon.kind}_{name}", name)
    return tasks


def language_name(code: str) -> str:
    """The English name of a language code or transliteration scheme (``"ja"`` -> ``"Japanese"``)."""
    data = _project_data()
    entry = data["languages"].get(code) or data["schemes"].get(code)
    return str(entry["name"]) if entry else code


def known_concepts() -> tuple[str, ...]:
    """Every concept with a lexicon: project concepts first, then each provider's."""
    return tuple(_lexicons())


def known_tasks() -> dict[str, str]:
    """DataIGM task name -> concept (``"object_church"`` -> ``"church"``, ``"shape_circle"`` -> ``"circle"``)."""
    return dict(_task_map())


def concept_for_task(name: str) -> str:
    """Resolve a concept or DataIGM task name to a concept name.

    Args:
        name: a concept (``"vangogh"``) or a task (``"style_vangogh"``).

    Returns:
        The concept name.

    Raises:
        ConfigError: unknown name; the message names a close match and every known concept.
    """
    if not isinstance(name, str):
        raise ConfigError(
            f"`concept` must be a string such as 'nudity', got {name!r} (type={type(name).__name__})"
        )
    concepts = known_concepts()
    if name in concepts:
        return name
    tasks = _task_map()
    if name in tasks:
        return tasks[name]
    raise ConfigError(
        f"`concept`: unknown concept {name!r}{closest(name, [*concepts, *tasks])} "
        f"(known concepts: {', '.join(concepts)}; DataIGM tasks: {', '.join(tasks)})"
    )


def get_lexicon(concept: str) -> Lexicon:
    """The merged lexicon of a concept or DataIGM task.

    Args:
        concept: a concept (``"nudity"``, ``"circle"``) or a task name (``"object_church"``).

    Returns:
        The concept's ``Lexicon``.

    Raises:
        ConfigError: unknown concept, or a lexicon with no English word (it could not be
            detected or substituted).

    Example:
        >>> get_lexicon("style_vangogh").terms("ja")
        ('ゴッホ', 'フィンセント・ファン・ゴッホ')
    """
    name = concept_for_task(concept)
    lexicon = _lexicons()[name]
    if not lexicon.words.get("en"):
        raise ConfigError(
            f"{lexicon.source}: concept {name!r} has an empty English lexicon; "
            "give it at least one English word"
        )
    return lexicon
