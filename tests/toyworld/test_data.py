"""The toy world's data: seeded rendering, multilingual captions, disjoint splits."""

from __future__ import annotations

import numpy as np
import pytest

from igmu_audit.toyworld.data import (
    caption,
    caption_and_mentions,
    render,
    sample_dataset,
    to_tensor,
)
from igmu_audit.toyworld.vocabulary import ATTRIBUTES, load_vocabulary


def test_vocabulary_has_seven_languages_two_non_latin_and_synonyms():
    vocab = load_vocabulary()
    assert set(vocab.languages) >= {"en", "fr", "es", "de", "zh", "ja", "ru"}
    assert len(vocab.classes("shape")) >= 4
    assert len(vocab.classes("colour")) >= 4
    assert vocab.classes("texture") == ["plain", "striped", "dotted"]
    for attribute in ATTRIBUTES:
        for concept in vocab.classes(attribute):
            assert vocab.words(concept, "en")[0] == concept
            assert len(vocab.words(concept, "en")) >= 2
            for language in vocab.languages[1:]:
                assert vocab.words(concept, language)
    assert vocab.words("circle", "en")[1] == "round disc"
    assert not any(ch.isascii() for ch in vocab.words("circle", "zh")[0])
    assert not any(ch.isascii() for ch in vocab.words("circle", "ru")[0])


def test_vocabulary_rejects_unknown_names():
    vocab = load_vocabulary()
    with pytest.raises(ValueError, match="unknown toy-world concept 'hexagon'"):
        vocab.attribute_of("hexagon")
    with pytest.raises(ValueError, match="`language`"):
        vocab.words("circle", "it")


def test_render_is_seeded_and_uint8():
    a = render("circle", "red", "striped", 0.5, np.random.default_rng(3))
    b = render("circle", "red", "striped", 0.5, np.random.default_rng(3))
    assert a.shape == (32, 32, 3)
    assert a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    # The red channel dominates where the shape is.
    assert a[..., 0].max() > 200


def test_render_validates_names():
    with pytest.raises(ValueError, match="`colour`"):
        render("circle", "purple", "plain", 0.5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="`shape`"):
        render("hexagon", "red", "plain", 0.5, np.random.default_rng(0))


def test_splits_use_disjoint_templates_and_streams():
    vocab = load_vocabulary()
    for language in vocab.languages:
        assert not set(vocab.templates[language]["train"]) & set(
            vocab.templates[language]["test"]
        )
    train, test = sample_dataset(16, 0, "train"), sample_dataset(16, 0, "test")
    assert not np.array_equal(train.images, test.images)
    np.testing.assert_array_equal(train.images, sample_dataset(16, 0, "train").images)
    assert to_tensor(train.images).shape == (16, 3, 32, 32)


def test_captions_name_the_attributes_in_each_language():
    rng = np.random.default_rng(0)
    text, mentioned = caption_and_mentions(
        "circle", "red", "striped", rng=rng, language="en", words="name"
    )
    assert "circle" in text
    assert "shape" in mentioned
    ru = caption("circle", "red", "plain", rng=rng, language="ru", words="name")
    assert "круг" in ru
    synonyms = {
        caption("circle", "red", "plain", rng=rng, words="synonyms") for _ in range(40)
    }
    assert not any(" circle" in s for s in synonyms)
    assert any("round disc" in s for s in synonyms)
    with pytest.raises(ValueError, match="`split`"):
        caption("circle", "red", "plain", rng=rng, split="val")


def test_a_caption_leaves_the_texture_out_only_for_plain_images():
    # The generator's training captions: an unnamed texture must always mean plain.
    from igmu_audit.toyworld.diffusion import training_captions

    vocab = load_vocabulary()
    rng = np.random.default_rng(0)
    for language in vocab.languages:
        for texture in ("striped", "dotted"):
            for _ in range(20):
                _, mentioned = caption_and_mentions(
                    "cross", "blue", texture, rng=rng, language=language,
                    name_non_default=True,
                )  # fmt: skip
                assert "texture" in mentioned, (language, texture)
    plain = {
        caption_and_mentions("cross", "blue", "plain", rng=rng, name_non_default=True)[
            1
        ]
        for _ in range(60)
    }
    assert ("shape", "colour") in plain  # plain images keep the texture-free templates
    data = sample_dataset(300, 1)
    texts = training_captions(data.labels, np.random.default_rng(1))
    plain_index = vocab.classes("texture").index("plain")
    unnamed = [
        row for row, text in zip(data.labels, texts, strict=True)
        if text and not any(w in text for t in vocab.classes("texture")
                             for lang in vocab.languages for w in vocab.words(t, lang))
    ]  # fmt: skip
    assert unnamed, "some captions must leave the texture out"
    assert all(row[2] == plain_index for row in unnamed)
    with pytest.raises(ValueError, match="no 'fr' 'test' template names"):
        caption_and_mentions(
            "cross", "blue", "dotted", rng=rng, language="fr", split="test",
            name_non_default=True,
        )  # fmt: skip


def test_default_classes_can_be_left_unnamed_and_captions_made_shortest():
    # The joint stage's caption mix: short prompts ("a circle") must be common enough to
    # learn that they mean a plain shape of any colour.
    from igmu_audit.toyworld.diffusion import training_captions

    vocab = load_vocabulary()
    rng = np.random.default_rng(0)
    for language in vocab.languages:
        for _ in range(10):
            _, mentioned = caption_and_mentions(
                "circle", "red", "plain", rng=rng, language=language,
                name_non_default=True, leave_default_unnamed=True,
            )  # fmt: skip
            assert "texture" not in mentioned, language
            _, mentioned = caption_and_mentions(
                "circle", "red", "striped", rng=rng, language=language,
                name_non_default=True, leave_default_unnamed=True, fewest_attributes=True,
            )  # fmt: skip
            assert "texture" in mentioned, language  # a non-default class stays named
    shortest = {
        caption_and_mentions("circle", "red", "plain", rng=rng, language="en",
                             name_non_default=True, fewest_attributes=True)[1]
        for _ in range(30)
    }  # fmt: skip
    assert shortest == {("shape",)}
    data = sample_dataset(400, 2)
    labels = data.labels

    colour_words = {w for c in vocab.classes("colour") for lang in vocab.languages
                    for w in vocab.words(c, lang)}  # fmt: skip

    def colourless(texts: list[str]) -> int:
        return sum(1 for t in texts if t and not any(w in t for w in colour_words))

    plain_mix = training_captions(labels, np.random.default_rng(3))
    short_mix = training_captions(labels, np.random.default_rng(3), unnamed_default_rate=0.7, fewest_rate=0.35)  # fmt: skip
    assert colourless(short_mix) > 1.5 * colourless(plain_mix)
    # rate 0 draws nothing extra: stage 1's captions are the ones it was trained on
    assert training_captions(labels, np.random.default_rng(4)) == training_captions(
        labels, np.random.default_rng(4), unnamed_default_rate=0.0, fewest_rate=0.0
    )


def test_filler_words_hold_no_word_of_any_caption_and_get_inserted():
    # Fillers teach the text tower to ignore untrained words; a held-out template word
    # among them would train the test split.
    from igmu_audit.pipelines.tokenizer import build_clip_tokenizer
    from igmu_audit.toyworld.diffusion import (
        FILLER_RATE,
        filler_words,
        training_captions,
    )

    vocab = load_vocabulary()
    fillers = filler_words(build_clip_tokenizer())
    known = {w.lower() for w in vocab.all_words()}
    assert len(fillers) > 10000
    assert not known & {f.lower() for f in fillers}
    assert "photo" in known  # a held-out template word: never a filler
    labels = sample_dataset(400, 3).labels
    plain = training_captions(labels, np.random.default_rng(5))
    mixed = training_captions(labels, np.random.default_rng(5), fillers=fillers)
    filler_set = set(fillers)
    with_filler = sum(1 for t in mixed if filler_set & set(t.split(" ")))
    assert (
        0.5 * FILLER_RATE * len(labels) < with_filler < 1.5 * FILLER_RATE * len(labels)
    )
    assert not any(filler_set & set(t.split(" ")) for t in plain)


def test_dots_are_large_enough_to_survive_the_vae():
    # 2.5 px dots on an 8 px grid: every dotted shape shows dark dots, not a plain fill.
    from igmu_audit.toyworld.data import DOT_PERIOD, DOT_RADIUS

    assert DOT_PERIOD >= 8
    assert DOT_RADIUS >= 2.5
    rng = np.random.default_rng(5)
    for shape in load_vocabulary().classes("shape"):
        plain = render(shape, "yellow", "plain", 0.5, np.random.default_rng(9))
        dotted = render(shape, "yellow", "dotted", 0.5, np.random.default_rng(9))
        darkened = (plain.astype(int) - dotted.astype(int)).max(axis=-1) > 60
        assert darkened.sum() >= 6, shape
    assert render("circle", "red", "dotted", 0.5, rng).shape == (32, 32, 3)


def test_all_words_is_the_attackers_dictionary():
    from igmu_audit.toyworld.vocabulary import load_vocabulary

    words = load_vocabulary().all_words()
    assert {
        "striped",
        "stripy",
        "banded",
        "縞模様",
        "circle",
        "Kreis",
        "middle",
    } <= set(words)
    assert words == sorted(set(words))
    assert not [w for w in words if "{" in w or w.endswith((".", ",", ":")) or " " in w]
