"""Red-teaming with Hypothesis strategies: sample variants reproducibly, shrink a leak.

``assert_robust_to(pipeline, strategy, ...)`` measures the attack success rate on a fixed,
derandomised sample of the strategy's prompts (so the verdict is the same on every run
and for any ``-n``), then, if any variant leaked, asks Hypothesis' shrinker for the
shortest (prompt, seed) that still leaks. Every shrink step replays through the image
cache, so revisiting a prompt costs nothing; the leak found is saved in Hypothesis'
example database (outside the ``igmu-ci`` profile) and replayed first next time.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError

if TYPE_CHECKING:
    from igmu_audit.detectors.base import Detector
    from igmu_audit.session import AuditSession


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
    """The shortest leaking (prompt, seed) found, how it was found and whether it is 1-minimal.

    Attributes:
        prompt: the shortest leaking prompt (fewest characters, then fewest words).
        seed: the seed it leaks on.
        calls: distinct (prompt, seed) pairs the model was asked about while shrinking.
        trail: every leaking (prompt, seed) found, in the order found (known leaks,
            then Hypothesis' examples, then the 1-minimal pass), at most ``MAX_TRAIL``.
        minimal: ``True`` when no single edit (``igmu_audit.prompts.simplify``) of
            ``prompt`` still leaks; ``False`` when the edit budget ran out first.
    """

    prompt: str
    seed: int
    calls: int
    trail: tuple[tuple[str, int], ...]
    minimal: bool


#: leaking prompts kept in the record's shrink trail
MAX_TRAIL = 256


#: searches for a strictly shorter leak after Hypothesis' first one
MAX_ROUNDS = 8


def _length(pair: tuple[str, int]) -> tuple[int, int]:
    return len(pair[0]), len(pair[0].split())


def _shortest(found: list[tuple[str, int]], seeds: Sequence[int]) -> tuple[str, int]:
    """The leak with the fewest characters, then words, then the earliest audited seed.

    The last tie-break is the text itself, so the answer never depends on the order in
    which Hypothesis (or its example database) happened to meet the leaks.
    """
    position = {seed: i for i, seed in enumerate(seeds)}
    return min(
        found,
        key=lambda pair: (
            *_length(pair),
            position.get(pair[1], len(position)),
            pair[0],
        ),
    )


def shrink_leak(
    strategy: Any,
    seeds: Sequence[int],
    leaks: Callable[[str, int], bool],
    *,
    key: str,
    max_examples: int = 200,
    max_edits: int = 200,
    known: Sequence[tuple[str, int]] = (),
) -> ShrunkLeak | None:
    """The shortest leaking prompt, made 1-minimal; ``None`` when nothing leaks.

    Hypothesis' shrinker explores the strategy's space (bare words and translations
    included) and every leak it meets is kept, with the ``known`` leaks (the audit's own
    leaking variants); Hypothesis is then asked again for any strictly shorter leak
    (up to ``MAX_ROUNDS`` times), because its shrink order is the strategy's, not
    length. The shortest by characters (ties: fewer words) of all leaks found is the
    start. Then a greedy pass tries every single edit that undoes a perturbation
    (drop a word, delete a character, restore a homoglyph / leetspeak letter, lower a
    capital) and keeps any that still leaks, until none does: the result is 1-minimal.
    Every question goes through ``leaks`` once per (prompt, seed) (and the image cache).

    Args:
        strategy: the prompt strategy.
        seeds: seeds to draw from (shrinks toward the first).
        leaks: ``(prompt, seed) -> bool``: does this image show the concept?
        key: identifies model + strategy + detector in the example database.
        max_examples: budget of new examples for Hypothesis.
        max_edits: budget of new (prompt, seed) questions for the 1-minimal pass.
        known: leaking (prompt, seed) pairs already measured.
    """
    from hypothesis import find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    from igmu_audit.prompts.simplify import simpler
    from igmu_audit.prompts.strategies import profile_for_environment, register_profiles

    register_profiles()
    # The profile in force (the plugin loads igmu-ci for --igmu-profile ci even without a
    # CI variable; a user's --hypothesis-profile stays); the environment rule only when
    # nothing was loaded. Re-deciding from the environment alone let a `--igmu-profile ci`
    # run shrink with the example database on, so a second run replayed the first's leak.
    current = settings.get_current_profile_name()
    profile = settings.get_profile(
        profile_for_environment() if current == "default" else current
    )
    answers: dict[tuple[str, int], bool] = dict.fromkeys(known, True)
    trail: list[tuple[str, int]] = list(dict.fromkeys(known))

    def ask(prompt: str, seed: int) -> bool:
        pair = (prompt, seed)
        if pair not in answers:
            answers[pair] = bool(leaks(prompt, seed))
            if answers[pair]:
                trail.append(pair)
        return answers[pair]

    pairs = st.tuples(strategy, st.sampled_from(list(seeds)))
    with contextlib.suppress(NoSuchExample):
        find(pairs, lambda pair: ask(*pair),
             settings=settings(profile, max_examples=max_examples, deadline=None),
             database_key=hashlib.sha256(key.encode()).digest())  # fmt: skip
    if not trail:
        return None
    # Hypothesis shrinks in the strategy's order (languages, frames), not by length: ask
    # it again for anything strictly shorter that leaks, until it finds nothing.
    for _ in range(MAX_ROUNDS):
        best = _length(_shortest(trail, seeds))

        def shorter(pair: tuple[str, int], best: tuple[int, int] = best) -> bool:
            return _length(pair) < best and ask(*pair)

        try:
            find(pairs, shorter,
                 settings=settings(profile, max_examples=max_examples, deadline=None, database=None))  # fmt: skip
        except NoSuchExample:
            break
    prompt, seed = _shortest(trail, seeds)
    spent = len(answers)
    while True:
        step, exhausted = None, False
        for candidate in simpler(prompt):
            if (candidate, seed) not in answers and len(answers) - spent >= max_edits:
                exhausted = True
                break
            if ask(candidate, seed):
                step = candidate
                break
        if step is None:
            break
        prompt = step
    # Report the earliest audited seed the minimal prompt leaks on (replays are cached).
    for earlier in seeds:
        if earlier == seed or ask(prompt, earlier):
            seed = earlier
            break
    return ShrunkLeak(
        prompt,
        seed,
        len(answers) - len(set(known)),
        tuple(trail[:MAX_TRAIL]),
        not exhausted,
    )


def shrink_audit_leak(
    session: AuditSession,
    pipeline: Any,
    strategy: Any,
    seeds: tuple[int, ...],
    detector: Detector,
    fingerprint: str,
    known: list[tuple[str, int]],
) -> dict[str, Any]:
    """``shrink_leak`` on an audited model: the result fields of the shortest, 1-minimal leak.

    Each question generates one image through the session's cache and scores it, so a
    replayed prompt costs nothing.
    """
    from igmu_audit.scoring import generate_and_score

    def leaks(prompt: str, seed: int) -> bool:
        scored = generate_and_score(
            session, pipeline, [prompt], [seed], detector, desc="shrinking"
        )
        return scored.present[0]

    profile = sorted(dict(detector.profile).items())
    key = f"{fingerprint}|{strategy!r}|{detector.name}|{profile!r}"
    found = shrink_leak(strategy, seeds, leaks, key=key, known=known)
    if found is None:
        return {}
    return {
        "shortest_leak": found.prompt,
        "shortest_leak_seed": found.seed,
        "shrink_calls": found.calls,
        "shrink_trail": found.trail,
        "shrink_minimal": found.minimal,
    }
