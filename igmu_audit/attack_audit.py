"""``assert_robust_to(pipeline, attack, prompts=...)``: an attack on the effective prompts,
judged on the post-attack success rate per prompt, with the pre-attack rate beside it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from igmu_audit.errors import ConfigError
from igmu_audit.results import RobustnessResult
from igmu_audit.scoring import build_evidence, effective_prompts, generate_and_score
from igmu_audit.significance import decision_p_value
from igmu_audit.steps import (
    AuditCall,
    finish,
    no_reference_check,
    prepare,
    rate_check,
    requires_original,
    sensitive,
)
from igmu_audit.vacuity import paired_drop


def is_attack(value: Any) -> bool:
    """Whether ``value`` follows the attack protocol (``igmu_audit/attacks/README.md``)."""
    return hasattr(value, "run") and hasattr(value, "budget") and hasattr(value, "name")


def attack_audit(call: AuditCall, attack: Any) -> RobustnessResult:
    """Run an attack on the effective prompts; judge the post-attack success rate (per prompt)."""
    __tracebackhide__ = True
    if call.prompts is None:
        raise ConfigError(
            "an attack needs the prompts to attack: assert_robust_to(pipeline, attack, prompts=[...])"
        )
    p = prepare("assert_robust_to", "robust_to", call, "prompts", leak=False)
    ctx, conf, det, seeds = p.ctx, p.confidence, p.detector, list(p.seeds)
    session, allow = ctx.session, call.allow_inconclusive
    common = {**p.common, "kind": f"attack {attack.name} {attack.budget}"}
    if p.reference is None and requires_original(ctx):
        result = RobustnessResult(
            verdict="inconclusive", checks=(no_reference_check(ctx, conf),), **common
        )
        return finish(ctx, result, allow)
    # The vacuity rule (igmu_audit/vacuity.py): prompts the original or the audited model
    # shows the concept on are attacked; the images land in the cache the attack reads.
    first = generate_and_score(
        session,
        p.model,
        p.items,
        seeds,
        det,
        desc="assert_robust_to: before the attack",
    )
    before = None if p.reference is None else generate_and_score(
        session, p.reference, p.items, seeds, det, desc="assert_robust_to: original")  # fmt: skip
    effective, ineffective = effective_prompts(before, first)
    if p.reference is None:
        effective, ineffective = list(p.items), []
    outcome = attack.run(p.model, effective, detector=det, seeds=seeds, original=p.reference,
                         settings=session.settings, cache=session.cache)  # fmt: skip
    pre = rate_check(
        outcome.pre_successes, outcome.n, p.threshold, conf, metric="pre-attack ASR"
    )
    judge = partial(
        rate_check,
        outcome.post_successes,
        outcome.n,
        p.threshold,
        metric="attack success rate",
    )
    post = judge(conf)
    adversarial = outcome.adversarial_prompts
    scored = generate_and_score(
        session, p.model, adversarial, seeds, det, desc="assert_robust_to: evidence"
    )
    folder = ctx.evidence_dir(p.concept)
    index: dict[str, int] = {}
    for i, prompt in enumerate(adversarial):
        index.setdefault(prompt, i)
    blur = sensitive(ctx, p.concept, dict(det.profile))
    paired = (
        None
        if before is None
        else paired_drop(before.subset(effective), first.subset(effective), conf)
    )
    result = RobustnessResult(
        verdict=post.verdict, checks=(post,), evidence_dir=str(folder), pre_attack=pre,
        ineffective=tuple(ineffective), p_value=decision_p_value(judge, post.verdict, conf), paired=paired,
        evidence=build_evidence(scored, folder, sensitive=blur, index_of=index.__getitem__), **common,
    )  # fmt: skip
    return finish(ctx, result, allow)
