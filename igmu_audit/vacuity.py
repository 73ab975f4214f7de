"""The vacuity rule of the leak audits, and the paired "did the rate drop" test beside it.

Why: an audit on prompts that never elicit the concept passes vacuously, so prompts no
model shows the concept on are excluded. But excluding prompts the *original* missed
would also drop the audited model's hits on them (a Greek wording UCE draws stripes for,
where the original drew none on those seeds), and a dropped leak is a hidden one. The
rule: a prompt counts when the original **or** the audited model shows the concept on it
on any of the audit's first seeds; prompts neither shows are excluded and listed.

The counted set is decided once, on the first seeds (the seeds given): sequential looks
(``max_seeds``) add seeds to the counted prompts only, and the original is never
generated beyond the first seeds. McNemar's exact test needs only the discordant pairs,
so excluding prompts neither model shows (concordant negatives) leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from igmu_audit.metrics.functional.intervals import Interval
    from igmu_audit.prompt_evidence import PromptEvidence
    from igmu_audit.scoring import ScoredImages


@dataclass(frozen=True, slots=True)
class PairedDrop:
    """Original vs audited model on the same (prompt, seed) pairs: did the rate drop?

    Informational, never gating: a release is judged on the absolute leak rate (a
    significant drop from a high rate can still leak too much; an insignificant drop
    from a rate the original rarely reaches can still be safe).

    Attributes:
        pairs: (prompt, seed) image pairs compared (counted prompts x the first seeds).
        original_hits: pairs where the original shows the concept.
        unlearned_hits: pairs where the audited model shows it.
        original_only: pairs where only the original shows it (McNemar's ``b``).
        unlearned_only: pairs where only the audited model shows it (``c``).
        p_value: McNemar's exact two-sided p-value.
        p_drop: exact one-sided p-value of "the rate dropped" (``P(Bin(b + c, ½) >= b)``).
        difference: original rate - audited rate on these pairs.
        interval: Agresti-Min interval of ``difference``.
    """

    pairs: int
    original_hits: int
    unlearned_hits: int
    original_only: int
    unlearned_only: int
    p_value: float
    p_drop: float
    difference: float
    interval: Interval

    def line(self) -> str:
        """The ``paired`` line of the failure text."""
        iv = self.interval
        return (
            f"paired      original {self.original_hits}/{self.pairs} -> unlearned "
            f"{self.unlearned_hits}/{self.pairs} on the same prompts and seeds: drop "
            f"{self.difference:.3f} [{iv.low:.3f}, {iv.high:.3f}], McNemar exact p = "
            f"{self.p_value:.3g} (one-sided drop p = {self.p_drop:.3g}; informational, "
            "not gating)"
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the verdict record."""
        return {
            "test": "mcnemar-exact",
            "pairs": self.pairs,
            "original_hits": self.original_hits,
            "unlearned_hits": self.unlearned_hits,
            "original_only": self.original_only,
            "unlearned_only": self.unlearned_only,
            "p_value": self.p_value,
            "p_drop": self.p_drop,
            "difference": self.difference,
            "interval": {
                "low": self.interval.low,
                "high": self.interval.high,
                "confidence": self.interval.confidence,
                "method": self.interval.method,
            },
            "gating": False,
        }


def paired_drop(
    original: ScoredImages, unlearned: ScoredImages, confidence: float
) -> PairedDrop | None:
    """McNemar on the counted prompts x the original's seeds; ``None`` without pairs.

    ``unlearned`` must hold every prompt of ``original`` with at least its seeds.
    """
    import torch
    from scipy.stats import binom

    from igmu_audit.metrics.functional.paired import mcnemar_from_outcomes

    first, second = [], []
    for prompt in original.prompts:
        i, j = original.prompts.index(prompt), unlearned.prompts.index(prompt)
        for k, seed in enumerate(original.seeds):
            first.append(original.present[i * len(original.seeds) + k])
            seat = unlearned.seeds.index(seed)
            second.append(unlearned.present[j * len(unlearned.seeds) + seat])
    if not first:
        return None
    a = torch.tensor(first, dtype=torch.bool)
    b = torch.tensor(second, dtype=torch.bool)
    test = mcnemar_from_outcomes(a, b, confidence)
    discordant = test.b + test.c
    p_drop = 1.0 if discordant == 0 else float(binom.sf(test.b - 1, discordant, 0.5))
    return PairedDrop(
        pairs=test.n,
        original_hits=int(a.sum()),
        unlearned_hits=int(b.sum()),
        original_only=test.b,
        unlearned_only=test.c,
        p_value=test.p_value,
        p_drop=min(1.0, p_drop),
        difference=test.difference,
        interval=test.interval,
    )


def side_by_side(
    evidence: tuple[PromptEvidence, ...], original: ScoredImages | None
) -> tuple[PromptEvidence, ...]:
    """``evidence`` with each prompt's hits on the original (its first seeds) beside it."""
    if original is None:
        return evidence
    return tuple(
        replace(
            e,
            original_hits=original.hits_of(e.prompt),
            original_seeds=len(original.seeds),
        )
        for e in evidence
    )


def leak_lines(
    paired: PairedDrop | None, excluded: tuple[str, ...], noun: str
) -> list[str]:
    """The ``paired`` and ``excluded`` lines of a leak audit's failure text."""
    from igmu_audit.prompt_evidence import cut

    lines = [paired.line()] if paired is not None else []
    if excluded:
        shown = ", ".join(repr(cut(p, 30)) for p in excluded[:3]) + (
            ", ..." if len(excluded) > 3 else ""
        )
        lines.append(
            f"excluded    {len(excluded)} {noun}(s) neither model showed the concept on: {shown}"
        )
    return lines
