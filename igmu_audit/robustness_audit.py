"""The robustness aspect (``assert_robust_to``): variants as a list, a Hypothesis strategy
or an attack.

A list or a strategy's derandomised sample runs the shared leak audit
(``leak_audit.py``); a leak found through a strategy is shrunk to the shortest leaking
prompt. An attack runs its own audit (``attack_audit.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from igmu_audit.errors import ConfigError
from igmu_audit.leak_audit import LeakAspect, LeakOutcome, run_leak
from igmu_audit.results import RobustnessResult
from igmu_audit.steps import AuditCall, Prepared


@dataclass(frozen=True, slots=True)
class RobustnessCall:
    """What ``assert_robust_to`` adds to the shared call (see its docstring)."""

    variants: Any
    n_variants: int = 24
    shrink: bool = True
    prompts: Sequence[str] | None = None


def _strategy_kind(strategy: Any) -> str:
    text = repr(strategy)
    return text if len(text) <= 60 else text[:59] + "…"


def _shrunk(
    strategy: Any, p: Prepared, outcome: LeakOutcome, evidence: list[Any]
) -> dict[str, Any]:
    """The shortest, 1-minimal leak of a strategy (nothing when nothing leaked)."""
    from igmu_audit.robustness import shrink_audit_leak

    if strategy is None or not outcome.hits:
        return {}
    known = [
        (e.prompt, seed)
        for e in evidence
        for seed, hit in zip(e.seeds, e.present, strict=True)
        if hit
    ]
    return shrink_audit_leak(p.ctx.session, p.model, strategy, outcome.look,
                             p.detector, p.info.fingerprint, known)  # fmt: skip


def run_robustness(call: AuditCall, robust: RobustnessCall) -> RobustnessResult:
    """Judge one robustness audit; raises like every assertion (see ``steps.finish``)."""
    __tracebackhide__ = True
    from igmu_audit.attack_audit import attack_audit, is_attack
    from igmu_audit.robustness import is_strategy, sample_variants

    variants = robust.variants
    if isinstance(variants, Mapping):
        raise ConfigError(
            "`variants` must be a list of prompts, got a mapping; pass list(variants.values())"
        )
    if is_attack(variants):
        return attack_audit(replace(call, prompts=robust.prompts), variants)
    strategy, kind = None, "list"
    if is_strategy(variants):
        n = robust.n_variants
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"`n_variants` must be a positive integer, got {n!r}")
        strategy, kind = variants, _strategy_kind(variants)
        variants = sample_variants(strategy, n, model=call.pipeline)
    aspect = LeakAspect(
        "assert_robust_to",
        "robust_to",
        "variants",
        partial(RobustnessResult, kind=kind),
        partial(_shrunk, strategy if robust.shrink else None),
    )
    result = run_leak(replace(call, prompts=variants), aspect)
    assert isinstance(result, RobustnessResult)
    return result
