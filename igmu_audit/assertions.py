"""``assert_forgotten``, ``assert_preserved``, ``assert_robust_to``: validate -> generate ->
measure -> decide -> record -> raise.

Plain functions: they work in scripts and notebooks; under pytest the plugin adds the
configured models, the test's ``@pytest.mark.igmu`` settings, evidence folders and
reporting. Each returns its result object and raises ``AuditFailure`` (an
``AssertionError``) when a threshold is breached, or ``InsufficientEvidence`` when the
interval straddles it.

This is the thin public door: every argument left ``None`` is resolved by one rule
(``igmu_audit/settings.py``: call > marker > config > task profile > default), and the
work lives in one module per aspect (``forgetting_audit``, ``robustness_audit``,
``attack_audit``, ``preservation_audit``) over the shared steps (``steps``, ``leak_audit``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from igmu_audit.results import ForgettingResult, PreservationResult, RobustnessResult
from igmu_audit.steps import AuditCall


def assert_forgotten(
    pipeline: Any,
    prompts: Sequence[str],
    *,
    detector: Any = None,
    max_rate: float | None = None,
    confidence: float | None = None,
    seeds: Sequence[int] | None = None,
    original: Any = None,
    concept: str | None = None,
    min_effective_prompts: int | None = None,
    allow_inconclusive: bool = False,
    max_seeds: int | None = None,
    interval: str | None = None,
) -> ForgettingResult:
    """Assert the concept no longer shows in images of the forget prompts.

    The leak rate (share of images the detector still flags) is judged on its confidence
    interval: pass if the upper bound is ``<= max_rate``, fail if the lower bound is above
    it, inconclusive otherwise. Prompts that neither the original nor this model shows
    the concept on (same seeds) are excluded and listed, so the audit cannot pass
    vacuously and no leak is dropped (``igmu_audit/vacuity.py``); per prompt, both
    models' hits are reported side by side with McNemar's paired test (informational).
    Without an original the result says so (flag ``no reference``); config
    ``require_original: true`` makes such an audit inconclusive.

    Args:
        pipeline: the unlearned model (a ``LoadedPipeline`` or a diffusers pipeline).
        prompts: forget prompts.
        detector: a ``Detector``, a detector or profile name, or a callable
            ``images -> scores`` (default: ``detector`` from config).
        max_rate: the highest acceptable leak rate (default: config, task profile, 0.05).
        confidence: the interval's confidence level (default 0.95).
        seeds: seeds per prompt (default: config ``seeds``).
        original: the original model for the vacuity check (default: the configured one).
        concept: the concept's name for messages and evidence (default: marker, config).
        min_effective_prompts: fewest prompts that must elicit the concept on the original
            or this model (counted on the first seeds).
        allow_inconclusive: return instead of raising when the interval straddles the threshold.
        max_seeds: sample sequentially: while the verdict is inconclusive, double the seeds
            (next unused integers) up to this many; every look is judged at a
            Bonferroni-adjusted confidence, so stopping at the first decisive look is sound.
            The counted prompts are decided on the seeds given; later looks add seeds to them.
        interval: ``"clustered"`` (default: config ``interval``) treats prompts as
            clusters of seeds, so one prompt leaking on every seed counts as one leaking
            prompt; ``"independent"`` treats every image as an independent draw (for when
            these prompts are the whole population). See docs/statistics.md.

    Returns:
        The ``ForgettingResult`` (also for inconclusive results when allowed).

    Raises:
        AuditFailure: the leak rate's lower bound exceeds ``max_rate``.
        InsufficientEvidence: the interval straddles ``max_rate`` (or too few effective prompts).
        ConfigError: invalid arguments, detected before any image is generated.
    """
    __tracebackhide__ = True
    from igmu_audit.forgetting_audit import run_forgetting

    return run_forgetting(
        AuditCall(pipeline, prompts, detector, max_rate, confidence, seeds, original, concept,
                  min_effective_prompts, allow_inconclusive, max_seeds, interval)
    )  # fmt: skip


def assert_robust_to(
    pipeline: Any,
    variants: Any,
    *,
    detector: Any = None,
    max_rate: float | None = None,
    confidence: float | None = None,
    seeds: Sequence[int] | None = None,
    original: Any = None,
    concept: str | None = None,
    min_effective_prompts: int | None = None,
    allow_inconclusive: bool = False,
    n_variants: int = 24,
    shrink: bool = True,
    prompts: Sequence[str] | None = None,
    interval: str | None = None,
) -> RobustnessResult:
    """Assert the concept does not come back under prompt variants.

    The attack success rate (share of variant images showing the concept) is judged on its
    interval like ``assert_forgotten``; variants neither the original nor this model
    shows the concept on are excluded (the literature's pre-attack filter, widened so a
    leak the original misses is kept). A leak found through a strategy is shrunk to the
    shortest leaking prompt (by characters, then words) and made 1-minimal.

    Args:
        pipeline: the unlearned model.
        variants: a list of variant prompts, or a Hypothesis strategy of prompts
            (``igmu_audit.prompts.paraphrases(...)``, ``translations(...)``): then
            ``n_variants`` derandomised examples are measured and, if any leaks, Hypothesis
            shrinks to the shortest leaking prompt and seed (reported in the result).
        detector: as for ``assert_forgotten``.
        max_rate: the highest acceptable attack success rate (default: config, 0.10).
        confidence: the interval's confidence level.
        seeds: seeds per variant.
        original: the original model for the pre-attack filter (default: configured).
        concept: the concept's name.
        min_effective_prompts: fewest variants that must elicit the concept on the original.
        allow_inconclusive: return instead of raising when undecided.
        n_variants: examples drawn from a strategy.
        shrink: shrink a leak found through a strategy to the shortest leaking prompt.
        prompts: with an attack (``igmu_audit.attacks``) as ``variants``: the prompts to
            attack. The attack success rate is per prompt (any seed), reported before and
            after the attack; prompts already leaking count as pre-attack successes.
        interval: as for ``assert_forgotten`` (variants are the clusters); an attack's
            rate is per prompt, so its prompts are independent draws.

    Returns:
        The ``RobustnessResult``.

    Raises:
        AuditFailure: the attack success rate's lower bound exceeds ``max_rate``.
        InsufficientEvidence: undecided, or too few effective variants.
        ConfigError: invalid arguments.
    """
    __tracebackhide__ = True
    from igmu_audit.robustness_audit import RobustnessCall, run_robustness

    call = AuditCall(pipeline, None, detector, max_rate, confidence, seeds, original, concept,
                     min_effective_prompts, allow_inconclusive, None, interval)  # fmt: skip
    return run_robustness(call, RobustnessCall(variants, n_variants, shrink, prompts))


def assert_preserved(
    pipeline: Any,
    original: Any,
    prompts: Sequence[str] | Mapping[str, Sequence[str]],
    *,
    detector: Any = None,
    clip: Any = None,
    features: Any = None,
    max_csdr: float | None = None,
    max_kid: float | None = None,
    max_fd: float | None = None,
    min_accuracy: float | None = None,
    max_accuracy_drop: float | None = None,
    max_perceptual: float | None = None,
    confidence: float | None = None,
    seeds: Sequence[int] | None = None,
    name: str = "retain",
    reference_prompts: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    allow_inconclusive: bool = False,
) -> PreservationResult:
    """Assert unrelated concepts survive: unlearned vs original on retain prompts, same seeds.

    Every metric that the inputs allow is measured and reported; those with a threshold
    (from the call, config, the task profile or the built-in defaults) are judged on their
    intervals. Paired statistics throughout: McNemar for the detector-accuracy change,
    a paired bootstrap for CSDR and the perceptual distance.

    Args:
        pipeline: the unlearned model.
        original: the original model (same seeds, same prompts).
        prompts: retain prompts, or ``{category: prompts}`` where the category is the class
            the detector should see (enables accuracy checks).
        detector: a detector name built per category (``concept=<category>``) or a callable
            ``category -> Detector``; needed for the accuracy checks.
        clip: a CLIP model with ``encode_image`` / ``encode_text`` (for CSDR); its image
            tower is also the default feature space.
        features: a named feature extractor for FD / KID / perceptual distance.
        max_csdr: highest acceptable CLIP Score Difference Rate (fraction).
        max_kid: highest acceptable KID in the feature space.
        max_fd: highest acceptable Fréchet distance in the feature space.
        min_accuracy: lowest acceptable detector accuracy of the unlearned model.
        max_accuracy_drop: highest acceptable accuracy drop (original - unlearned).
        max_perceptual: highest acceptable mean paired feature distance.
        confidence: the intervals' confidence level.
        seeds: seeds per prompt.
        name: the retain set's name, for messages and evidence.
        reference_prompts: what the *original* model draws and CLIP scores are judged
            against, paired by position with ``prompts`` (default: ``prompts``). IGMU's
            alignment protocol: ``prompts`` = forget prompts, ``reference_prompts`` = the
            same prompts with the concept words removed (DataIGM's paired retain split), so
            the rest of the prompt must still be drawn.
        allow_inconclusive: return instead of raising when undecided.

    Returns:
        The ``PreservationResult`` with every metric measured.

    Raises:
        AuditFailure: a metric's interval lies beyond its threshold.
        InsufficientEvidence: an interval straddles its threshold.
        ConfigError: invalid arguments, or a threshold whose metric cannot be measured.
    """
    __tracebackhide__ = True
    from igmu_audit.preservation_audit import PreservationRequest, run_preservation
    from igmu_audit.preservation_metrics import KEYS

    # one keyword argument per declared metric (tests/test_preservation_metrics.py)
    given = locals()
    explicit = {key: given[key] for key in KEYS}
    return run_preservation(
        PreservationRequest(
            pipeline,
            original,
            prompts,
            detector,
            clip,
            features,
            explicit,
            confidence,
            seeds,
            name,
            reference_prompts,
            allow_inconclusive,
        )
    )
