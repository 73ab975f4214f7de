"""Distinct prompts: drop the ones that draw the same images as an earlier one.

Why: an audit's ``n`` is a count of independent images. ``[prompt] * 40`` with two seeds
is two images, and counting it as 80 would shrink the interval with no new evidence,
so a leak rate could PASS on copies. Two prompts are duplicates when

* their texts are equal after Unicode NFC normalisation and whitespace normalisation
  (strip, collapse runs of whitespace), or
* every tokenizer of the model (``tokenizer``, ``tokenizer_2``, ``tokenizer_3``) maps
  them to the same token ids, truncated where the pipeline truncates: they condition the
  model identically (case for a lower-casing CLIP tokenizer, say).

The first of each group is kept, verbatim and in order; the rest are reported as
``Duplicate``\\ s. With no tokenizer at hand only the text rule applies.
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError, DuplicatePromptsWarning

if TYPE_CHECKING:
    from types import FrameType

#: Tokenizer attributes of diffusers pipelines (SD / SDXL / SD3 / Flux): every one conditions the image.
TOKENIZER_NAMES = ("tokenizer", "tokenizer_2", "tokenizer_3")
#: A ``model_max_length`` above this is transformers' "unset" sentinel (~1e30): no truncation.
_UNSET_LENGTH = 1_000_000
#: How many duplicates a warning names before it says "and N more".
SHOWN = 3

Key = tuple[str, Hashable]
Keys = Callable[[str], list[Key]]


def normalise_text(prompt: str) -> str:
    """NFC, stripped, every run of whitespace one space: what no text encoder tells apart."""
    return " ".join(unicodedata.normalize("NFC", prompt).split())


def tokenizers_of(model: Any) -> list[tuple[str, Any]]:
    """(attribute, tokenizer) of a ``LoadedPipeline`` or bare diffusers pipeline; [] for neither."""
    pipe = getattr(model, "pipeline", model)
    found = []
    for name in TOKENIZER_NAMES:
        tok = getattr(pipe, name, None)
        if tok is not None and callable(tok):
            found.append((name, tok))
    return found


def _ids(name: str, tok: Any, prompt: str, where: str) -> tuple[int, ...]:
    """The ids ``tok`` gives ``prompt``, cut where diffusers cuts (``model_max_length``)."""
    limit = getattr(tok, "model_max_length", None)
    options: dict[str, Any] = {}
    if isinstance(limit, int) and 0 < limit < _UNSET_LENGTH:
        options = {"truncation": True, "max_length": limit}
    try:
        return tuple(int(i) for i in tok(prompt, **options)["input_ids"])
    except Exception as exc:
        raise ConfigError(
            f"{where} {prompt!r} cannot be tokenized by the model's `{name}` "
            f"({type(exc).__name__}: {exc}); the pipeline could not draw it either"
        ) from exc


def prompt_keys(model: Any) -> Callable[[str, str], list[Key]]:
    """``(prompt, where) -> keys``: two prompts sharing any key draw the same images.

    Raises ``ConfigError`` for a prompt the tokenizers read as nothing at all (it would
    draw the unconditional image, whatever the prompt says).
    """
    tokenizers = tokenizers_of(model)
    empty: list[Any] = []  # the ids of "", computed once, after the first prompt's

    def keys(prompt: str, where: str) -> list[Key]:
        out: list[Key] = [("same text", normalise_text(prompt))]
        if tokenizers:
            ids = tuple(_ids(n, t, prompt, where) for n, t in tokenizers)
            if not empty:
                empty.append(
                    tuple(_ids(n, t, "", "the empty prompt") for n, t in tokenizers)
                )
            if ids == empty[0]:
                names = ", ".join(f"`{n}`" for n, _ in tokenizers)
                raise ConfigError(
                    f"{where} {prompt!r} is empty to the model's tokenizer ({names}): it would draw "
                    "the unconditional image; remove it or write the words it should draw"
                )
            out.append(("same tokens", ids))
        return out

    return keys


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A prompt dropped before generation because an earlier one draws the same images.

    Attributes:
        where: the dropped prompt's place in the arguments (``prompts[3]``).
        prompt: its text.
        of: the place of the kept prompt it repeats (``prompts[0]``).
        of_prompt: the kept prompt's text.
        why: ``"same text"`` (equal after Unicode NFC and whitespace normalisation) or
            ``"same tokens"`` (every tokenizer of the model maps both to the same ids).
    """

    where: str
    prompt: str
    of: str
    of_prompt: str
    why: str

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the verdict record."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Distinct:
    """What survives de-duplication.

    Attributes:
        positions: positions (in the sequence given) of the items kept, in order.
        duplicates: each dropped item with the kept one it repeats.
    """

    positions: tuple[int, ...]
    duplicates: tuple[Duplicate, ...]


def first_of_each(
    keys: Sequence[list[Key]], where: Sequence[str], texts: Sequence[str]
) -> Distinct:
    """Keep the first item of every group of items sharing a key (keys may chain groups)."""
    owner: dict[Key, int] = {}
    kept: list[int] = []
    dropped: list[Duplicate] = []
    for i, item_keys in enumerate(keys):
        hit = next(((k[0], owner[k]) for k in item_keys if k in owner), None)
        if hit is None:
            kept.append(i)
            group = i
        else:
            why, group = hit
            dropped.append(
                Duplicate(where[i], texts[i], where[group], texts[group], why)
            )
        for k in item_keys:
            owner.setdefault(k, group)
    return Distinct(tuple(kept), tuple(dropped))


def distinct_prompts(
    prompts: Sequence[str], model: Any, argument: str = "prompts"
) -> Distinct:
    """The prompts of a flat list that draw distinct images on ``model``."""
    where = [f"`{argument}[{i}]`" for i in range(len(prompts))]
    keys = prompt_keys(model)
    return first_of_each(
        [keys(p, w) for p, w in zip(prompts, where, strict=True)], where, prompts
    )


def warn_dropped(
    assertion: str, duplicates: Sequence[Duplicate], kept: int, noun: str = "prompt"
) -> None:
    """One ``DuplicatePromptsWarning`` naming the first few duplicates and the count kept."""
    if not duplicates:
        return
    shown = "; ".join(
        f"{d.where} {d.prompt!r} repeats {d.of} {d.of_prompt!r} ({d.why})"
        for d in duplicates[:SHOWN]
    )
    more = f"; and {len(duplicates) - SHOWN} more" if len(duplicates) > SHOWN else ""
    warnings.warn(
        f"{assertion}: dropped {len(duplicates)} duplicate {noun}(s) before generation, "
        f"kept {kept} distinct (n counts distinct images only): {shown}{more}. "
        f"fix: remove the repeats (result.duplicates lists them all)",
        DuplicatePromptsWarning,
        stacklevel=user_stacklevel(),
    )


def user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside igmu_audit."""
    import sys

    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(
        "igmu_audit"
    ):
        frame, level = frame.f_back, level + 1
    return level
