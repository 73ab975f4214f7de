"""Judge a leak rate (forgetting, robustness, attack success) against ``max_rate``.

Why a module of its own: the interval a rate is judged on (prompts as clusters by
default, ``metrics/functional/clustered.py``), the sequential look it belongs to and the
planning note of an undecided verdict are one rule, used by every leak audit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from igmu_audit.results import Check, Threshold, decide

if TYPE_CHECKING:
    from igmu_audit.metrics.functional.clustered import ClusterDesign


def leak_rate_check(
    clusters: tuple[Sequence[int], Sequence[int]],
    threshold: Threshold,
    confidence: float,
    *,
    metric: str = "rate",
    interval: str = "clustered",
    looks: int = 1,
) -> Check:
    """The ``Check`` of a leak rate from per-prompt ``(hits, images)``.

    ``interval="clustered"`` treats prompts as clusters of seeds; ``"independent"``
    treats every image (or, for attacks, every prompt) as one independent draw. Each of
    ``looks`` sequential looks is judged at the Bonferroni level ``1 - (1 - conf)/looks``.
    """
    from igmu_audit.metrics.functional.clustered import rate_interval

    hits, sizes = clusters
    k, n = int(sum(hits)), int(sum(sizes))
    iv, design = rate_interval(hits, sizes, confidence, interval, looks)
    verdict = decide(iv, threshold.value, "<=")
    note = ""
    if verdict == "inconclusive":
        note = _plan(k, n, len(sizes), threshold.value, iv.confidence, design)
    elif design is not None and design.icc is None:
        note = f"ICC not estimable ({k} of {n} images show the concept): each prompt counted as one draw"
    return Check(metric, k / n, iv, threshold, "<=", verdict, n, note)


def _plan(
    k: int,
    n: int,
    prompts: int,
    threshold: float,
    level: float,
    design: ClusterDesign | None,
) -> str:
    """How much more evidence a decision needs, in the unit that supplies it."""
    from igmu_audit.metrics.functional.intervals import samples_needed

    rate = k / n
    needed = samples_needed(rate, threshold, level, "clopper-pearson")
    zero = samples_needed(0.0, threshold, level, "clopper-pearson")
    head = f"{k} of {n} images show the concept"
    if design is None:
        at_rate = f"about {needed} images" if needed else "no feasible number of images"
        return (
            f"{head}; to decide at this rate you need {at_rate}; with zero hits, {zero} "
            "images would do. fix: more seeds (--igmu-seeds) or more prompts"
        )
    seeds = n / prompts
    deff = design.design_effect
    limit = design.n_effective_limit
    if needed is None:
        return (
            f"{head}; the rate sits at the threshold: no number of images decides. "
            "fix: more prompts"
        )
    more_prompts = math.ceil(needed * deff / seeds)
    text = (
        f"{head} (n_eff {n / deff:.1f}: hits cluster by prompt, deff {deff:.2g}); to decide "
        f"at this rate you need n_eff ≈ {needed}, about {more_prompts} distinct prompts at "
        f"{seeds:.3g} seeds each"
    )
    if needed > limit:
        text += (
            f"; more seeds on these {prompts} prompts cannot get there (n_eff tops out "
            f"near {limit:.1f})"
        )
    return text + (
        f"; with zero hits, {zero} prompts would do. fix: more distinct prompts "
        "(or interval='independent' if these prompts are the whole population)"
    )


def interval_of(config_value: str, explicit: str | None) -> str:
    """The rate interval an audit uses: the call's ``interval=``, else config ``interval``."""
    from igmu_audit.errors import ConfigError
    from igmu_audit.metrics.functional.clustered import RATE_INTERVALS

    if explicit is None:
        return config_value
    if explicit not in RATE_INTERVALS:
        raise ConfigError(
            f"`interval` must be one of {', '.join(RATE_INTERVALS)}, got {explicit!r}: "
            "'clustered' treats prompts as clusters of seeds (the default), 'independent' "
            "treats every image as an independent draw"
        )
    return explicit


def per_prompt(present: Sequence[bool], prompts: int) -> tuple[list[int], list[int]]:
    """``(hits, images)`` per prompt from prompt-major presence flags."""
    seeds = len(present) // prompts
    hits = [sum(present[i * seeds : (i + 1) * seeds]) for i in range(prompts)]
    return [int(h) for h in hits], [seeds] * prompts


def sequential_note(
    look: int, looks: int, seeds: int, images: int, confidence: float, interval: str
) -> str:
    """What a sequential verdict promises, and (clustered) why more seeds may not help."""
    from igmu_audit.metrics.functional.clustered import look_confidence

    text = (
        f"sequential: look {look} of {looks} ({seeds} seeds, {images} images); each look "
        f"at {look_confidence(confidence, looks):.4g} confidence (Bonferroni over "
        f"Clopper-Pearson) so stopping early keeps each wrong verdict within {1 - confidence:.0%}"
    )
    if interval == "clustered":
        text += (
            "; looks add seeds, not prompts: with hits clustered by prompt the interval "
            "narrows little (n_eff cannot pass prompts / ICC)"
        )
    return text
