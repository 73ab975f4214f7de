"""Build Stable Diffusion's CLIP BPE tokenizer offline from open_clip's bundled vocabulary.

Why by hand: no hub is reachable, and open_clip ships the exact BPE merges file that
OpenAI CLIP (and so Stable Diffusion) uses. transformers' ``CLIPTokenizer`` accepts the
vocabulary and merges as objects; the old ``vocab_file=`` keywords are silently ignored
in transformers 5 and give a 2-token tokenizer, so we build both lists in memory.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

#: Context length of Stable Diffusion's text encoder.
MAX_LENGTH = 77


def _bytes_to_unicode() -> dict[int, str]:
    # The byte <-> printable-character table that CLIP's BPE is defined over.
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _vocab_file() -> Any:
    # Found without importing open_clip (which imports torch, timm...): only its data
    # file is needed, so a --no-deps install of open_clip_torch suffices.
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "bpe_simple_vocab_16e6.txt.gz"
        if candidate.is_file():
            return candidate
    return resources.files("open_clip").joinpath("bpe_simple_vocab_16e6.txt.gz")


@lru_cache(maxsize=1)
def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    path = _vocab_file()
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    merges = [tuple(m.split()) for m in lines[1 : 49152 - 256 - 2 + 1]]
    units = list(_bytes_to_unicode().values())
    vocab_list = units + [u + "</w>" for u in units]
    vocab_list += ["".join(m) for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    return {tok: i for i, tok in enumerate(vocab_list)}, [(a, b) for a, b in merges]


def build_clip_tokenizer() -> CLIPTokenizer:
    """Return the 49,408-token CLIP tokenizer that Stable Diffusion uses, built offline.

    Returns:
        A ``transformers.CLIPTokenizer`` with ``model_max_length`` 77 (left unset, the
        pipeline overflows converting ~1e30 to an int).

    Example:
        >>> tok = build_clip_tokenizer()
        >>> tok("a red circle").input_ids
        [49406, 320, 736, 7117, 49407]
    """
    from transformers import CLIPTokenizer

    vocab, merges = _vocab_and_merges()
    # transformers annotates `merges` as list[str]; the BPE model it builds takes the
    # (left, right) pairs that tokenizers itself declares.
    tok = CLIPTokenizer(vocab=dict(vocab), merges=list(merges))  # type: ignore[arg-type]
    tok.model_max_length = MAX_LENGTH
    return tok
