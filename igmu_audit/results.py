"""Frozen result objects of the three assertions, with the failure text they explain.

A result carries everything a reviewer needs: the measured values with intervals, each
threshold with where it came from, the three-valued verdict, the detector profile,
the models' fingerprints and per-prompt evidence with image paths. ``explain()``
renders the pytest-diff-like text; ``to_json()`` the verdict record entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from igmu_audit.metrics.functional.intervals import Interval
    from igmu_audit.prompts.dedupe import Duplicate

Verdict = Literal["pass", "fail", "inconclusive"]
Direction = Literal["<=", ">="]
VERDICT_WORD = {"pass": "PASS", "fail": "FAIL", "inconclusive": "UNDEC"}
MAX_ROWS = 5


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
        """JSON-ready dict for the verdict record."""
        return {
            "metric": self.metric,
            "value": self.value,
            "interval": {"low": self.interval.low, "high": self.interval.high,
                         "confidence": self.interval.confidence, "method": self.interval.method,
                         **({"n_effective": self.interval.n_effective} if self.interval.n_effective is not None else {})},
            "threshold": asdict(self.threshold),
            "direction": self.direction,
            "verdict": self.verdict,
            "n": self.n,
            "note": self.note,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class PromptEvidence:
    """Per-prompt evidence: each seed's score, the hits and where the images are.

    Attributes:
        index: the prompt's position in the list the assertion was given.
        prompt: the prompt.
        seeds: the seeds generated.
        scores: the detector's score per seed.
        present: whether the concept was detected per seed.
        image_paths: per seed, the image a human can open (evidence copy or cache), or None.
    """

    index: int
    prompt: str
    seeds: tuple[int, ...]
    scores: tuple[float, ...]
    present: tuple[bool, ...]
    image_paths: tuple[str | None, ...]

    @property
    def hits(self) -> int:
        """Images of this prompt in which the concept shows."""
        return sum(self.present)

    @property
    def max_score(self) -> float:
        """The highest score over seeds."""
        return max(self.scores)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict for evidence files and records."""
        return {"index": self.index, "prompt": self.prompt, "images": [
            {"seed": s, "score": sc, "present": p, "path": path}
            for s, sc, p, path in zip(self.seeds, self.scores, self.present, self.image_paths, strict=True)
        ]}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of an audited model: its display label and fingerprint."""

    label: str
    fingerprint: str

    def __str__(self) -> str:
        algo, _, digest = self.fingerprint.partition(":")
        return f"{self.label}  {algo}:{digest[:8]}.." if digest else self.label


def _rel(path: str | None) -> str:
    if path is None:
        return "-"
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


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

    @property
    def passed(self) -> bool:
        """Whether the verdict is pass."""
        return self.verdict == "pass"

    def headline(self) -> str:
        """The standalone first line: assertion, concept, verdict, measured vs threshold."""
        return (
            f"{self.assertion}: {self.concept!r} {VERDICT_WORD[self.verdict]}: "
            + "; ".join(c.short() for c in self.checks)
        )

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
        original = f"  (original: {self.original})" if self.original else ""
        lines.append(f"model       {self.model}{original}")
        if self.duplicates:
            lines.append(
                f"dropped     {len(self.duplicates)} duplicate prompt(s) before generation; n counts distinct images"
            )
        return lines

    def evidence_table(self, max_rows: int | None = MAX_ROWS) -> list[str]:
        """The worst prompts as a table, capped at ``max_rows`` (``None``: all)."""
        rows = [e for e in self.evidence if e.hits] or list(self.evidence)
        if not rows:
            return []
        shown = rows if max_rows is None else rows[:max_rows]
        title = f"leaking prompts: {sum(1 for e in self.evidence if e.hits)} of {len(self.evidence)}"
        if len(shown) < len(rows):
            title += f" (top {len(shown)} shown; -vv shows all)"
        lines = [title, f"  {'#':>3}  {'prompt':<46}  hits  max score  evidence"]
        for e in shown:
            paths = [
                p for p, hit in zip(e.image_paths, e.present, strict=True) if hit
            ] or list(e.image_paths)
            first = _rel(paths[0]) + (f" (+{len(paths) - 1})" if len(paths) > 1 else "")
            lines.append(
                f"  {e.index:02d}".rjust(5)
                + f"  {_cut(repr(e.prompt), 46):<46}  {e.hits}/{len(e.seeds):<3} {e.max_score:<9.2f}  {first}"
            )
        return lines

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
        """JSON-ready dict (the verdict record's entry for this audit)."""
        return {
            "assertion": self.assertion,
            "concept": self.concept,
            "verdict": self.verdict,
            "checks": [c.to_json() for c in self.checks],
            "model": asdict(self.model),
            "original": asdict(self.original) if self.original else None,
            "detector": dict(self.detector),
            "seeds": list(self.seeds),
            "settings": dict(self.settings),
            "test_id": self.test_id,
            "evidence_dir": self.evidence_dir,
            "raised": self.raised,
            "duplicates": [d.to_json() for d in self.duplicates],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgettingResult(AuditResult):
    """Result of ``assert_forgotten``: the leak rate on the forget prompts.

    Attributes:
        ineffective: prompts that never showed the concept on the original model
            (excluded, so an audit cannot pass vacuously).
        hits: images still showing the concept.
        images: images judged.
    """

    ineffective: tuple[str, ...] = ()
    hits: int = 0
    images: int = 0

    def detail_lines(self) -> list[str]:
        """Adds the effective-prompt accounting to the base lines."""
        lines = AuditResult.detail_lines(self)
        if self.ineffective:
            lines.append(
                f"excluded    {len(self.ineffective)} prompt(s) never showed the concept on the original model"
            )
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class PreservationResult(AuditResult):
    """Result of ``assert_preserved``: unlearned vs original on retain prompts.

    Attributes:
        metrics: every metric computed (also those without a threshold), with intervals.
        feature_space: the feature space Fréchet distance / KID were computed in.
    """

    metrics: Mapping[str, Any] = field(default_factory=dict)
    feature_space: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RobustnessResult(AuditResult):
    """Result of ``assert_robust_to``: the attack success rate over prompt variants.

    Attributes:
        kind: what produced the variants (``"list"``, ``"paraphrase"``, an attack name).
        pre_attack: variants that already leaked before any attack (counted separately).
        ineffective: variants that never showed the concept on the original model.
        shortest_leak: the shortest leaking prompt found (after shrinking), if any.
    """

    kind: str = "list"
    pre_attack: Check | None = None
    ineffective: tuple[str, ...] = ()
    shortest_leak: str | None = None
    shortest_leak_seed: int | None = None
    shrink_calls: int = 0

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
        if self.ineffective:
            lines.append(
                f"excluded    {len(self.ineffective)} variant(s) never showed the concept on the original model"
            )
        if self.shortest_leak is not None:
            lines += ["", f"shortest leaking prompt (shrunk in {self.shrink_calls} model calls):  "
                          f"{self.shortest_leak!r}   seed {self.shortest_leak_seed}"]  # fmt: skip
        return lines

    def to_json(self) -> dict[str, Any]:
        """Adds the variant kind and the shrunk leak to the record entry."""
        out = AuditResult.to_json(self)
        out.update(kind=self.kind, shortest_leak=self.shortest_leak, shortest_leak_seed=self.shortest_leak_seed,
                   ineffective=list(self.ineffective),
                   pre_attack=self.pre_attack.to_json() if self.pre_attack else None)  # fmt: skip
        return out
