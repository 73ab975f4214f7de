"""Token-level helpers every attack shares: the searchable vocabulary, prompt strings that
re-tokenise exactly, and a text encoder fed soft token embeddings.

Why whole-word tokens only: an attack must return a *real* prompt, a string the model's own
tokenizer turns back into the ids the search chose. CLIP's BPE merges across a word, so an
arbitrary id sequence (``"cer" + "cle</w>"``) need not survive decode -> encode; a token
that ends a word (``</w>``) and decodes to a string that tokenises to exactly itself does,
and such tokens joined by spaces keep their ids. That leaves ~34 k of CLIP's 49,408 tokens.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    import torch

_FULL: weakref.WeakKeyDictionary[Any, tuple[int, ...]] = weakref.WeakKeyDictionary()


def diffusers_pipe(model: Any) -> Any:
    """The diffusers pipeline of a ``LoadedPipeline`` (or the pipeline itself)."""
    return (
        model.pipeline
        if hasattr(model, "pipeline") and hasattr(model, "fingerprint")
        else model
    )


def _round_trips(tokenizer: Any, token_id: int) -> bool:
    token = tokenizer.convert_ids_to_tokens(token_id)
    if not isinstance(token, str) or not token.endswith("</w>"):
        return False
    text = tokenizer.decode([token_id]).strip()
    return bool(text) and list(tokenizer(text, add_special_tokens=False).input_ids) == [
        token_id
    ]


def word_token_ids(
    tokenizer: Any, vocabulary: Sequence[str] | None = None
) -> tuple[int, ...]:
    """The token ids a search may use: whole-word tokens that survive decode -> encode.

    Args:
        tokenizer: the model's CLIP tokenizer.
        vocabulary: restrict to the tokens of these words (an attacker's dictionary);
            ``None``: the whole vocabulary (computed once per tokenizer, ~3 s).

    Raises:
        ConfigError: ``vocabulary`` yields no usable token.
    """
    if vocabulary is None:
        try:
            return _FULL[tokenizer]
        except (KeyError, TypeError):
            pass
        special = set(tokenizer.all_special_ids)
        ids = tuple(
            sorted(
                i
                for i in tokenizer.get_vocab().values()
                if i not in special and _round_trips(tokenizer, i)
            )
        )
        with contextlib.suppress(TypeError):
            _FULL[tokenizer] = ids
        return ids
    if isinstance(vocabulary, str):
        raise ConfigError(
            f"`vocabulary` must be a list of words, got the string {vocabulary!r}"
        )
    found: dict[int, None] = {}
    for word in vocabulary:
        for i in tokenizer(str(word), add_special_tokens=False).input_ids:
            if _round_trips(tokenizer, int(i)):
                found[int(i)] = None
    if not found:
        raise ConfigError(
            f"`vocabulary` gives no whole-word token the tokenizer keeps intact: {list(vocabulary)[:8]!r}"
        )
    return tuple(found)


def compose(tokenizer: Any, token_ids: Sequence[int], prompt: str = "") -> str:
    """The prompt string ``<decoded tokens> <prompt>``; it re-tokenises to ``token_ids + ids(prompt)``."""
    words = " ".join(tokenizer.decode([int(i)]).strip() for i in token_ids)
    return f"{words} {prompt}".strip() if prompt else words


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The prompt's token ids without start / end tokens."""
    return [int(i) for i in tokenizer(prompt, add_special_tokens=False).input_ids]


def input_ids(tokenizer: Any, prompts: Sequence[str]) -> torch.Tensor:
    """Padded ``(B, 77)`` ids exactly as ``StableDiffusionPipeline.encode_prompt`` builds them."""
    ids: torch.Tensor = tokenizer(list(prompts), padding="max_length", max_length=tokenizer.model_max_length,
                                  truncation=True, return_tensors="pt").input_ids  # fmt: skip
    return ids


def ids_from_tokens(tokenizer: Any, rows: torch.Tensor) -> torch.Tensor:
    """``input_ids`` of ``compose(tokenizer, row)`` per row, built without re-tokenising.

    Valid because search tokens round-trip (the ids of the composed string are the row);
    this is what makes a genetic generation of 64 candidates cheap.
    """
    import torch

    n, k = rows.shape
    length = tokenizer.model_max_length
    pad = (
        tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id
    )
    out = torch.full((n, length), pad, dtype=torch.long)
    out[:, 0] = tokenizer.bos_token_id
    out[:, 1 : k + 1] = rows[:, : length - 2]
    out[:, min(k, length - 2) + 1] = tokenizer.eos_token_id
    return out


def encode(
    text_encoder: Any,
    ids: torch.Tensor,
    soft: torch.Tensor | None = None,
    start: int = 1,
) -> torch.Tensor:
    """The text encoder's last hidden state (SD's conditioning), with positions
    ``start .. start + k`` of the token embeddings replaced by ``soft`` ``(k, d)``.

    Why a hook: transformers 5's ``CLIPTextModel.forward`` takes no ``inputs_embeds``;
    replacing the token-embedding layer's output keeps the model's own position
    embeddings, causal mask and final layer norm, and lets gradients reach ``soft``.
    """
    ids = ids.to(text_encoder.device)
    if soft is None:
        plain: torch.Tensor = text_encoder(ids)[0]
        return plain
    k = soft.shape[-2]

    def hook(_module: Any, _args: Any, output: torch.Tensor) -> torch.Tensor:
        import torch

        rows = soft.to(output.dtype).unsqueeze(0).expand(output.shape[0], -1, -1)
        return torch.cat([output[:, :start], rows, output[:, start + k :]], dim=1)

    handle = text_encoder.get_input_embeddings().register_forward_hook(hook)
    try:
        hidden: torch.Tensor = text_encoder(ids)[0]
        return hidden
    finally:
        handle.remove()


def nearest_tokens(
    soft: torch.Tensor, unit_rows: torch.Tensor, candidates: torch.Tensor
) -> torch.Tensor:
    """PEZ projection: per soft vector, the candidate id with the highest cosine similarity
    (``unit_rows``: the candidates' embedding rows, L2-normalised once per search)."""
    import torch.nn.functional as F

    sims = F.normalize(soft.to(unit_rows.dtype), dim=-1) @ unit_rows.T
    return candidates[sims.argmax(dim=-1)]


def random_tokens(
    candidates: torch.Tensor, k: int, generator: torch.Generator
) -> torch.Tensor:
    """``k`` candidate ids drawn uniformly with ``generator``."""
    import torch

    return candidates[torch.randint(len(candidates), (k,), generator=generator)]
