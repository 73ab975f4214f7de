"""De-duplication rules on their own: text normalisation, tokenizer equivalence, chains.

The tokenizer is Stable Diffusion's real CLIP tokenizer (lower-casing, 77-token context);
a second, stricter tokenizer shows that every tokenizer must agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from igmu_audit.errors import ConfigError
from igmu_audit.pipelines.tokenizer import build_clip_tokenizer
from igmu_audit.prompts.dedupe import (
    distinct_prompts,
    normalise_text,
    tokenizers_of,
)


class Pipe:
    """A bare pipeline's tokenizer attributes (what dedupe reads), nothing else."""

    def __init__(self, tokenizer: Any = None, tokenizer_2: Any = None) -> None:
        self.tokenizer = tokenizer
        self.tokenizer_2 = tokenizer_2


class Loaded:
    """A LoadedPipeline-shaped wrapper: the diffusers pipeline is ``.pipeline``."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.fingerprint = "sha256:" + "0" * 64


def case_sensitive(text: str, **_: Any) -> dict[str, list[int]]:
    """A tokenizer that keeps case (a T5-like second encoder)."""
    return {"input_ids": [ord(c) for c in " ".join(text.split())]}


def drops_punctuation(text: str, **_: Any) -> dict[str, list[int]]:
    """A tokenizer that reads letters, digits and spaces only."""
    kept = "".join(c for c in text if c.isalnum() or c.isspace())
    return {"input_ids": [ord(c) for c in " ".join(kept.split())]}


CLIP = build_clip_tokenizer()


def kept(prompts: list[str], model: Any = None) -> list[str]:
    found = distinct_prompts(prompts, model)
    return [prompts[i] for i in found.positions]


def test_text_rule_is_nfc_and_whitespace() -> None:
    assert normalise_text("  cafe\u0301 \t au\u00a0lait \n") == "café au lait"
    prompts = [
        "café au lait",
        "cafe\u0301 au lait",
        "  café   au\tlait ",
        "Café au lait",
    ]
    found = distinct_prompts(prompts, None)
    assert [prompts[i] for i in found.positions] == ["café au lait", "Café au lait"]
    assert [(d.where, d.of, d.why) for d in found.duplicates] == [
        ("`prompts[1]`", "`prompts[0]`", "same text"),
        ("`prompts[2]`", "`prompts[0]`", "same text"),
    ]


def test_copies_collapse_to_the_first_and_keep_order() -> None:
    prompts = ["b", "a", "b", "c", "a", "b"]
    found = distinct_prompts(prompts, None)
    assert found.positions == (0, 1, 3)
    assert [(d.where, d.of) for d in found.duplicates] == [
        ("`prompts[2]`", "`prompts[0]`"),
        ("`prompts[4]`", "`prompts[1]`"),
        ("`prompts[5]`", "`prompts[0]`"),
    ]


def test_a_lower_casing_tokenizer_merges_case_variants() -> None:
    prompts = ["a red circle", "A Red Circle", "a red circle.", "a blue circle"]
    assert kept(prompts, Pipe(CLIP)) == [
        "a red circle",
        "a red circle.",
        "a blue circle",
    ]
    found = distinct_prompts(
        prompts, Loaded(Pipe(CLIP))
    )  # a LoadedPipeline's .pipeline
    assert [(d.where, d.why) for d in found.duplicates] == [
        ("`prompts[1]`", "same tokens")
    ]
    # without a tokenizer only the text rule applies
    assert kept(prompts) == prompts


def test_every_tokenizer_must_agree() -> None:
    prompts = ["a red circle", "A Red Circle"]
    assert kept(prompts, Pipe(CLIP, case_sensitive)) == prompts
    assert [n for n, _ in tokenizers_of(Pipe(CLIP, case_sensitive))] == [
        "tokenizer",
        "tokenizer_2",
    ]


def test_a_tokenizer_that_drops_trailing_punctuation_merges_it() -> None:
    prompts = ["a red circle", "a red circle!", "a red circle?!"]
    assert kept(prompts, Pipe(drops_punctuation)) == ["a red circle"]


def test_text_past_the_context_is_what_the_model_never_reads() -> None:
    long = "a " * 100
    assert kept([long + "cat", long + "dog"], Pipe(CLIP)) == [long + "cat"]
    assert kept([long + "cat", long + "dog"]) == [long + "cat", long + "dog"]


def test_duplicates_chain_through_either_rule() -> None:
    # [1] equals [0] by text; [2] tokenizes like [1] (case): all one group, kept once
    prompts = ["a red circle", " a  red circle", "A RED CIRCLE"]
    found = distinct_prompts(prompts, Pipe(CLIP))
    assert found.positions == (0,)
    assert [d.of for d in found.duplicates] == ["`prompts[0]`", "`prompts[0]`"]


def test_a_prompt_the_tokenizer_reads_as_nothing_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"`prompts\[1\]` '\?!' is empty to the model's tokenizer"
    ):
        distinct_prompts(["a cat", "?!"], Pipe(drops_punctuation))


def test_a_tokenizer_that_fails_names_the_prompt() -> None:
    def broken(text: str, **_: Any) -> Any:
        raise RuntimeError("vocab missing")

    with pytest.raises(
        ConfigError, match=r"cannot be tokenized by the model's `tokenizer`"
    ):
        distinct_prompts(["a cat"], Pipe(broken))
