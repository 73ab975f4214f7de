"""Helpers the unlearning methods share: cross-attention lookup, prompt sets, text states.

Why here: ESD-x and UCE both act on the UNet's cross-attention (``attn2``), and every
method draws its erase / retain prompts from the toy vocabulary the same way, so the zoo's
training prompts and the audits' prompts come from one lexicon.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from igmu_audit.pipelines.tokenizer import MAX_LENGTH
from igmu_audit.toyworld.vocabulary import load_vocabulary

if TYPE_CHECKING:
    from torch import nn

#: Marker of the UNet's text-conditioned attention in diffusers parameter names.
CROSS_ATTENTION = ".attn2."


def cross_attention_layers(unet: nn.Module) -> dict[str, nn.Module]:
    """Every cross-attention module of a ``UNet2DConditionModel`` by its module name."""
    return {
        name: module for name, module in unet.named_modules() if name.endswith(".attn2")
    }


def cross_attention_parameters(unet: nn.Module) -> dict[str, nn.Parameter]:
    """The ``attn2`` parameters (q, k, v, out) by state-dict key: ESD-x's trainable set."""
    return {name: p for name, p in unet.named_parameters() if CROSS_ATTENTION in name}


def changed_tensors(
    before: dict[str, torch.Tensor],
    after: dict[str, torch.Tensor],
    dtype: torch.dtype = torch.float16,
) -> dict[str, torch.Tensor]:
    """The entries of ``after`` that differ from ``before``, cast to ``dtype`` (a partial dict)."""
    return {
        key: value.detach().to(dtype).contiguous()
        for key, value in after.items()
        if not torch.equal(value, before[key])
    }


def concept_prompts(
    concept: str,
    n: int,
    *,
    seed: int,
    languages: Sequence[str] = ("en",),
    words: str = "name",
    split: str = "train",
) -> list[str]:
    """``n`` captions naming ``concept`` with random other attributes (vocabulary templates).

    Args:
        concept: a toy concept ("circle", "striped").
        languages: caption languages, drawn uniformly.
        words: ``"name"`` (English name / first translation), ``"synonyms"`` or ``"any"``.
        split: which template set ("train" for unlearning, "test" for measuring).
    """
    from igmu_audit.toyworld.data import caption_and_mentions

    vocab = load_vocabulary()
    attribute = vocab.attribute_of(concept)
    rng = np.random.default_rng(seed)
    prompts: list[str] = []
    while len(prompts) < n:
        parts = {a: str(rng.choice(vocab.classes(a))) for a in vocab.concepts}
        parts[attribute] = concept
        language = str(rng.choice(list(languages)))
        text, mentioned = caption_and_mentions(
            parts["shape"],
            parts["colour"],
            parts["texture"],
            rng=rng,
            language=language,
            split=split,
            words=words,
        )
        if attribute in mentioned:  # texture templates may leave the concept out
            prompts.append(text)
    return prompts


def retain_prompts(concept: str, n: int, *, seed: int, empty: int = 0) -> list[str]:
    """English prompts for the *other* classes of ``concept``'s attribute, plus ``empty`` "".

    Why the empty prompt: classifier-free guidance reads the unconditional prediction
    through the same cross-attention, so a method that moves it moves every image.
    """
    vocab = load_vocabulary()
    others = [c for c in vocab.classes(vocab.attribute_of(concept)) if c != concept]
    per = -(-n // len(others))
    prompts = [
        p
        for k, other in enumerate(others)
        for p in concept_prompts(other, per, seed=seed + 7919 * (k + 1))
    ]
    rng = np.random.default_rng(seed)
    chosen = [prompts[i] for i in rng.permutation(len(prompts))[:n]]
    return chosen + [""] * empty


@torch.no_grad()
def encode_texts(
    text_encoder: nn.Module, tokenizer: Any, texts: Sequence[str]
) -> torch.Tensor:
    """Hidden states (N, 77, D) exactly as ``StableDiffusionPipeline`` encodes prompts."""
    ids = token_ids(tokenizer, texts)
    hidden: torch.Tensor = text_encoder(ids)[0].float()
    return hidden


def token_ids(tokenizer: Any, texts: Sequence[str]) -> torch.Tensor:
    """Padded CLIP token ids (N, 77), as the pipeline tokenises (``tokenizer``: a
    transformers CLIP tokenizer, which carries no usable call signature)."""
    ids: torch.Tensor = tokenizer(
        list(texts),
        padding="max_length",
        max_length=MAX_LENGTH,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    return ids


def paired_prompts(
    concept: str, anchor: str, words: Sequence[str], n: int, *, seed: int
) -> tuple[list[str], list[str]]:
    """English train-template prompts naming ``words`` and the same prompts naming ``anchor``.

    Why pairs: closed-form edits map each concept prompt onto the *same* prompt with the
    anchor word, so the two differ only where the concept is named.
    """
    vocab = load_vocabulary()
    attribute = vocab.attribute_of(concept)
    templates = [
        t for t in vocab.templates["en"]["train"] if "{" + attribute + "}" in t
    ]
    rng = np.random.default_rng(seed)
    old, new = [], []
    for i in range(n):
        template = str(rng.choice(templates))
        fill = {
            a: str(rng.choice(vocab.words(str(rng.choice(vocab.classes(a))), "en")))
            for a in vocab.concepts
            if a != attribute
        }
        old.append(
            " ".join(
                template.format(**fill, **{attribute: words[i % len(words)]}).split()
            )
        )
        new.append(" ".join(template.format(**fill, **{attribute: anchor}).split()))
    return old, new
