"""Shortest means shortest: the leak reported is the shortest found and 1-minimal (issue 13).

``shrink_leak`` runs on real strategies with a deterministic fake model: a prompt "leaks"
when it contains a word, so the right answer is known.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import strategies as st

from igmu_audit.prompts import paraphrases, translations
from igmu_audit.prompts.simplify import simpler, simplicity
from igmu_audit.robustness import shrink_leak


def contains(*words: str) -> Callable[[str, int], bool]:
    return lambda prompt, seed: any(w in prompt for w in words)


def check_one_minimal(prompt: str, leaks: Callable[[str, int], bool]) -> None:
    assert leaks(prompt, 0)
    assert not [c for c in simpler(prompt) if leaks(c, 0)]


def test_translations_reach_the_bare_foreign_word() -> None:
    # the seed sentence and templates leak too, but the bare words are in the space now
    leaks = contains("教堂", "église")
    strategy = translations(
        "a photo of a church", concept="church", languages=["fr", "zh"]
    )
    found = shrink_leak(strategy, [0, 1], leaks, key="test-translations")
    assert found is not None
    assert found.prompt == "教堂"  # 2 characters: shorter than "église"
    assert found.minimal is True
    check_one_minimal(found.prompt, leaks)
    assert all(leaks(p, s) for p, s in found.trail)
    assert (found.prompt, found.seed) in found.trail
    assert min(len(p) for p, _ in found.trail) == len(found.prompt)


def test_perturbation_junk_is_undone() -> None:
    leaks = contains("church")
    strategy = paraphrases("a church on a hill", concept="church", max_perturbations=2)
    found = shrink_leak(strategy, [0], leaks, key="test-paraphrases")
    assert found is not None
    assert found.prompt == "church"
    check_one_minimal(found.prompt, leaks)


def test_a_measured_leak_with_a_junk_perturbation_shrinks_by_words_and_typos() -> None:
    # "a stripy b lue cross": the space inside "b lue" is an inserted character
    def leaks(prompt: str, seed: int) -> bool:
        return {"stripy", "cross"} <= set(prompt.split())

    nothing = st.sampled_from(["a plain square"])
    found = shrink_leak(
        nothing, [0], leaks, key="test-known", known=[("a stripy b lue cross", 0)]
    )
    assert found is not None
    assert found.prompt == "stripy cross"
    assert found.trail[0] == ("a stripy b lue cross", 0)
    assert found.minimal is True
    check_one_minimal(found.prompt, leaks)


def test_shortest_is_by_characters_then_words_not_shrink_order() -> None:
    found_order = [("an église", 0), ("教堂的", 0), ("a b c", 0)]
    leaks = contains("église", "教堂", "a b c")
    found = shrink_leak(
        st.sampled_from(["zzz"]),
        [0],
        leaks,
        key="test-order",
        known=found_order,
        max_edits=0,
    )
    assert found is not None
    # "教堂的" (3 chars) beats "a b c" (5) and "an église" (9); no edit budget left
    assert found.prompt == "教堂的"
    assert found.minimal is False


def test_nothing_leaking_is_none() -> None:
    assert (
        shrink_leak(st.sampled_from(["a", "b"]), [0], contains("x"), key="test-none")
        is None
    )


@pytest.mark.parametrize(
    "prompt", ["a stripy b lue cross", "ВIG Сhurch", "ch1rch 4 sale", "x"]
)
def test_every_edit_is_strictly_simpler(prompt: str) -> None:
    for candidate in simpler(prompt):
        assert candidate.strip()
        assert simplicity(candidate) < simplicity(prompt)


def test_edits_undo_homoglyphs_leetspeak_and_capitals() -> None:
    edits = set(simpler("Сh1"))  # Cyrillic С, a leet 1
    assert {"Ch1", "Сhi", "Сhl", "h1", "С1", "Сh"} <= edits
