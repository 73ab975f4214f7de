"""``assert_robust_to(pipeline, attack, prompts=...)``: an attack on the effective prompts,
judged on the post-attack success rate per prompt, with the pre-attack rate beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from igmu_audit.context import AuditContext
from igmu_audit.errors import ConfigError
from igmu_audit.model_door import at_door
from igmu_audit.results import RobustnessResult
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
    distinct_inputs,
    finish,
    no_reference_check,
    original_of,
    rate_check,
    require,
    seeds_of,
    settings_json,
)
from igmu_audit.vacuity import paired_drop


def is_attack(value: Any) -> bool:
    return hasattr(value, "run") and hasattr(value, "budget") and hasattr(value, "name")


def attack_audit(
    pipeline: Any,
    attack: Any,
    prompts: Sequence[str] | None,
    *,
    detector: Any,
    max_rate: float | None,
    confidence: float | None,
    seeds: Sequence[int] | None,
    original: Any,
    concept: str | None,
    allow_inconclusive: bool,
) -> RobustnessResult:
    """Run an attack on the effective prompts; judge the post-attack success rate (per prompt)."""
    __tracebackhide__ = True
    from igmu_audit.reporting.evidence import is_sensitive

    ctx = AuditContext.create("assert_robust_to")
    if prompts is None:
        raise ConfigError(
            "an attack needs the prompts to attack: assert_robust_to(pipeline, attack, prompts=[...])"
        )
    given = check_prompts(prompts)
    concept = concept or ctx.session.config.concept or "concept"
    det = resolve_detector(detector, ctx.session, concept)
    threshold = require(ctx, "robust_to", "max_rate", max_rate)
    conf = confidence_of(ctx, "robust_to", confidence)
    seed_list, _, dropped_seeds = seeds_of(ctx, seeds)
    reference = original_of(ctx, original)
    items, _, duplicates = distinct_inputs(ctx, given, pipeline, "prompts")
    warn_dropped_seeds(ctx.assertion, dropped_seeds, len(seed_list))
    pipeline, reference = at_door(pipeline), at_door(reference)
    session = ctx.session
    if reference is None and session.config.require_original:
        result = RobustnessResult(
            assertion="assert_robust_to", concept=concept, verdict="inconclusive",
            checks=(no_reference_check(ctx, conf),), model=model_info(pipeline),
            detector={"name": det.name, "threshold": det.threshold, **dict(det.profile)},
            seeds=seed_list, settings=settings_json(ctx), kind=f"attack {attack.name} {attack.budget}",
            duplicates=duplicates, confidence=conf,
        )  # fmt: skip
        return finish(ctx, result, allow_inconclusive)
    # The vacuity rule (igmu_audit/vacuity.py): prompts the original or the audited model
    # shows the concept on are attacked; the images land in the cache the attack reads.
    first = generate_and_score(
        session,
        pipeline,
        items,
        seed_list,
        det,
        desc="assert_robust_to: before the attack",
    )
    before = None if reference is None else generate_and_score(
        session, reference, items, seed_list, det, desc="assert_robust_to: original")  # fmt: skip
    effective, ineffective = effective_prompts(before, first)
    if reference is None:
        effective, ineffective = list(items), []
    outcome = attack.run(pipeline, effective, detector=det, seeds=list(seed_list), original=reference,
                         settings=session.settings, cache=session.cache)  # fmt: skip
    pre = rate_check(
        outcome.pre_successes, outcome.n, threshold, conf, metric="pre-attack ASR"
    )
    judge = partial(
        rate_check,
        outcome.post_successes,
        outcome.n,
        threshold,
        metric="attack success rate",
    )
    post = judge(conf)
    adversarial = outcome.adversarial_prompts
    scored = generate_and_score(
        session,
        pipeline,
        adversarial,
        seed_list,
        det,
        desc="assert_robust_to: evidence",
    )
    folder = ctx.evidence_dir(concept)
    index: dict[str, int] = {}
    for i, p in enumerate(adversarial):
        index.setdefault(p, i)
    sensitive = session.config.blur_sensitive and is_sensitive(
        concept, dict(det.profile)
    )
    result = RobustnessResult(
        assertion="assert_robust_to", concept=concept, verdict=post.verdict, checks=(post,), model=model_info(pipeline),
        original=model_info(reference) if reference is not None else None,
        detector={"name": det.name, "threshold": det.threshold, **dict(det.profile)}, seeds=seed_list,
        settings=settings_json(ctx), evidence_dir=str(folder), kind=f"attack {attack.name} {attack.budget}",
        pre_attack=pre, ineffective=tuple(ineffective), duplicates=duplicates, confidence=conf,
        p_value=decision_p_value(judge, post.verdict, conf),
        paired=None if before is None else paired_drop(before.subset(effective), first.subset(effective), conf),
        evidence=build_evidence(scored, folder, sensitive=sensitive, index_of=index.__getitem__),
    )  # fmt: skip
    return finish(ctx, result, allow_inconclusive)
