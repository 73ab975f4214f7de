"""The forgetting aspect (``assert_forgotten``): the leak rate on the forget prompts.

Why a module of its own: each aspect says what it adds to the shared leak audit
(``leak_audit.py``); forgetting adds the hit and image counts to its result.
"""

from __future__ import annotations

from typing import Any

from igmu_audit.leak_audit import LeakAspect, LeakOutcome, run_leak
from igmu_audit.results import ForgettingResult
from igmu_audit.steps import AuditCall, Prepared


def _counts(p: Prepared, outcome: LeakOutcome, evidence: list[Any]) -> dict[str, Any]:
    return {"hits": outcome.hits, "images": outcome.images}


FORGETTING = LeakAspect(
    "assert_forgotten", "forgotten", "prompts", ForgettingResult, _counts
)


def run_forgetting(call: AuditCall) -> ForgettingResult:
    """Judge one forgetting audit; raises like every assertion (see ``steps.finish``)."""
    __tracebackhide__ = True
    result = run_leak(call, FORGETTING)
    assert isinstance(result, ForgettingResult)
    return result
