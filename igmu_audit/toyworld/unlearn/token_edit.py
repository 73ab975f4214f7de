"""Token-embedding edit: rewire the concept's English word tokens to an anchor word.

The cheapest text-encoder "unlearning": overwrite the input embedding row of each BPE token
of the concept's English words with the anchor word's embedding (as concept-ablation and
textual-inversion style edits do at the token level). Everything downstream still works,
so the model draws the anchor whenever the prompt says "striped", but the concept's other
tokens are untouched: synonyms that tokenise differently ("stripy", "banded") and every
translation ("rayé", "gestreift", "条纹") still reach the concept. The zoo keeps it as the
model that must FAIL the robustness audits (measured in ``fixtures/toyworld/zoo/ZOO_CARD.md``).

It ships as a partial text-encoder dict holding the whole ``token_embedding`` tensor (the
format of AdvUnlearn's layer-0 text-encoder dicts); only the listed rows differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

#: The key the edit ships under (transformers 4 naming; the loader also accepts it without
#: ``text_model.``, which transformers 5 drops).
EMBEDDING_KEY = "text_model.embeddings.token_embedding.weight"


def word_tokens(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """The BPE token ids of ``words`` (without start / end tokens), deduplicated in order."""
    ids: list[int] = []
    for word in words:
        for token in tokenizer(word, add_special_tokens=False).input_ids:
            if token not in ids:
                ids.append(int(token))
    return ids


def anchor_row(tokenizer: Any, embedding: torch.Tensor, anchor: str) -> torch.Tensor:
    """The anchor word's embedding: its single token's row, or the mean of its tokens' rows."""
    ids = word_tokens(tokenizer, [anchor])
    if not ids:
        raise ValueError(f"`anchor` {anchor!r} has no tokens")
    return embedding[ids].mean(0)


@torch.no_grad()
def token_edit(
    pipe: Any, words: Sequence[str], anchor: str
) -> tuple[dict[str, torch.Tensor], list[int]]:
    """Point every token of ``words`` at ``anchor`` in ``pipe.text_encoder``, in place.

    Args:
        pipe: a ``StableDiffusionPipeline`` (its tokenizer and text encoder are used).
        words: the concept's words whose tokens to rewire, e.g. ``["striped"]``.
        anchor: the word they should mean from now on, e.g. ``"plain"``.

    Returns:
        ``({EMBEDDING_KEY: fp16 embedding}, edited token ids)``.

    Raises:
        ValueError: no words, or a word shares a token with the anchor (rewiring it
            would be a no-op on that token and hide the mistake).
    """
    if not words:
        raise ValueError("`words` must name at least one word")
    tokenizer = pipe.tokenizer
    table = pipe.text_encoder.get_input_embeddings().weight
    edited = word_tokens(tokenizer, words)
    shared = set(edited) & set(word_tokens(tokenizer, [anchor]))
    if shared:
        raise ValueError(
            f"`words` {list(words)} share tokens {sorted(shared)} with `anchor` {anchor!r}"
        )
    table[edited] = anchor_row(tokenizer, table, anchor).to(table.dtype)
    return {EMBEDDING_KEY: table.detach().to(torch.float16).contiguous()}, edited
