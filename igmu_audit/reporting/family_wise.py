"""The run-level statement: how likely is it that at least one of the run's verdicts is wrong?

Each audit bounds the chance that *its* pass or fail is wrong by ``α = 1 - confidence``
(5 % at 95 %). A release gate reads many audits at once, and with ``k`` of them the
chance that at least one is wrong can reach ``k · α`` (Bonferroni's inequality; it is
exact when the errors are disjoint, so no smaller bound holds for every dependence).
Every run states that bound.

``family_wise: true`` (config) makes the verdicts hold jointly: Holm's step-down
procedure (Holm 1979) over the audits' decision p-values (``igmu_audit.significance``),
at ``α`` = the strictest level any audit of the family asked for. Sorted ascending,
the ``j``-th smallest p-value (1-based) of ``m`` must be ``<= α / (m - j + 1)``; the
first that is not, and every later one, no longer holds jointly and its entry becomes
``inconclusive`` (the verdict alone is kept as ``family_wise.verdict_alone``). Then the
chance that any verdict still standing is wrong is at most ``α``, under any dependence
between audits. Holm rather than Bonferroni: uniformly more powerful with the same
guarantee, and post hoc, so the family is exactly the audits that ran (also across
merged shards, where it is recomputed from ``verdict_alone``). Inconclusive entries
claim nothing and positive controls do not gate: neither is in the family.

Pure Python: ``merge`` imports this without numpy or torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from igmu_audit.reporting import outcome

DECISIVE = (outcome.PASS, outcome.FAIL)


def _own_verdict(entry: Mapping[str, Any]) -> str:
    """The audit's verdict before any family-wise adjustment."""
    return str((entry.get("family_wise") or {}).get("verdict_alone", entry["verdict"]))


def _alpha(entry: Mapping[str, Any]) -> float:
    """The audit's own error level: ``1 - confidence`` (from its checks if not recorded)."""
    confidence = entry.get("confidence")
    if not isinstance(confidence, int | float):
        levels = [
            c["interval"]["confidence"]
            for c in entry.get("checks", ())
            if isinstance(c, Mapping) and isinstance(c.get("interval"), Mapping)
        ]
        confidence = min(levels) if levels else 0.95
    return 1.0 - float(confidence)


def _p(entry: Mapping[str, Any]) -> float:
    p = entry.get("p_value")
    return float(p) if isinstance(p, int | float) else _alpha(entry)


def in_family(entry: Mapping[str, Any]) -> bool:
    """A decisive verdict that gates (positive controls and inconclusive ones do not count)."""
    return _own_verdict(
        entry
    ) in DECISIVE and outcome.POSITIVE_CONTROL not in entry.get("flags", ())


def requested(audits: Iterable[Mapping[str, Any]]) -> bool:
    """Whether any entry was adjusted family-wise before (a shard ran with it): merges keep it."""
    return any(isinstance(a.get("family_wise"), Mapping) for a in audits)


def apply(
    audits: Iterable[Mapping[str, Any]], *, enabled: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the entries, adjusted when ``enabled``; the run block's ``family_wise`` statement)."""
    entries = [dict(a) for a in audits]
    for entry in entries:  # undo an earlier adjustment: the family is recomputed whole
        if isinstance(entry.get("family_wise"), Mapping):
            entry["verdict"] = _own_verdict(entry)
            del entry["family_wise"]
    family = [e for e in entries if in_family(e)]
    alphas = [_alpha(e) for e in family]
    bound = min(1.0, sum(alphas))
    levels = sorted({round(1 - a, 10) for a in alphas})
    statement: dict[str, Any] = {
        "audits": len(family),
        "confidence_each": levels,
        "bonferroni_bound": bound,
        "method": "holm" if enabled else None,
        "alpha": None,
        "held": None,
        "undecided": None,
    }
    if not enabled or not family:
        return entries, statement
    alpha = min(alphas)
    ranked = sorted(family, key=_p)
    m, standing = len(ranked), True
    for j, entry in enumerate(ranked):
        level = alpha / (m - j)
        standing = standing and _p(entry) <= level
        entry["family_wise"] = {
            "method": "holm",
            "p_value": _p(entry),
            "level": level,
            "holds": standing,
            "verdict_alone": entry["verdict"],
        }
        if not standing:
            entry["verdict"] = outcome.INCONCLUSIVE
    held = sum(1 for e in ranked if e["family_wise"]["holds"])
    statement.update(alpha=alpha, held=held, undecided=m - held)
    return entries, statement


def statement_lines(statement: Mapping[str, Any] | None) -> list[str]:
    """The terminal summary's family-wise lines (nothing for a run without decisive audits)."""
    if not statement or not statement.get("audits"):
        return []
    k, bound = statement["audits"], statement["bonferroni_bound"]
    each = ", ".join(f"{c:.4g}" for c in statement["confidence_each"])
    head = (
        f"family-wise: {k} gating verdict(s) at {each} confidence each: the chance that "
        f"at least one is wrong is at most {bound:.3g} (Bonferroni, min(1, sum of 1 - confidence))"
    )
    if statement.get("method") != "holm":
        return [head + "; set family_wise: true to make them hold jointly"]
    alpha = statement["alpha"]
    tail = (
        f"family_wise: true (Holm at {alpha:.3g}): {statement['held']} of {k} hold jointly, "
        f"{statement['undecided']} turned INCONCLUSIVE; the chance that any verdict still "
        f"standing is wrong is at most {alpha:.3g}"
    )
    return [head, tail]
