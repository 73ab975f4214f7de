"""The leak-rate audit both ``assert_forgotten`` and ``assert_robust_to`` run on a list of
prompts: validate -> generate (both models, first seeds) -> count the effective prompts
-> sample sequentially -> judge the rate -> record -> raise.

Why shared: forgetting and robustness judge the same quantity (the share of images the
detector flags) under the same vacuity rule; what differs (the result class, what the
variants were, shrinking a leak) comes in as a ``LeakAspect``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from igmu_audit.detector_trust import (
    DetectorScores,
    Trust,
    card_block,
    missing_card_check,
    trust_in,
    trust_record,
    trusted_judge,
)
from igmu_audit.results import AuditResult, Check
from igmu_audit.scoring import (
    ScoredImages,
    build_evidence,
    effective_prompts,
    generate_and_score,
)
from igmu_audit.significance import decision_p_value
from igmu_audit.steps import (
    AuditCall,
    Prepared,
    count_point,
    finish,
    no_reference_check,
    prepare,
    requires_original,
    sensitive,
)
from igmu_audit.vacuity import paired_drop, side_by_side


@dataclass(frozen=True, slots=True)
class LeakOutcome:
    """What the sampling found: the last look's scores and the decisive check."""

    scored: ScoredImages
    check: Check
    look: tuple[int, ...]
    hits: int
    images: int


@dataclass(frozen=True, slots=True)
class LeakAspect:
    """What makes a leak audit forgetting or robustness.

    Attributes:
        assertion: the public assertion's name.
        aspect: the threshold table it reads (``forgotten`` / ``robust_to``).
        argument: how messages name the prompts (``prompts`` / ``variants``).
        build: the result class (with its fixed fields bound), called with keywords.
        fields: the aspect's own result fields of a judged audit.
    """

    assertion: str
    aspect: str
    argument: str
    build: Callable[..., AuditResult]
    fields: Callable[[Prepared, LeakOutcome, list[Any]], dict[str, Any]]


def run_leak(call: AuditCall, kind: LeakAspect) -> AuditResult:
    """One leak-rate audit (see the module docstring); raises like every assertion."""
    __tracebackhide__ = True
    p = prepare(kind.assertion, kind.aspect, call, kind.argument, leak=True)
    ctx, conf, allow = p.ctx, p.confidence, call.allow_inconclusive
    folder = ctx.evidence_dir(p.concept)
    common = {**p.common, "evidence_dir": str(folder)}
    if p.reference is None and requires_original(ctx):
        missing = no_reference_check(ctx, conf)
        return finish(
            ctx, kind.build(verdict="inconclusive", checks=(missing,), **common), allow
        )
    # Detector trust (igmu_audit/detector_trust.py): its card, before any image.
    trust = trust_in(ctx, p.detector)
    common["detector"] = {
        **common["detector"],
        **card_block(trust, p.detector.threshold),
    }
    if trust.blocks:
        missing = missing_card_check(trust, conf)
        return finish(ctx, kind.build(verdict="inconclusive", checks=(missing,), **common), allow)  # fmt: skip
    # The vacuity rule (igmu_audit/vacuity.py): a prompt counts when the original OR the
    # audited model shows the concept on the first seeds, so no leak is ever dropped.
    desc = f"{kind.assertion}: {p.info.label}"
    first = generate_and_score(
        ctx.session, p.model, p.items, p.looks[0], p.detector, desc=desc
    )
    pre = None if p.reference is None else generate_and_score(
        ctx.session, p.reference, p.items, p.looks[0], p.detector, desc=f"{kind.assertion}: original")  # fmt: skip
    effective, ineffective = effective_prompts(pre, first)
    if p.reference is None:
        effective, ineffective = list(p.items), []
    minimum = p.minimum
    assert minimum is not None  # prepare(leak=True) resolves it
    if len(effective) < minimum.value:
        empty = _too_few(p, minimum, len(effective), bool(common["duplicates"]))
        result = kind.build(
            verdict="inconclusive",
            checks=(empty,),
            ineffective=tuple(ineffective),
            **common,
        )
        return finish(ctx, result, allow)
    outcome = _sample(p, first.subset(effective), desc, trust)
    check = outcome.check
    if len(p.looks) > 1:
        from igmu_audit.leak_rate import sequential_note

        common["seeds"] = outcome.look
        note = sequential_note(p.looks.index(outcome.look) + 1, len(p.looks), len(outcome.look),
                               outcome.images, conf, p.interval)  # fmt: skip
        check = replace(check, note="; ".join(filter(None, [note, check.note])))
    blur = sensitive(ctx, p.concept, common["detector"])
    evidence = side_by_side(build_evidence(outcome.scored, folder, sensitive=blur, index_of=p.index.__getitem__), pre)  # fmt: skip
    judge = _judge(p, outcome.scored, trust)
    common["detector"] = {
        **common["detector"],
        **_trust_record(p, outcome.scored, trust),
    }
    own: dict[str, Any] = {
        "ineffective": tuple(ineffective),
        "paired": None if pre is None else paired_drop(pre.subset(effective), outcome.scored, conf),
        "p_value": decision_p_value(judge, check.verdict, conf),
        **kind.fields(p, outcome, list(evidence)),
    }  # fmt: skip
    result = kind.build(
        verdict=check.verdict, checks=(check,), evidence=evidence, **common, **own
    )
    return finish(ctx, result, allow)


def _too_few(p: Prepared, minimum: Any, found: int, duplicates: bool) -> Check:
    """The inconclusive check of an audit on too few prompts that elicit the concept."""
    shown_by = (
        "the original or the audited model"
        if p.reference is not None
        else "the audited model"
    )
    note = (f"only {found} of {len(p.items)} {'distinct ' if duplicates else ''}prompts show {p.concept!r} on {shown_by}; "
            "an audit on prompts that never elicit the concept would pass vacuously")  # fmt: skip
    point = count_point(found, p.confidence)
    return Check(
        "effective prompts",
        float(found),
        point,
        minimum,
        ">=",
        "inconclusive",
        len(p.items),
        note,
    )


def _judge(p: Prepared, scored: ScoredImages, trust: Trust) -> Callable[[float], Check]:
    """The rate check of ``scored`` at any confidence (also for the decision's p-value);
    corrected for detector error when the detector has a valid card."""
    return trusted_judge(trust, scored.scores, len(scored.prompts), p.threshold, p.detector.threshold,
                         interval=p.interval, looks=len(p.looks), present=scored.present)  # fmt: skip


def _trust_record(p: Prepared, scored: ScoredImages, trust: Trust) -> dict[str, Any]:
    """The card, the corrected rate beside the raw one, and the threshold sensitivity."""
    scores = DetectorScores(scored.scores, len(scored.prompts), scored.present)
    return trust_record(trust, scores, p.threshold, p.detector.threshold,
                        confidence=p.confidence, interval=p.interval, looks=len(p.looks))  # fmt: skip


def _sample(p: Prepared, scored: ScoredImages, desc: str, trust: Trust) -> LeakOutcome:
    """Group-sequential sampling over ``p.looks``; stops at the first decisive look.

    Each look is judged at the Bonferroni level on a Clopper-Pearson bound (never
    under-covers), so stopping early keeps each wrong verdict within 1 - confidence
    (tests/metrics/test_sequential.py). The first look is scored already (vacuity rule);
    each later look scores only the seeds it adds.
    """
    outcome = None
    for look in p.looks:
        added = look[len(scored.seeds) :]
        if added:
            fresh = generate_and_score(
                p.ctx.session,
                p.model,
                list(scored.prompts),
                added,
                p.detector,
                desc=desc,
            )
            scored = scored.join(fresh)
        check = _judge(p, scored, trust)(p.confidence)
        outcome = LeakOutcome(
            scored, check, look, sum(scored.present), len(scored.present)
        )
        if check.verdict != "inconclusive":
            break
    assert outcome is not None  # looks() returns at least the seeds given
    return outcome
