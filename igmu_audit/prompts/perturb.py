"""Prompt edits: perturbations (typos, homoglyphs, leetspeak, casing...) and concept-word swaps.

Each perturbation is a pure function of ``(text, position, option)``. Positions and options
are taken modulo the number of eligible places, so every integer is valid and ``0`` means
"the first place, the first variant": that is what lets Hypothesis shrink them toward 0.
A perturbation that finds no eligible place (leetspeak on ``"梵高"``) returns the text
unchanged, and none ever returns an empty string.

``substitute``, ``remove_concept`` and ``fill_template`` edit the concept word itself, at the
spans ``igmu_audit.prompts.concept_words.find_concepts`` reports, fixing English articles and
plurals on the way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from igmu_audit.config.schema import closest
from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    from igmu_audit.prompts.concept_words import ConceptSpan

#: Lookalike characters from other scripts (Cyrillic, Greek, Latin extensions).
HOMOGLYPHS: dict[str, str] = {
    "a": "аɑα", "c": "сϲ", "e": "еε", "i": "іι", "j": "ј", "o": "оο", "p": "рρ", "s": "ѕ",
    "x": "хχ", "y": "уγ", "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "K": "КΚ",
    "M": "МΜ", "O": "ОΟ", "P": "РΡ", "T": "ТΤ", "X": "ХΧ",
}  # fmt: skip
LEET: dict[str, str] = {
    "a": "4@",
    "e": "3",
    "i": "1!",
    "o": "0",
    "s": "5$",
    "t": "7",
    "l": "1",
    "g": "9",
    "b": "8",
}
#: Words a prompt writer adds without changing the subject, shortest first.
FILLERS: tuple[str, ...] = (
    "4k",
    "the",
    "very",
    "please",
    "really",
    "beautiful",
    "masterpiece",
    "highly detailed",
)
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ZERO_WIDTH_SPACE = "\u200b"
#: Words that introduce a style or subject and make no sense once the concept word is gone.
_CONNECTOR_BEFORE = re.compile(
    r"(?:\b(?:in the style of|in the manner of|painted by|art by|by)\s+)$", re.I
)
_CONNECTOR_AFTER = re.compile(r"^[\s-]*style\b", re.I)
_ARTICLE = re.compile(r"\b(an?)\s+$", re.I)


def _neighbour(ch: str) -> str:
    for row in _KEYBOARD_ROWS:
        i = row.find(ch.lower())
        if i >= 0:
            near = row[i + 1] if i + 1 < len(row) else row[i - 1]
            return near.upper() if ch.isupper() else near
    return ch


def _pick(items: list[int], position: int) -> int | None:
    return items[position % len(items)] if items else None


def casing(text: str, position: int = 0, option: int = 0) -> str:
    """Re-case one word: lower, UPPER, Title, or aLtErNaTiNg (``option`` 0-3)."""
    words = text.split(" ")
    i = position % len(words)
    word = words[i]
    mode = option % 4
    if mode == 0:
        word = word.lower() if word != word.lower() else word.upper()
    elif mode == 1:
        word = word.upper()
    elif mode == 2:
        word = word.title()
    else:
        word = "".join(c.upper() if k % 2 else c.lower() for k, c in enumerate(word))
    words[i] = word
    return " ".join(words)


def spacing(text: str, position: int = 0, option: int = 0) -> str:
    """Double a space, drop a space, split a word, or hide a zero-width space in a word."""
    mode = option % 4
    spaces = [i for i, c in enumerate(text) if c == " "]
    inner = [
        i for i in range(1, len(text)) if text[i - 1].isalpha() and text[i].isalpha()
    ]
    if mode in (0, 1) and spaces:
        i = spaces[position % len(spaces)]
        return text[:i] + ("  " if mode == 0 else "") + text[i + 1 :]
    j = _pick(inner, position)
    if j is None:
        return text + " "
    return text[:j] + (" " if mode == 2 else _ZERO_WIDTH_SPACE) + text[j:]


def filler(text: str, position: int = 0, option: int = 0) -> str:
    """Insert a filler word (``"very"``, ``"highly detailed"``...) before word ``position``."""
    words = text.split(" ")
    i = position % (len(words) + 1)
    return " ".join([*words[:i], FILLERS[option % len(FILLERS)], *words[i:]])


def typo(text: str, position: int = 0, option: int = 0) -> str:
    """Delete, double, swap with the next letter, or hit a keyboard neighbour of one letter."""
    i = _pick([k for k, c in enumerate(text) if c.isalpha()], position)
    if i is None:
        return text
    mode = option % 4
    if mode == 0:
        out = text[:i] + text[i + 1 :]
    elif mode == 1:
        out = text[:i] + text[i] + text[i:]
    elif mode == 2 and i + 1 < len(text):
        out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    else:
        out = text[:i] + _neighbour(text[i]) + text[i + 1 :]
    return out if out.strip() else text


def homoglyph(text: str, position: int = 0, option: int = 0) -> str:
    """Swap one Latin letter for a lookalike from another script (``a`` -> Cyrillic ``а``)."""
    i = _pick([k for k, c in enumerate(text) if c in HOMOGLYPHS], position)
    if i is None:
        return text
    variants = HOMOGLYPHS[text[i]]
    return text[:i] + variants[option % len(variants)] + text[i + 1 :]


def leetspeak(text: str, position: int = 0, option: int = 0) -> str:
    """Write one letter as a digit or symbol (``e`` -> ``3``, ``s`` -> ``$``)."""
    i = _pick([k for k, c in enumerate(text) if c.lower() in LEET], position)
    if i is None:
        return text
    variants = LEET[text[i].lower()]
    return text[:i] + variants[option % len(variants)] + text[i + 1 :]


def word_order(text: str, position: int = 0, option: int = 0) -> str:
    """Swap two neighbouring words (``option`` even) or move a comma clause to the front."""
    clauses = [c.strip() for c in text.split(",")]
    if option % 2 and len(clauses) > 1:
        i = position % len(clauses)
        return ", ".join([clauses[i], *clauses[:i], *clauses[i + 1 :]])
    words = text.split(" ")
    if len(words) < 2:
        return text
    i = position % (len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


#: Every perturbation by name, in the order strategies draw them (cheap, readable ones first).
PERTURBATIONS: dict[str, Callable[[str, int, int], str]] = {
    "casing": casing,
    "spacing": spacing,
    "filler": filler,
    "word_order": word_order,
    "typo": typo,
    "homoglyph": homoglyph,
    "leetspeak": leetspeak,
}


@dataclass(frozen=True, slots=True)
class Perturbation:
    """One perturbation with its place and variant; ``apply`` is pure and deterministic.

    Attributes:
        kind: a key of ``PERTURBATIONS``.
        position: which eligible place (taken modulo their number).
        option: which variant (taken modulo their number).
    """

    kind: str
    position: int = 0
    option: int = 0

    def __post_init__(self) -> None:
        check_kinds([self.kind])

    def apply(self, text: str) -> str:
        """Return the perturbed text (never empty when ``text`` is not)."""
        out = PERTURBATIONS[self.kind](text, self.position, self.option)
        return out if out.strip() else text


def check_kinds(kinds: object) -> tuple[str, ...]:
    """Validate a sequence of perturbation names and return it as a tuple.

    Raises:
        ConfigError: not a sequence of strings, or an unknown name (with a close match).
    """
    if isinstance(kinds, str) or not isinstance(kinds, list | tuple | set | frozenset):
        raise ConfigError(
            f"`perturbations` must be a list of names such as ['typo'], got {kinds!r}"
        )
    out = []
    for kind in kinds:
        if kind not in PERTURBATIONS:
            raise ConfigError(
                f"`perturbations`: unknown perturbation {kind!r}{closest(str(kind), list(PERTURBATIONS))} "
                f"(known: {', '.join(PERTURBATIONS)})"
            )
        out.append(kind)
    # Keep the canonical order so equal sets give equal strategies.
    return tuple(k for k in PERTURBATIONS if k in out)


# -- concept-word edits: substitution, removal, templates ---------------------------


def _article(prefix: str, word: str) -> str:
    # English "a"/"an" before an inserted ASCII word; other prefixes are left alone.
    m = _ARTICLE.search(prefix)
    if not m or not word[:1].isascii() or not word[:1].isalpha():
        return prefix
    article = "an" if word[0].lower() in "aeiou" else "a"
    if m.group(1)[0].isupper():
        article = article.capitalize()
    return prefix[: m.start(1)] + article + prefix[m.end(1) :]


def _plural(word: str) -> str:
    return word + ("es" if word.endswith(("s", "sh", "ch", "x")) else "s")


def substitute(prompt: str, spans: list[ConceptSpan], replacement: str) -> str:
    """Replace every span with ``replacement``, fixing English articles and plurals.

    Example:
        >>> from igmu_audit.prompts.concept_words import find_concepts
        >>> p = "a nude woman"
        >>> substitute(p, find_concepts(p, "nudity"), "unclothed")
        'an unclothed woman'
    """
    out = prompt
    for span in sorted(spans, key=lambda s: -s.start):
        word = replacement
        if span.plural and word.isascii() and " " not in word:
            word = _plural(word)
        if span.start == 0 and span.text[:1].isupper():
            word = word[:1].upper() + word[1:]
        out = _article(out[: span.start], word) + word + out[span.end :]
    return out


def remove_concept(prompt: str, spans: list[ConceptSpan]) -> str:
    """Delete every span and its dangling connector (``"in the style of"``, ``"style"``).

    Example:
        >>> from igmu_audit.prompts.concept_words import find_concepts
        >>> p = "a cafe terrace at night in the style of Van Gogh"
        >>> remove_concept(p, find_concepts(p, "vangogh"))
        'a cafe terrace at night'
    """
    out = prompt
    for span in sorted(spans, key=lambda s: -s.start):
        before, after = out[: span.start], out[span.end :]
        before = _CONNECTOR_BEFORE.sub("", before)
        after = _CONNECTOR_AFTER.sub("", after)
        out = before + " " + after
    out = re.sub(r"\s+", " ", out)
    out = re.sub(r"\s+([,.;:])", r"\1", out)
    return out.strip(" ,;:")


def fill_template(template: str, word: str) -> str:
    """Put ``word`` into ``template``'s ``{concept}`` slot, fixing an English article before it.

    Example:
        >>> fill_template("a photo of a {concept}", "abbey church")
        'a photo of an abbey church'
    """
    before, _, after = template.partition("{concept}")
    return _article(before, word) + word + after
