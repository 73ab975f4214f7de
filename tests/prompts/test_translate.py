"""Translators: the lexicon translator, and transformers plumbing with tiny random models."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import find, settings

from igmu_audit.errors import ConfigError
from igmu_audit.prompts import (
    LexiconTranslator,
    TransformersTranslator,
    Translator,
    translations,
)

SEED = "a nude woman by a window"
WORDS = [
    "a",
    "nude",
    "woman",
    "by",
    "window",
    "church",
    "the",
    "of",
    "photo",
    "painting",
]


def test_lexicon_translator_code_mixes() -> None:
    translator = LexiconTranslator("nudity")
    assert isinstance(translator, Translator)
    assert translator.translate(SEED, "ja") == "a ヌード woman by a window"
    assert translator.translate(SEED, "ru") == "a обнажённый woman by a window"
    assert translator.translate("nude", "zh") == "裸体"
    assert (
        LexiconTranslator("style_vangogh").translate("in the style of Van Gogh", "ko")
        == "in the style of 고흐"
    )
    assert repr(translator) == "LexiconTranslator('nudity')"


def test_lexicon_translator_errors() -> None:
    translator = LexiconTranslator("nudity")
    with pytest.raises(ConfigError, match="no language 'xx'"):
        translator.translate(SEED, "xx")
    with pytest.raises(ConfigError, match="contains no word of concept 'nudity'"):
        translator.translate("a cat", "fr")
    with pytest.raises(ConfigError, match="`text` must be a non-empty string"):
        translator.translate("  ", "fr")


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "opus-mt-en-fr"
    with pytest.raises(
        ConfigError,
        match=r"model folder '.*opus-mt-en-fr' not found; expected a folder saved with `save_pretrained`",
    ):
        TransformersTranslator(missing)
    missing.mkdir()
    with pytest.raises(ConfigError, match=r"opus-mt-en-fr' has no config.json"):
        TransformersTranslator(missing)
    with pytest.raises(ConfigError, match=r"`max_new_tokens` must be an integer >= 1"):
        TransformersTranslator(missing, max_new_tokens=0)


def _tokenizer(extra: list[str]) -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *extra, *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=extra,
    )


def _save_tiny(folder: Path, kind: str) -> Path:
    """A tiny randomly initialised Marian or M2M100 model and a WordLevel tokenizer, offline."""
    import torch
    from transformers import (
        M2M100Config,
        M2M100ForConditionalGeneration,
        MarianConfig,
        MarianMTModel,
    )

    torch.manual_seed(0)
    extra = [">>fr<<", ">>de<<"] if kind == "marian" else ["__en__", "__fr__", "__ja__"]
    tokenizer = _tokenizer(extra)
    sizes = {
        "vocab_size": 3 + len(extra) + len(WORDS), "d_model": 16, "encoder_layers": 1, "decoder_layers": 1,
        "encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32,
        "max_position_embeddings": 64, "pad_token_id": 0, "eos_token_id": 1,
    }  # fmt: skip
    if kind == "marian":
        model = MarianMTModel(MarianConfig(**sizes, decoder_start_token_id=0))
    else:
        model = M2M100ForConditionalGeneration(
            M2M100Config(**sizes, decoder_start_token_id=1, bos_token_id=0)
        )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random Marian (multi-target, ``>>fr<<`` tokens) and M2M100 models saved to disk."""
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("tiny-mt")
    return {kind: _save_tiny(root / kind, kind) for kind in ("marian", "m2m_100")}


@pytest.mark.parametrize(("kind", "target"), [("marian", "fr"), ("m2m_100", "ja")])
def test_transformers_translator_is_deterministic(
    tiny_models: dict[str, Path], kind: str, target: str
) -> None:
    first = TransformersTranslator(tiny_models[kind], max_new_tokens=6)
    second = TransformersTranslator(tiny_models[kind], max_new_tokens=6)
    assert isinstance(first, Translator)
    assert first.model_type == kind
    out = first.translate(SEED, target)
    assert isinstance(out, str)
    assert out == second.translate(SEED, target) == first.translate(SEED, target)
    assert repr(first).startswith("TransformersTranslator(")
    assert kind in repr(first)


def test_transformers_translator_rejects_unknown_targets(
    tiny_models: dict[str, Path],
) -> None:
    m2m = TransformersTranslator(tiny_models["m2m_100"], max_new_tokens=4)
    with pytest.raises(ConfigError, match="no language token '__ko__'"):
        m2m.translate(SEED, "ko")
    marian = TransformersTranslator(tiny_models["marian"], max_new_tokens=4)
    with pytest.raises(
        ConfigError, match="single-pair Marian model; pass target_languages"
    ):
        marian.translate(SEED, "ko")
    restricted = TransformersTranslator(
        tiny_models["marian"], target_languages=["fr"], max_new_tokens=4
    )
    with pytest.raises(ConfigError, match=r"translates into fr, not 'de'"):
        restricted.translate(SEED, "de")


def test_translations_strategy_draws_the_model_translation(
    tiny_models: dict[str, Path],
) -> None:
    translator = TransformersTranslator(tiny_models["m2m_100"], max_new_tokens=6)
    expected = translator.translate(SEED, "fr")
    assert (
        expected
    )  # the language token is special, so random weights still yield words
    strategy = translations(
        SEED, concept="nudity", languages=["fr"], translator=translator
    )
    assert "translator=TransformersTranslator(" in repr(strategy)
    minimal = find(
        strategy,
        lambda p: p == expected,
        settings=settings(database=None, derandomize=True),
    )
    assert minimal == expected
