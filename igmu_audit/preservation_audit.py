"""The body of ``assert_preserved``: validate -> generate both models -> measure -> judge.

Why its own module: the public door (``assertions.py``) keeps the signature and the
docstring; the work of the preservation aspect lives here, next to nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from igmu_audit.context import AuditContext
from igmu_audit.errors import ConfigError
from igmu_audit.model_door import at_door
from igmu_audit.preservation import Measured
from igmu_audit.preservation_metrics import METRICS, NEEDS_HOW
from igmu_audit.results import Check, PreservationResult, Threshold, combine, decide
from igmu_audit.scoring import model_info
from igmu_audit.seeds import warn_dropped_seeds
from igmu_audit.significance import own_level
from igmu_audit.steps import confidence_of, finish, seeds_of, settings_json


@dataclass(frozen=True, slots=True)
class PreservationRequest:
    """Everything one ``assert_preserved`` call asked for (see its docstring)."""

    pipeline: Any
    original: Any
    prompts: Sequence[str] | Mapping[str, Sequence[str]]
    detector: Any
    clip: Any
    features: Any
    explicit: Mapping[str, float | None]
    confidence: float | None
    seeds: Sequence[int] | None
    name: str
    reference_prompts: Sequence[str] | Mapping[str, Sequence[str]] | None
    allow_inconclusive: bool


#: why an audit that can judge nothing is refused, and how to fix it
NOTHING = (
    "assert_preserved measured nothing it could judge: give clip=... (CSDR), features=... "
    "(KID/FD) or detector=... with prompts as {category: [prompts]} (accuracy), and "
    "thresholds for them"
)


def _judgeable(
    ctx: AuditContext,
    explicit: Mapping[str, float | None],
    available: Mapping[str, bool],
) -> dict[str, Threshold]:
    """The thresholds that can be judged with what was given, decided before any image.

    A threshold someone chose for a metric that cannot be measured is an error; a
    built-in default for one is dropped. Nothing left to judge is an error too.
    """
    out: dict[str, Threshold] = {}
    for metric in METRICS:
        found = ctx.threshold("preserved", metric.key, explicit.get(metric.key))
        if found is None:
            continue
        if not available[metric.needs]:
            if not found.source.startswith("built-in"):
                raise ConfigError(
                    f"{metric.key}={found.value} (from {found.source}) cannot be measured "
                    f"without {NEEDS_HOW[metric.needs]}"
                )
            continue
        out[metric.key] = found
    if not out:
        raise ConfigError(NOTHING)
    return out


def _enough_pairs(thresholds: Mapping[str, Threshold], pairs: int) -> None:
    """FD's interval needs 4 image pairs; say so before generating them."""
    if "max_fd" in thresholds and pairs < 4:
        raise ConfigError(
            f"max_fd needs at least 4 image pairs for an interval, got {pairs}; "
            "add prompts or seeds"
        )


def _check(m: Measured, threshold: Threshold) -> Check:
    """One measured metric judged against its threshold."""
    left_out = int(m.extra.get("pairs_without_ratio", 0))
    note = (
        f"{left_out} pair(s) left out: the original's image scores 0 against its prompt"
        if left_out
        else ""
    )
    verdict = decide(m.interval, threshold.value, m.direction)
    return Check(
        m.name, m.value, m.interval, threshold, m.direction, verdict, m.n, note
    )


def run_preservation(request: PreservationRequest) -> PreservationResult:
    """Judge one preservation audit; raises like every assertion (see ``finish``)."""
    __tracebackhide__ = True
    pipeline, original, prompts = request.pipeline, request.original, request.prompts
    detector, clip, features = request.detector, request.clip, request.features
    explicit, confidence, seeds = (
        dict(request.explicit),
        request.confidence,
        request.seeds,
    )
    name, reference_prompts = request.name, request.reference_prompts
    allow_inconclusive = request.allow_inconclusive
    from igmu_audit.pipelines.generation import generate, to_batch
    from igmu_audit.preservation import (
        ClipImageFeatures,
        MeasurePlan,
        category_detectors,
        check_pairing,
        distinct_pairs,
        flatten_prompts,
        measure,
    )
    from igmu_audit.prompts.dedupe import warn_dropped

    ctx = AuditContext.create("assert_preserved")
    if original is None:
        raise ConfigError(
            "`original` is required: preservation compares the unlearned model with the original"
        )
    flat, categories, where = flatten_prompts(prompts)
    reference, ref_where = flat, where
    if reference_prompts is not None:
        reference, ref_categories, ref_where = flatten_prompts(
            reference_prompts, "reference_prompts"
        )
        check_pairing(categories, ref_categories)
    if features is None and clip is not None:
        features = ClipImageFeatures(clip)
    has_categories = all(c is not None for c in categories)
    if detector is None and has_categories:
        # `retain_detector:` is the configured default for category accuracy; without
        # this a user who set it would silently get no accuracy check.
        detector = ctx.session.config.retain_detector
    available = {"clip": clip is not None, "features": features is not None,
                 "detector": detector is not None and has_categories}  # fmt: skip
    thresholds = _judgeable(ctx, explicit, available)
    conf = confidence_of(ctx, "preserved", confidence)
    seed_list, _, dropped_seeds = seeds_of(ctx, seeds)
    _enough_pairs(thresholds, len(flat) * len(seed_list))
    detectors = None
    if available["detector"]:
        detectors = category_detectors(
            detector,
            list(dict.fromkeys(c for c in categories if c)),
            ctx.session.config.detector_settings,
        )
    found = distinct_pairs(
        (flat, reference), (where, ref_where), categories, (pipeline, original)
    )
    flat = [flat[i] for i in found.positions]
    reference = [reference[i] for i in found.positions]
    categories = [categories[i] for i in found.positions]
    warn_dropped("assert_preserved", found.duplicates, len(flat))
    warn_dropped_seeds("assert_preserved", dropped_seeds, len(seed_list))
    pipeline, original = at_door(pipeline), at_door(original)
    session = ctx.session
    gen_u = generate(
        pipeline,
        flat,
        seed_list,
        settings=session.settings,
        cache=session.cache,
        desc="assert_preserved: unlearned",
    )
    gen_o = generate(
        original,
        reference,
        seed_list,
        settings=session.settings,
        cache=session.cache,
        desc="assert_preserved: original",
    )
    per_image_prompts = [im.prompt for im in gen_o]
    per_image_categories = [categories[i // len(seed_list)] for i in range(len(gen_u))]
    plan = MeasurePlan(clip, features, detectors, conf, lambda key: key in thresholds,
                       [i // len(seed_list) for i in range(len(gen_u))],
                       str(ctx.value("csdr_aggregation")))  # fmt: skip
    measured = measure(
        to_batch(gen_u), to_batch(gen_o), per_image_prompts, per_image_categories, plan
    )
    checks = []
    for m in measured:
        if m.key in thresholds:
            checks.append(_check(m, thresholds[m.key]))
    if not checks:  # e.g. CSDR without one pair the original draws its prompt on
        raise ConfigError(
            f"{NOTHING} (none of {', '.join(thresholds)} could be measured)"
        )
    folder = ctx.evidence_dir(name)
    result = PreservationResult(
        assertion="assert_preserved", concept=name, verdict=combine([c.verdict for c in checks]), checks=tuple(checks),
        model=model_info(pipeline), original=model_info(original),
        detector={"name": next(iter(detectors.values())).name, "categories": list(detectors)} if detectors else {}, seeds=seed_list, settings=settings_json(ctx),
        evidence_dir=str(folder), metrics={m.name: {"value": m.value, "low": m.interval.low, "high": m.interval.high,
                                                    "n": m.n, **m.extra} for m in measured},
        feature_space=getattr(features, "name", None), duplicates=found.duplicates, confidence=conf,
        p_value=own_level(combine([c.verdict for c in checks]), conf),
        image_pairs=tuple((f"{u.prompt} (seed {u.seed})", None if u.path is None else str(u.path), None if o.path is None else str(o.path)) for u, o in zip(gen_u, gen_o, strict=True)),
    )  # fmt: skip
    return finish(ctx, result, allow_inconclusive)
