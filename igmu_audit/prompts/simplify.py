"""Single edits that make a prompt simpler: what the 1-minimal pass of a shrink tries.

A perturbation adds something (a character, a word, a lookalike letter, a digit for a
letter, a capital); each edit here undoes one such thing anywhere in the prompt: drop
one word, delete one character, put back the Latin letter of a homoglyph or the letter
of a leetspeak digit, lower one capital. Every edit makes the prompt strictly smaller in
``simplicity`` (characters, then words, then non-ASCII characters, then digits and
symbols, then capitals), so repeating edits always ends.

A prompt is **1-minimal** for a predicate when no single edit keeps the predicate true:
``igmu_audit.robustness.shrink_leak`` applies edits greedily until none works.
"""

from __future__ import annotations

from collections.abc import Iterator

from igmu_audit.prompts.perturb import HOMOGLYPHS, LEET

#: lookalike -> the Latin letter it imitates
_UNHOMOGLYPH: dict[str, str] = {
    look: latin for latin, looks in HOMOGLYPHS.items() for look in looks
}
#: leetspeak symbol -> the letters it may stand for
_UNLEET: dict[str, tuple[str, ...]] = {}
for _letter, _symbols in LEET.items():
    for _symbol in _symbols:
        _UNLEET[_symbol] = (*_UNLEET.get(_symbol, ()), _letter)


def simplicity(prompt: str) -> tuple[int, int, int, int, int]:
    """The order shrinking minimises: characters, words, non-ASCII, digits/symbols, capitals."""
    return (
        len(prompt),
        len(prompt.split()),
        sum(not c.isascii() for c in prompt),
        sum(c.isascii() and not c.isalpha() and not c.isspace() for c in prompt),
        sum(c.isupper() for c in prompt),
    )


def simpler(prompt: str) -> Iterator[str]:
    """Every prompt one edit away that is strictly simpler, biggest cuts first.

    Example:
        >>> list(simpler("a b"))[:3]
        ['b', 'a', ' b']
    """
    seen = {prompt}
    key = simplicity(prompt)

    def fresh(candidate: str) -> bool:
        ok = (
            candidate not in seen
            and bool(candidate.strip())
            and simplicity(candidate) < key
        )
        seen.add(candidate)
        return ok

    words = prompt.split(" ")
    for i in range(len(words)):
        candidate = " ".join(words[:i] + words[i + 1 :])
        if fresh(candidate):
            yield candidate
    for i in range(len(prompt)):
        candidate = prompt[:i] + prompt[i + 1 :]
        if fresh(candidate):
            yield candidate
    for i, ch in enumerate(prompt):
        replacements = [_UNHOMOGLYPH[ch]] if ch in _UNHOMOGLYPH else []
        replacements += list(_UNLEET.get(ch, ()))
        if ch.isupper():
            replacements.append(ch.lower())
        for rep in replacements:
            candidate = prompt[:i] + rep + prompt[i + 1 :]
            if fresh(candidate):
                yield candidate
