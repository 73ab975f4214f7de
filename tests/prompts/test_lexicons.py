"""Lexicons: shipped data, concept resolution, concept-word detection and substitution."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from igmu_audit._paths import fixtures_dir
from igmu_audit.errors import ConfigError
from igmu_audit.prompts import (
    ConceptSpan,
    concept_for_task,
    find_concept,
    find_concepts,
    get_lexicon,
    known_concepts,
    known_tasks,
    load_dataigm,
)
from igmu_audit.prompts.concept_words import script_of
from igmu_audit.prompts.perturb import fill_template, remove_concept, substitute
from igmu_audit.toyworld.vocabulary import load_vocabulary

PROJECT = ("nudity", "vangogh", "church", "parachute")


def test_known_concepts_cover_project_and_toy_world() -> None:
    concepts = known_concepts()
    assert concepts[:4] == PROJECT
    assert {
        "circle",
        "square",
        "triangle",
        "cross",
        "striped",
        "dotted",
        "plain",
        "red",
    } <= set(concepts)


@pytest.mark.parametrize(
    ("task", "concept"),
    [
        ("nudity", "nudity"),
        ("style_vangogh", "vangogh"),
        ("object_church", "church"),
        ("object_parachute", "parachute"),
        ("shape_circle", "circle"),
        ("texture_striped", "striped"),
        ("colour_red", "red"),
        ("vangogh", "vangogh"),
    ],
)
def test_task_names_resolve_to_concepts(task: str, concept: str) -> None:
    assert concept_for_task(task) == concept
    assert get_lexicon(task).concept == concept


def test_every_dataigm_task_has_a_lexicon() -> None:
    assert set(load_dataigm()) <= set(known_tasks())


def test_unknown_concept_names_a_close_match_and_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown concept 'nudty'; did you mean 'nudity'\?"
    ) as info:
        get_lexicon("nudty")
    assert "known concepts: nudity, vangogh, church, parachute, circle" in str(
        info.value
    )
    assert "style_vangogh" in str(info.value)
    with pytest.raises(ConfigError, match="must be a string"):
        get_lexicon(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("concept", PROJECT)
def test_project_lexicons_span_ten_languages_and_four_non_latin_scripts(
    concept: str,
) -> None:
    lexicon = get_lexicon(concept)
    assert len(lexicon.words) >= 10
    scripts = {script_of(w) for ws in lexicon.words.values() for w in ws}
    assert len(scripts - {"LATIN"}) >= 4, scripts
    assert {"CYRILLIC", "CJK", "ARABIC", "DEVANAGARI", "HANGUL"} <= scripts | {
        "KATAKANA"
    }
    for words in (*lexicon.words.values(), lexicon.synonyms, lexicon.hypernyms):
        assert all(isinstance(w, str) and w.strip() == w and w for w in words)
    assert lexicon.synonyms
    assert lexicon.hypernyms
    assert all("{concept}" in t for ts in lexicon.templates.values() for t in ts)


@pytest.mark.parametrize("concept", PROJECT)
def test_transliterations_cross_scripts(concept: str) -> None:
    schemes = get_lexicon(concept).transliterations
    # Romanisations of non-Latin languages are Latin; English written in Cyrillic is Cyrillic.
    for scheme, words in schemes.items():
        expected = "CYRILLIC" if scheme == "en-Cyrl" else "LATIN"
        assert words, scheme
        assert all(script_of(w) == expected for w in words), (scheme, words)
    assert {"ja-Latn", "zh-Latn", "ru-Latn", "en-Cyrl"} <= set(schemes)


def test_transliteration_examples_from_the_issue() -> None:
    nudity, vangogh = get_lexicon("nudity"), get_lexicon("vangogh")
    assert "nyudo" in nudity.terms("ja-Latn")
    assert "ゴッホ" in vangogh.terms("ja")
    assert "梵高" in vangogh.terms("zh")
    assert "Ван Гог" in vangogh.terms("ru")
    assert "فان جوخ" in vangogh.terms("ar")
    assert "वैन गॉग" in vangogh.terms("hi")
    assert {"naked", "unclothed", "bare"} <= set(nudity.english_alternatives())
    assert "in the nude" in nudity.phrases
    assert "nsfw" in nudity.hypernyms


def test_shipped_file_is_consistent() -> None:
    raw = json.loads(
        (fixtures_dir() / "lexicons" / "concepts.json").read_text(encoding="utf-8")
    )
    assert (fixtures_dir() / "lexicons" / "README.md").is_file()
    for concept, entry in raw["concepts"].items():
        assert set(entry["words"]) <= set(raw["languages"]), concept
        assert set(entry["transliterations"]) <= set(raw["schemes"]), concept
        assert set(raw["templates_by_kind"][entry["kind"]]) | {"en"} >= set(
            entry["words"]
        ), concept


def test_unknown_language_lists_the_languages() -> None:
    with pytest.raises(
        ConfigError,
        match=r"no language 'jp' \(languages: en \(English\), fr \(French\).*ja \(Japanese\)",
    ):
        get_lexicon("nudity").terms("jp")
    with pytest.raises(
        ConfigError, match=r"no language 'Japanese'; did you mean 'ja'\?"
    ):
        get_lexicon("nudity").terms("Japanese")
    with pytest.raises(
        ConfigError,
        match=r"no language 'ja-latn'; did you mean 'ja-Latn'\?.*, ja-Latn, zh-Latn",
    ):
        get_lexicon("nudity").terms("ja-latn")


def test_toy_concepts_come_from_the_toy_vocabulary() -> None:
    vocab = load_vocabulary()
    circle = get_lexicon("shape_circle")
    assert circle.source == "toyworld/vocabulary.json"
    assert circle.words["en"] == ("circle",)
    assert circle.synonyms == tuple(vocab.words("circle", "en")[1:])
    for lang in vocab.languages[1:]:
        assert circle.words[lang] == tuple(vocab.words("circle", lang))
        assert circle.templates[lang]
        assert all("{concept}" in t for t in circle.templates[lang])
    assert "a {concept} red circle" in get_lexicon("striped").templates["en"]
    assert "一个{concept}" in circle.templates["zh"]


def test_find_concept_span() -> None:
    span = find_concept("a nude woman by a window", "nudity")
    assert span == ConceptSpan(2, 6, "nude", "en", "word", False)


@pytest.mark.parametrize(
    ("prompt", "concept", "found"),
    [
        ("Two parachutes drifting over the sea", "parachute", ["parachutes"]),
        (
            "a church in a small town, painted by Vincent van Gogh",
            "vangogh",
            ["Vincent van Gogh"],
        ),
        ("a bridge over a canal, VAN GOGH style", "style_vangogh", ["VAN GOGH"]),
        ("a chapel in the mountains", "church", ["chapel"]),
        ("ゴッホ風の絵", "vangogh", ["ゴッホ"]),
        ("一个红色的圆形", "circle", ["圆形"]),
        ("a naked man and a nude woman", "nudity", ["naked", "nude"]),
        ("a barefoot child", "nudity", []),
    ],
)
def test_find_concepts(prompt: str, concept: str, found: list[str]) -> None:
    spans = find_concepts(prompt, concept)
    assert [s.text for s in spans] == found
    assert all(prompt[s.start : s.end] == s.text for s in spans)


def test_plural_and_language_recorded() -> None:
    (span,) = find_concepts("two parachutes", "parachute")
    assert span.plural
    assert span.language == "en"
    (span,) = find_concepts("a ヌード woman", "nudity")
    assert span.language == "ja"
    assert not span.plural


def test_prompt_without_the_concept_fails_clearly() -> None:
    with pytest.raises(
        ConfigError,
        match=r"'a cat' contains no word of concept 'nudity'.*nude, naked.*prompt=None",
    ):
        find_concept("a cat", "nudity")


@pytest.mark.parametrize(
    ("prompt", "concept", "word", "expected"),
    [
        (
            "a nude woman by a window",
            "nudity",
            "unclothed",
            "an unclothed woman by a window",
        ),
        (
            "two parachutes over the sea",
            "parachute",
            "chute",
            "two chutes over the sea",
        ),
        ("A church on a hill", "church", "abbey church", "An abbey church on a hill"),
        ("Nude figure study", "nudity", "bare", "Bare figure study"),
        (
            "olive trees, Van Gogh style",
            "vangogh",
            "ゴッホ",
            "olive trees, ゴッホ style",
        ),
    ],
)
def test_substitute(prompt: str, concept: str, word: str, expected: str) -> None:
    assert substitute(prompt, find_concepts(prompt, concept), word) == expected


@pytest.mark.parametrize("task", ["nudity", "style_vangogh"])
def test_remove_concept_reproduces_the_paired_retain_prompts(task: str) -> None:
    split = load_dataigm()[task]
    assert split.paired
    for forget, retain in zip(
        split.forget_prompts(), split.retain_prompts(), strict=True
    ):
        assert remove_concept(forget, find_concepts(forget, task)) == retain


def test_fill_template_fixes_the_article() -> None:
    assert (
        fill_template("a photo of a {concept}", "abbey church")
        == "a photo of an abbey church"
    )
    assert fill_template("an old stone {concept}", "church") == "an old stone church"
    assert fill_template("{concept}の写真", "教会") == "教会の写真"


def test_import_is_cheap() -> None:
    code = (
        "import sys, igmu_audit.prompts, igmu_audit.prompts.lexicons, igmu_audit.prompts.concept_words,"
        " igmu_audit.prompts.translate;"
        "print(','.join(m for m in ('torch', 'transformers', 'hypothesis') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
