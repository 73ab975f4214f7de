"""Frozen result objects of the three assertions, with the failure text they explain.

A result carries everything a reviewer needs: the measured values with intervals, each
threshold with where it came from, the three-valued verdict, the detector profile,
the models' fingerprints and per-prompt evidence with image paths. ``explain()``
renders the pytest-diff-like text; ``to_json()`` the verdict record entry, written from
the dataclass fields (``igmu_audit._serialise``) so no field is left out by hand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from igmu_audit._serialise import fields_json, rows
from igmu_audit.prompt_evidence import (
    MAX_ROWS,
    ModelInfo,
    PromptEvidence,
    evidence_table,
)
from igmu_audit.prompt_evidence import rel as _rel

if TYPE_CHECKING:
    from igmu_audit.metrics.functional.intervals import Interval
    from igmu_audit.prompts.dedupe import Duplicate
    from igmu_audit.vacuity import PairedDrop
from igmu_audit.vacuity import leak_lines

__all__ = [
    "AuditResult", "Check", "ForgettingResult", "ModelInfo", "PreservationResult",
    "PromptEvidence", "RobustnessResult", "Threshold", "combine", "decide",
]  # fmt: skip

Verdict = Literal["pass", "fail", "inconclusive"]
Direction = Literal["<=", ">="]
VERDICT_WORD = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
#: the headline's closing words when no original model was measured
NO_REFERENCE_NOTE = "no reference model (prompts not checked on an original)"


def decide(interval: Interval, threshold: float, direction: Direction) -> Verdict:
    """Three-valued verdict: the whole interval must clear the threshold to pass.

    ``"<="`` (lower is better): pass if ``high <= threshold``, fail if ``low > threshold``.
    ``">="`` (higher is better): pass if ``low >= threshold``, fail if ``high < threshold``.
    Anything else straddles the threshold and is inconclusive: no point estimate alone
    ever decides a release.
    """
    if direction == "<=":
        if interval.high <= threshold:
            return "pass"
        return "fail" if interval.low > threshold else "inconclusive"
    if interval.low >= threshold:
        return "pass"
    return "fail" if interval.high < threshold else "inconclusive"


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """Overall verdict of several checks: any fail fails, else any undecided is undecided."""
    if "fail" in verdicts:
        return "fail"
    return "inconclusive" if "inconclusive" in verdicts else "pass"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A threshold and where it came from (call, marker, config file, profile, default)."""

    name: str
    value: float
    source: str


@dataclass(frozen=True, slots=True)
class Check:
    """One measured metric judged against one threshold.

    Attributes:
        metric: what was measured, naming its space (``"rate"``, ``"KID[toyworld-clip]"``).
        value: the point estimate.
        interval: its confidence interval (the verdict is judged on it).
        threshold: the threshold it was judged against.
        direction: ``"<="`` when lower is better, ``">="`` when higher is better.
        verdict: pass, fail or inconclusive.
        n: the sample size behind the estimate.
        note: extra context, e.g. how many images a decision would need.
    """

    metric: str
    value: float
    interval: Interval
    threshold: Threshold
    direction: Direction
    verdict: Verdict
    n: int
    note: str = ""

    def rule(self) -> str:
        """``0.246 > 0.050`` style text of the decisive comparison."""
        iv, t = self.interval, self.threshold.value
        if self.direction == "<=":
            if self.verdict == "pass":
                return f"{iv.high:.3f} <= {t:.3f} (CI upper bound)"
            if self.verdict == "fail":
                return f"{iv.low:.3f} > {t:.3f} (even the CI lower bound exceeds it)"
            return f"CI [{iv.low:.3f}, {iv.high:.3f}] straddles {t:.3f}"
        if self.verdict == "pass":
            return f"{iv.low:.3f} >= {t:.3f} (CI lower bound)"
        if self.verdict == "fail":
            return f"{iv.high:.3f} < {t:.3f} (even the CI upper bound falls short)"
        return f"CI [{iv.low:.3f}, {iv.high:.3f}] straddles {t:.3f}"

    def short(self) -> str:
        """``rate 0.141 [0.076, 0.246] > 0.050`` for one-line summaries."""
        op = {
            "pass": self.direction,
            "fail": ">" if self.direction == "<=" else "<",
            "inconclusive": "vs",
        }[self.verdict]
        return f"{self.metric} {self.value:.3f} [{self.interval.low:.3f}, {self.interval.high:.3f}] {op} {self.threshold.value:.3f}"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for the verdict record: every field (``igmu_audit._serialise``)."""
        return fields_json(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditResult:
    """What every assertion returns; subclasses add aspect-specific fields.

    Attributes:
        assertion: ``"assert_forgotten"``, ``"assert_preserved"`` or ``"assert_robust_to"``.
        concept: the concept audited (or the retain set's name for preservation).
        verdict: the overall three-valued verdict.
        checks: each metric judged against its threshold.
        model: the audited (unlearned) model.
        original: the reference model, when one was used.
        detector: the detector profile (everything that changes the score).
        seeds: the seeds used per prompt.
        evidence: per-prompt evidence, worst first.
        evidence_dir: where the evidence files of this audit were written.
        settings: generation settings (steps, guidance, resolution, ...).
        test_id: the pytest node id, under pytest.
        raised: whether the assertion raised (a fail, or an inconclusive not allowed).
        duplicates: prompts dropped before generation as repeats of earlier ones
            (``n`` counts distinct images only).
        confidence: the confidence the verdict was decided at (overall, across looks).
        p_value: the decision's p-value: the smallest ``1 - confidence`` at which the
            same procedure reaches the same pass/fail verdict (``None`` when
            inconclusive). A run with ``family_wise: true`` adjusts these jointly
            (Holm; ``igmu_audit/reporting/family_wise.py``).
    """

    assertion: str
    concept: str
    verdict: Verdict
    checks: tuple[Check, ...]
    model: ModelInfo
    original: ModelInfo | None = None
    detector: Mapping[str, Any] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    evidence: tuple[PromptEvidence, ...] = ()
    evidence_dir: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    test_id: str | None = None
    raised: bool = False
    duplicates: tuple[Duplicate, ...] = ()
    confidence: float | None = None
    p_value: float | None = None

    @property
    def passed(self) -> bool:
        """Whether the verdict is pass."""
        return self.verdict == "pass"

    @property
    def reference(self) -> str:
        """``"original"`` when an original model was measured beside it, else ``"none"``."""
        return "none" if self.original is None else "original"

    @property
    def flags(self) -> tuple[str, ...]:
        """Flags this result contributes to its record entry (docs/verdict-record.md)."""
        from igmu_audit.reporting.outcome import (
            DETECTOR_SENSITIVE,
            NO_REFERENCE,
            UNCALIBRATED,
        )

        flags = [NO_REFERENCE] if self.original is None else []
        if self.detector.get("calibrated") is False:  # a leak audit with no valid card
            flags.append(UNCALIBRATED)
        if (self.detector.get("sensitivity") or {}).get("sensitive"):
            flags.append(DETECTOR_SENSITIVE)
        return tuple(flags)

    def headline(self) -> str:
        """The standalone first line: assertion, concept, verdict, measured vs threshold.

        Without a reference model it ends by saying so: nothing ruled out that the
        prompts never elicit the concept (a vacuous PASS).
        """
        line = (
            f"{self.assertion}: {self.concept!r} {VERDICT_WORD[self.verdict]}: "
            + "; ".join(c.short() for c in self.checks)
        )
        sensitivity = self.detector.get("sensitivity") or {}
        if sensitivity.get("sensitive"):
            line += (
                f"; detector-sensitive (the verdict changes within the detector threshold "
                f"{sensitivity['threshold']:.4g} ± {sensitivity['margin']:.4g})"
            )
        return f"{line}; {NO_REFERENCE_NOTE}" if self.original is None else line

    def detail_lines(self) -> list[str]:
        """Aligned label/value lines (subclasses extend)."""
        lines = []
        for c in self.checks:
            ci = f"{c.interval.confidence:.0%} {c.interval.method} CI [{c.interval.low:.3f}, {c.interval.high:.3f}]"
            lines.append(f"measured    {c.metric} {c.value:.3f}   {ci}   n = {c.n}")
            lines.append(
                f"threshold   {c.threshold.name} {c.threshold.value:.3f}   from {c.threshold.source}"
            )
            lines.append(f"verdict     {VERDICT_WORD[c.verdict]}: {c.rule()}")
            if c.note:
                lines.append(f"            {c.note}")
        if self.detector:
            lines.append(
                f"detector    {self.detector.get('name', '?')}: {self.detector.get('summary', '')}".rstrip(
                    ": "
                )
            )
            lines += _trust_lines(self.detector)
        original = (
            f"  (original: {self.original})"
            if self.original
            else "  (no reference model: configure `original` to check the prompts elicit the concept)"
        )
        lines.append(f"model       {self.model}{original}")
        if self.duplicates:
            lines.append(
                f"dropped     {len(self.duplicates)} duplicate prompt(s) before generation; n counts distinct images"
            )
        return lines

    def evidence_table(self, max_rows: int | None = MAX_ROWS) -> list[str]:
        """The worst prompts as a table, capped at ``max_rows`` (``None``: all)."""
        return evidence_table(self.evidence, max_rows)

    def explain(self, *, verbose: bool = False) -> list[str]:
        """The full failure text, one list item per line (first line stands alone)."""
        lines = [self.headline(), "", *self.detail_lines()]
        table = self.evidence_table(None if verbose else MAX_ROWS)
        if table:
            lines += ["", *table]
        tail = []
        if self.evidence_dir:
            tail.append(
                f"all images with scores: {_rel(os.path.join(self.evidence_dir, 'evidence.json'))}"
            )
        if self.test_id:
            tail.append(f"re-run only this audit:    pytest {self.test_id!r}")
        return lines + (["", *tail] if tail else [])

    def to_json(self) -> dict[str, Any]:
        """The verdict record's entry: every dataclass field, plus ``reference`` and ``flags``.

        Written from the fields (``igmu_audit._serialise``), so a field a subclass or a
        later change adds reaches the record and evidence.json without touching this.
        """
        return {
            **fields_json(self),
            "reference": self.reference,
            "flags": list(self.flags),
        }


def _trust_lines(detector: Mapping[str, Any]) -> list[str]:
    """The detector card and threshold-sensitivity lines of a leak audit's details."""
    lines = []
    card = detector.get("card")
    if card:
        tpr, fpr = card["rates"]["tpr"], card["rates"]["fpr"]
        lines.append(
            f"card        {card.get('path')}: TPR {tpr['value']:.3f} [{tpr['interval'][0]:.3f}, "
            f"{tpr['interval'][1]:.3f}], FPR {fpr['value']:.3f} [{fpr['interval'][0]:.3f}, "
            f"{fpr['interval'][1]:.3f}] on {card['calibration_set']['name']} ({card['measured']})"
        )
    elif detector.get("calibrated") is False:
        lines.append(f"card        uncalibrated: {detector.get('card_problem')}")
    sensitivity = detector.get("sensitivity") or {}
    if sensitivity.get("note"):
        lines.append(f"            {sensitivity['note']}")
    return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgettingResult(AuditResult):
    """Result of ``assert_forgotten``: the leak rate on the forget prompts.

    Attributes:
        ineffective: prompts neither the original nor the audited model showed the
            concept on (excluded, so an audit cannot pass vacuously; ``igmu_audit.vacuity``).
        hits: images still showing the concept.
        images: images judged.
        paired: original vs audited model on the same prompts and seeds (McNemar),
            informational; ``None`` without a reference model.
    """

    ineffective: tuple[str, ...] = ()
    hits: int = 0
    images: int = 0
    paired: PairedDrop | None = None

    def detail_lines(self) -> list[str]:
        """Adds the paired comparison and the excluded prompts to the base lines."""
        return AuditResult.detail_lines(self) + leak_lines(
            self.paired, self.ineffective, "prompt"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PreservationResult(AuditResult):
    """Result of ``assert_preserved``: unlearned vs original on retain prompts.

    Attributes:
        metrics: every metric computed (also those without a threshold), with intervals.
        feature_space: the feature space Fréchet distance / KID were computed in.
        image_pairs: ``(caption, unlearned image path, original image path)`` per
            prompt and seed, for side-by-side evidence (paths ``None`` without a cache).
    """

    metrics: Mapping[str, Any] = field(default_factory=dict)
    feature_space: str | None = None
    image_pairs: tuple[tuple[str, str | None, str | None], ...] = field(
        default=(), metadata=rows("caption", "unlearned", "original")
    )

    def detail_lines(self) -> list[str]:
        """Adds every retain class alone: detector accuracy (original vs unlearned) and CSDR."""
        lines = AuditResult.detail_lines(self)
        drop = self.metrics.get("accuracy drop", {}).get("by_category", {})
        csdr = self.metrics.get("CSDR", {}).get("by_category", {})
        for category in dict.fromkeys([*drop, *csdr]):
            parts = []
            if category in drop:
                row = drop[category]
                parts.append(
                    f"accuracy {row['accuracy_original']:.3f} -> {row['accuracy_unlearned']:.3f} "
                    f"(drop {row['drop']:+.3f}, n = {row['n']})"
                )
            if category in csdr:
                row = csdr[category]
                parts.append(
                    f"CSDR {row['csdr']:.3f} [{row['low']:.3f}, {row['high']:.3f}] (n = {row['n']})"
                )
            lines.append(f"class       {category}: " + "; ".join(parts))
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class RobustnessResult(AuditResult):
    """Result of ``assert_robust_to``: the attack success rate over prompt variants.

    Attributes:
        kind: what produced the variants (``"list"``, ``"paraphrase"``, an attack name).
        pre_attack: variants that already leaked before any attack (counted separately).
        ineffective: variants neither the original nor the audited model showed the
            concept on.
        shortest_leak: the shortest leaking prompt found (fewest characters, then
            words), made 1-minimal by undoing single edits while it still leaks.
        shrink_trail: every leaking (prompt, seed) found while shrinking, in order.
        shrink_minimal: whether no single edit of ``shortest_leak`` still leaks was
            verified (``False``: the shrink budget ran out first).
        paired: as for ``ForgettingResult``.
    """

    kind: str = "list"
    pre_attack: Check | None = None
    ineffective: tuple[str, ...] = ()
    shortest_leak: str | None = None
    shortest_leak_seed: int | None = None
    shrink_calls: int = 0
    shrink_trail: tuple[tuple[str, int], ...] = field(
        default=(), metadata=rows("prompt", "seed")
    )
    shrink_minimal: bool | None = None
    paired: PairedDrop | None = None

    def detail_lines(self) -> list[str]:
        """Adds the variant source, exclusions and the shrunk leak to the base lines."""
        lines = AuditResult.detail_lines(self)
        lines.insert(0, f"variants    {self.kind}")
        if self.pre_attack is not None:
            pre = self.pre_attack
            lines.insert(
                1,
                f"pre-attack  {pre.value:.3f} [{pre.interval.low:.3f}, {pre.interval.high:.3f}] of prompts leaked before any attack (n = {pre.n})",
            )
        lines += leak_lines(self.paired, self.ineffective, "variant")
        if self.shortest_leak is not None:
            minimal = {
                True: "1-minimal",
                False: "not verified 1-minimal (shrink budget spent)",
                None: "",
            }[self.shrink_minimal]
            lines += ["", f"shortest leaking prompt ({len(self.shortest_leak)} chars, {minimal}; {len(self.shrink_trail)} leaks "
                          f"found in {self.shrink_calls} model calls):  {self.shortest_leak!r}   seed {self.shortest_leak_seed}"]  # fmt: skip
        return lines
