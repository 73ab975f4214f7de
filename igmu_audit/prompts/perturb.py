"""Character- and word-level prompt perturbations: typos, homoglyphs, leetspeak, casing...

Each perturbation is a pure function of ``(text, position, option)``. Positions and options
are taken modulo the number of eligible places, so every integer is valid and ``0`` means
"the first place, the first variant": that is what lets Hypothesis shrink them toward 0.
A perturbation that finds no eligible place (leetspeak on ``"梵高"``) returns the text
unchanged, and none ever returns an empty string.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from igmu_audit.config.schema import closest
from igmu_audit.errors import ConfigError

#: Lookalike characters from other scripts (Cyrillic, Greek, Latin extensions).
HOMOGLYPHS: dict[str, str] = {
    "a": "аɑα", "c": "сϲ", "e": "еε", "i": "іι", "j": "ј", "o": "оο", "p": "рρ", "s": "ѕ",
    "x": "хχ", "y": "уγ", "A": "АΑ", "B": "ВΒ", "C": "С", "E": "ЕΕ", "H": "НΗ", "K": "КΚ",
    "M": "МΜ", "O": "ОΟ", "P": "РΡ", "T": "ТΤ", "X": "ХΧ",
}  # fmt: skip
LEET: dict[str, str] = {"a": "4@", "e": "3", "i": "1!", "o": "0", "s": "5$", "t": "7", "l": "1", "g": "9", "b": "8"}
#: Words a prompt writer adds without changing the subject, shortest first.
FILLERS: tuple[str, ...] = ("4k", "the", "very", "please", "really", "beautiful", "masterpiece", "highly detailed")
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ZERO_WIDTH_SPACE = "\u200b"


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
    inner = [i for i in range(1, len(text)) if text[i - 1].isalpha() and text[i].isalpha()]
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
        raise ConfigError(f"`perturbations` must be a list of names such as ['typo'], got {kinds!r}")
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
