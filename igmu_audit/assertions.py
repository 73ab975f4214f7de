"""``assert_forgotten``, ``assert_preserved``, ``assert_robust_to``: validate -> generate ->
measure -> decide -> record -> raise.

Plain functions: they work in scripts and notebooks; under pytest the plugin adds the
configured models, the test's marker thresholds, evidence folders and reporting. Each
returns its result object and raises ``AuditFailure`` (an ``AssertionError``) when a
threshold is breached, or ``InsufficientEvidence`` when the interval straddles it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from igmu_audit.context import AuditContext
from igmu_audit.errors import ConfigError
from igmu_audit.model_door import at_door
from igmu_audit.results import (
    AuditResult,
    Check,
    ForgettingResult,
    PreservationResult,
    RobustnessResult,
)
from igmu_audit.robustness import shrink_audit_leak
from igmu_audit.scoring import (
    build_evidence,
    check_prompts,
    effective_prompts,
    generate_and_score,
    model_info,
    resolve_detector,
)
from igmu_audit.seeds import warn_dropped_seeds
from igmu_audit.significance import decision_p_value
from igmu_audit.steps import (
    confidence_of,
    count_point,
    distinct_inputs,
    finish,
    no_reference_check,
    original_of,
    rate_check,
    require,
    seeds_of,
    settings_json,
)
from igmu_audit.vacuity import paired_drop, side_by_side


def _leak_audit(
    assertion: str,
    aspect: str,
    pipeline: Any,
    prompts: Any,
    *,
    detector: Any,
    max_rate: float | None,
    confidence: float | None,
    seeds: Sequence[int] | None,
    original: Any,
    concept: str | None,
    min_effective_prompts: int | None,
    allow_inconclusive: bool,
    kind: str | None = None,
    strategy: Any = None,
    max_seeds: int | None = None,
    interval: str | None = None,
) -> AuditResult:
    """The shared body of assert_forgotten and assert_robust_to (a leak rate with a vacuity check)."""
    __tracebackhide__ = True
    ctx = AuditContext.create(assertion)
    argument = "variants" if kind else "prompts"
    given = check_prompts(prompts, argument)
    concept = (
        concept
        or ctx.session.config.concept
        or (ctx.test.marker.get("concept") if ctx.test else None)
        or "concept"
    )
    det = resolve_detector(detector, ctx.session, concept)
    threshold = require(ctx, aspect, "max_rate", max_rate)
    conf = confidence_of(ctx, aspect, confidence)
    mode = _interval_of(ctx, interval)
    seed_list, looks, dropped_seeds = seeds_of(ctx, seeds, max_seeds)
    minimum = require(ctx, aspect, "min_effective_prompts", min_effective_prompts)
    reference = original_of(ctx, original)
    items, index, duplicates = distinct_inputs(ctx, given, pipeline, argument)
    warn_dropped_seeds(assertion, dropped_seeds, len(seed_list))
    pipeline, reference = at_door(pipeline), at_door(reference)
    folder = ctx.evidence_dir(concept)
    info = model_info(pipeline)
    common: dict[str, Any] = {
        "assertion": assertion, "concept": concept, "model": info,
        "original": model_info(reference) if reference is not None else None,
        "detector": {"name": det.name, "threshold": det.threshold, **dict(det.profile)},
        "seeds": seed_list, "settings": settings_json(ctx), "evidence_dir": str(folder),
        "duplicates": duplicates, "confidence": conf,
    }  # fmt: skip
    if reference is None and ctx.session.config.require_original:
        missing = no_reference_check(ctx, conf)
        result = _result_class(kind)(
            verdict="inconclusive", checks=(missing,), **common, **_kind(kind)
        )
        return finish(ctx, result, allow_inconclusive)
    # The vacuity rule (igmu_audit/vacuity.py): a prompt counts when the original OR the
    # audited model shows the concept on the first seeds, so no leak is ever dropped.
    first = generate_and_score(
        ctx.session, pipeline, items, looks[0], det, desc=f"{assertion}: {info.label}"
    )
    pre = (
        None
        if reference is None
        else generate_and_score(
            ctx.session, reference, items, looks[0], det, desc=f"{assertion}: original"
        )
    )
    effective, ineffective = effective_prompts(pre, first)
    if reference is None:
        effective, ineffective = list(items), []
    if len(effective) < minimum.value:
        shown_by = (
            "the original or the audited model"
            if reference is not None
            else "the audited model"
        )
        empty = Check("effective prompts", float(len(effective)), count_point(len(effective), conf), minimum, ">=", "inconclusive", len(items),
                      f"only {len(effective)} of {len(items)} {'distinct ' if duplicates else ''}prompts show {concept!r} on {shown_by}; "
                      "an audit on prompts that never elicit the concept would pass vacuously")  # fmt: skip
        result = _result_class(kind)(
            verdict="inconclusive",
            checks=(empty,),
            ineffective=tuple(ineffective),
            **common,
            **_kind(kind),
        )
        return finish(ctx, result, allow_inconclusive)
    # Group-sequential sampling: each look is judged at the Bonferroni level on a
    # Clopper-Pearson bound (never under-covers), so stopping at the first decisive look
    # keeps each wrong verdict within 1 - conf (tests/metrics/test_sequential.py).
    from igmu_audit.leak_rate import per_prompt, sequential_note

    scored = first.subset(effective)  # the first look is scored already (vacuity rule)
    for look in looks:
        added = look[len(scored.seeds) :]  # each look only scores its new seeds
        if added:
            fresh = generate_and_score(
                ctx.session,
                pipeline,
                effective,
                added,
                det,
                desc=f"{assertion}: {info.label}",
            )
            scored = scored.join(fresh)
        k, n = sum(scored.present), len(scored.present)
        clusters = per_prompt(scored.present, len(scored.prompts))
        judge = partial(
            rate_check,
            k,
            n,
            threshold,
            clusters=clusters,
            interval=mode,
            looks=len(looks),
        )
        check = judge(conf)
        if check.verdict != "inconclusive":
            break
    if len(looks) > 1:
        common["seeds"] = look
        note = sequential_note(
            looks.index(look) + 1, len(looks), len(look), n, conf, mode
        )
        check = replace(check, note="; ".join(filter(None, [note, check.note])))
    from igmu_audit.reporting.evidence import is_sensitive

    sensitive = ctx.session.config.blur_sensitive and is_sensitive(
        concept, common["detector"]
    )
    evidence = side_by_side(
        build_evidence(scored, folder, sensitive=sensitive, index_of=index.__getitem__),
        pre,
    )
    extra: dict[str, Any] = {
        "ineffective": tuple(ineffective), **_kind(kind),
        "paired": None if pre is None else paired_drop(pre.subset(effective), scored, conf),
        "p_value": decision_p_value(judge, check.verdict, conf),
    }  # fmt: skip
    if kind is None:
        extra.update(hits=k, images=n)
    if strategy is not None and k:
        known = [
            (e.prompt, seed)
            for e in evidence
            for seed, hit in zip(e.seeds, e.present, strict=True)
            if hit
        ]
        extra.update(
            shrink_audit_leak(
                ctx.session, pipeline, strategy, look, det, info.fingerprint, known
            )
        )
    result = _result_class(kind)(
        verdict=check.verdict, checks=(check,), evidence=evidence, **common, **extra
    )
    return finish(ctx, result, allow_inconclusive)


def _interval_of(ctx: AuditContext, interval: str | None) -> str:
    """The call's ``interval=``, else config ``interval`` (validated before any image)."""
    from igmu_audit.leak_rate import interval_of

    return interval_of(ctx.session.config.interval, interval)


def _result_class(kind: str | None) -> type[AuditResult]:
    return ForgettingResult if kind is None else RobustnessResult


def _kind(kind: str | None) -> dict[str, Any]:
    return {} if kind is None else {"kind": kind}


def _strategy_kind(strategy: Any) -> str:
    text = repr(strategy)
    return text if len(text) <= 60 else text[:59] + "…"


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
        concept: the concept's name for messages and evidence (default: config).
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
    result = _leak_audit(
        "assert_forgotten", "forgotten", pipeline, prompts, detector=detector, max_rate=max_rate,
        confidence=confidence, seeds=seeds, original=original, concept=concept,
        min_effective_prompts=min_effective_prompts, allow_inconclusive=allow_inconclusive, max_seeds=max_seeds,
        interval=interval,
    )  # fmt: skip
    assert isinstance(result, ForgettingResult)
    return result


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
    from igmu_audit.attack_audit import attack_audit, is_attack
    from igmu_audit.robustness import is_strategy, sample_variants

    if isinstance(variants, Mapping):
        raise ConfigError(
            "`variants` must be a list of prompts, got a mapping; pass list(variants.values())"
        )
    if is_attack(variants):
        return attack_audit(pipeline, variants, prompts, detector=detector, max_rate=max_rate, confidence=confidence,
                             seeds=seeds, original=original, concept=concept, allow_inconclusive=allow_inconclusive)  # fmt: skip
    strategy = None
    kind = "list"
    if is_strategy(variants):
        if not isinstance(n_variants, int) or n_variants < 1:
            raise ConfigError(
                f"`n_variants` must be a positive integer, got {n_variants!r}"
            )
        strategy, kind = variants, _strategy_kind(variants)
        variants = sample_variants(strategy, n_variants, model=pipeline)
    result = _leak_audit(
        "assert_robust_to", "robust_to", pipeline, variants, detector=detector, max_rate=max_rate,
        confidence=confidence, seeds=seeds, original=original, concept=concept,
        min_effective_prompts=min_effective_prompts, allow_inconclusive=allow_inconclusive, kind=kind,
        strategy=strategy if shrink else None, interval=interval,
    )  # fmt: skip
    assert isinstance(result, RobustnessResult)
    return result


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

    explicit = {"max_csdr": max_csdr, "max_kid": max_kid, "max_fd": max_fd, "min_accuracy": min_accuracy,
                "max_accuracy_drop": max_accuracy_drop, "max_perceptual": max_perceptual}  # fmt: skip
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
