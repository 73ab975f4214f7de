"""Red-teaming with Hypothesis strategies: sample variants reproducibly, shrink a leak.

``assert_robust_to(pipeline, strategy, ...)`` measures the attack success rate on a fixed,
derandomised sample of the strategy's prompts (so the verdict is the same on every run
and for any ``-n``), then, if any variant leaked, asks Hypothesis' shrinker for the
shortest (prompt, seed) that still leaks. Every shrink step replays through the image
cache, so revisiting a prompt costs nothing; the leak found is saved in Hypothesis'
example database (outside the ``igmu-ci`` profile) and replayed first next time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from igmu_audit.errors import ConfigError


def is_strategy(value: Any) -> bool:
    """Whether ``value`` is a Hypothesis strategy (without importing Hypothesis needlessly)."""
    import sys

    if "hypothesis" not in sys.modules:
        return False
    from hypothesis.strategies import SearchStrategy

    return isinstance(value, SearchStrategy)


def sample_variants(strategy: Any, n: int, *, model: Any = None) -> list[str]:
    """``n`` distinct examples of ``strategy``, identical on every run (derandomised).

    Distinct as ``igmu_audit.prompts.dedupe`` means it: an example equal to an earlier one
    after text normalisation, or tokenized alike by ``model``'s tokenizers, draws the same
    images and is skipped, so ``n`` variants are ``n`` different conditionings.
    Hypothesis may find fewer distinct examples than asked (a small lexicon); then all of
    them are returned.
    """
    from hypothesis import HealthCheck, Phase, given, settings

    from igmu_audit.prompts.dedupe import prompt_keys

    keys_of = prompt_keys(model)
    found: list[Any] = []
    seen: set[Any] = set()
    errors: list[ConfigError] = []

    @settings(max_examples=n * 4, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def collect(prompt: str) -> None:
        if len(found) >= n or errors:
            return
        if not isinstance(prompt, str) or not prompt.strip():
            found.append(prompt)  # check_prompts rejects it, naming its position
            return
        try:
            keys = keys_of(prompt, "a strategy example")
        except (
            ConfigError
        ) as exc:  # raised below, not inside Hypothesis (it would shrink it)
            errors.append(exc)
            return
        if not seen.intersection(keys):
            found.append(prompt)
        seen.update(keys)

    collect()
    if errors:
        raise errors[0]
    if not found:
        raise ConfigError(f"the strategy {strategy!r} produced no prompts")
    return found


@dataclass(frozen=True, slots=True)
class ShrunkLeak:
    """The shortest leaking (prompt, seed) Hypothesis found, and how many calls it took."""

    prompt: str
    seed: int
    calls: int


def shrink_leak(
    strategy: Any,
    seeds: Sequence[int],
    leaks: Callable[[str, int], bool],
    *,
    key: str,
    max_examples: int = 200,
) -> ShrunkLeak | None:
    """Shrink to the shortest prompt (and smallest seed) for which ``leaks`` holds.

    Args:
        strategy: the prompt strategy.
        seeds: seeds to draw from (shrinks toward the first).
        leaks: ``(prompt, seed) -> bool``: does this image show the concept?
        key: identifies model + strategy + detector in the example database.
        max_examples: budget of new examples to try before giving up.
    """
    from hypothesis import find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    from igmu_audit.prompts.strategies import profile_for_environment, register_profiles

    register_profiles()
    profile = settings.get_profile(profile_for_environment())
    calls = 0

    def condition(pair: tuple[str, int]) -> bool:
        nonlocal calls
        calls += 1
        return leaks(*pair)

    try:
        prompt, seed = find(
            st.tuples(strategy, st.sampled_from(list(seeds))),
            condition,
            settings=settings(profile, max_examples=max_examples, deadline=None),
            database_key=hashlib.sha256(key.encode()).digest(),
        )
    except NoSuchExample:
        return None
    return ShrunkLeak(prompt, seed, calls)
