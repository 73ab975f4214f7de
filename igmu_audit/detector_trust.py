"""How far a leak audit can trust its detector: its card, the corrected rate, the sensitivity.

Why a module of its own: every leak audit (forgetting, robustness on variants) applies
one rule. With a valid detector card (``detector_card:``) the rate is judged on the
Rogan-Gladen corrected interval (``metrics/functional/corrected.py``), the raw rate kept
beside it in the record; without one the verdict carries the ``uncalibrated`` flag, and
``require_card: true`` makes the audit inconclusive before any image is generated. Either
way the verdict is re-decided at the detector threshold ± ``detector_margin`` from the
scores already computed (``detectors/sensitivity.py``); a verdict that flips is
``detector-sensitive``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from igmu_audit.detectors.cards import DetectorCard
from igmu_audit.results import Check, Threshold, decide

Judge = Callable[[float], Check]


@dataclass(frozen=True, slots=True)
class Trust:
    """The detector card an audit uses (or why it has none) and its sensitivity margin.

    Attributes:
        card: the valid card, else ``None``.
        path: the card file used or looked for, else ``None``.
        problem: why there is no valid card (``None`` when there is one).
        required: ``require_card`` is true.
        source: where ``require_card`` was set.
        margin: ``detector_margin``.
    """

    card: DetectorCard | None
    path: str | None
    problem: str | None
    required: bool
    source: str
    margin: float

    @property
    def blocks(self) -> bool:
        """Whether the audit must stop inconclusive (a card is required and none is valid)."""
        return self.card is None and self.required


def card_path(setting: str | Mapping[str, str] | None, detector: Any) -> Path | None:
    """The card file for ``detector`` under the ``detector_card`` setting, or ``None``.

    A mapping is looked up by the detector's profile name, then its registry name. A
    folder holds one card per concept (``<concept>.json``) or per profile
    (``<profile>.json``).
    """
    profile = dict(detector.profile)
    names = [str(n) for n in (profile.get("profile"), detector.name) if n]
    if setting is None:
        return None
    if isinstance(setting, Mapping):
        found = next((setting[n] for n in names if n in setting), None)
        if found is None:
            return None
        setting = found
    path = Path(setting)
    if path.is_dir():
        concept = profile.get("concept")
        return path / f"{concept if isinstance(concept, str) else names[0]}.json"
    return path


def trust_of(config: Any, detector: Any) -> Trust:
    """The detector's trust under ``config`` alone (no call or marker values)."""
    return _trust(
        detector,
        config.detector_card,
        Threshold(
            "require_card", float(config.require_card), config.source_of("require_card")
        ),
        float(config.detector_margin),
    )


def trust_in(ctx: Any, detector: Any) -> Trust:
    """The detector's trust in an audit: the settings resolved for it (marker > config)."""
    required = ctx.setting("require_card")
    return _trust(
        detector,
        ctx.value("detector_card"),
        Threshold("require_card", float(bool(required.value)), required.source),
        float(ctx.value("detector_margin")),
    )


def _trust(detector: Any, setting: Any, required: Threshold, margin: float) -> Trust:
    """Resolve, load and check the detector's card; a bad card is never used silently.

    An unreadable or malformed card is a ``ConfigError`` (the user asked for it); a card
    for another detector (version, weights, concept) is not used, and the record and
    the note say which field differs.
    """
    from igmu_audit.detectors.card_files import load_card

    path = card_path(setting, detector)
    need, source = bool(required.value), required.source
    if path is None:
        problem = f"no detector card for {detector.name!r} (set detector_card:)"
        return Trust(None, None, problem, need, source, margin)
    card = load_card(path)
    mismatches = card.mismatches(detector)
    if mismatches:
        problem = f"detector card {path} is invalid for this detector: " + "; ".join(
            mismatches
        )
        return Trust(None, str(path), problem, need, source, margin)
    return Trust(card, str(path), None, need, source, margin)


def missing_card_check(trust: Trust, confidence: float) -> Check:
    """The inconclusive check of an audit under ``require_card`` without a valid card."""
    from igmu_audit.metrics.functional.intervals import Interval

    note = (
        f"{trust.problem}; require_card is true (from {trust.source}): without measured "
        "error rates the detector's leak rate could be anything. fix: build a card with "
        "`python -m igmu_audit.detectors calibrate <labelled tree> --detector <name> --out "
        "card.json` and set detector_card: card.json"
    )
    point = Interval(0.0, 0.0, confidence, "count")
    required = Threshold("require_card", 1.0, trust.source)
    return Check("detector card", 0.0, point, required, ">=", "inconclusive", 0, note)


def corrected_check(
    box: Check, counts: tuple[int, int, int, int], card: DetectorCard
) -> Check:
    """``box`` (the raw check at the box level) judged on its corrected interval."""
    from igmu_audit.metrics.functional.corrected import corrected_rate

    out = corrected_rate(box.value, box.interval, counts)
    tpr, fpr = counts[0] / counts[1], counts[2] / counts[3]
    note = (
        f"corrected for detector error (card: TPR {tpr:.3f}, FPR {fpr:.3f} on "
        f"{card.calibration.name}, measured {card.measured}): raw rate {out.raw:.3f}, "
        f"Rogan-Gladen {out.value:.3f}"
    )
    return replace(
        box,
        value=out.value,
        interval=out.interval,
        verdict=decide(out.interval, box.threshold.value, box.direction),
        note="; ".join(filter(None, [note, box.note])),
    )


def trusted_judge(
    trust: Trust,
    scores: Sequence[float],
    prompts: int,
    threshold: Threshold,
    detector_threshold: float,
    *,
    interval: str,
    looks: int,
    present: Sequence[bool] | None = None,
) -> Judge:
    """The rate check at any confidence, on the images' scores at ``detector_threshold``.

    Without a card, the raw check (``steps.rate_check``); with one, the corrected check.
    ``present``: the detector's own presence flags at this threshold (exactly as scored,
    its float32 comparison included), used instead of comparing ``scores`` again.
    """
    from igmu_audit.leak_rate import per_prompt
    from igmu_audit.metrics.functional.corrected import split_confidence
    from igmu_audit.steps import rate_check

    if present is None:
        present = [s >= detector_threshold for s in scores]
    clusters = per_prompt(present, prompts)
    raw: Judge = partial(rate_check, sum(present), len(present), threshold,
                         clusters=clusters, interval=interval, looks=looks)  # fmt: skip
    card = trust.card
    if card is None:
        return raw
    counts = card.counts_at(detector_threshold)
    return lambda confidence: corrected_check(
        raw(split_confidence(confidence)), counts, card
    )


def card_block(trust: Trust, detector_threshold: float) -> dict[str, Any]:
    """What the record's detector block says of the card (known before any image)."""
    card = trust.card
    summary = None if card is None else card.summary(detector_threshold)
    return {
        "calibrated": card is not None,
        "card": None if summary is None else {"path": trust.path, **summary},
        "card_problem": trust.problem,
    }


@dataclass(frozen=True, slots=True)
class DetectorScores:
    """The detector's per-image scores for one audit, with what re-judging them needs.

    ``prompts`` is how many prompts the images came from; ``present`` marks the images
    that exist (``None``: all), used only at the detector's own threshold.
    """

    scores: Sequence[float]
    prompts: int
    present: Sequence[bool] | None = None


def trust_record(
    trust: Trust,
    scored: DetectorScores,
    threshold: Threshold,
    detector_threshold: float,
    *,
    confidence: float,
    interval: str,
    looks: int,
) -> dict[str, Any]:
    """The detector block's additions: card, correction (raw rate kept), sensitivity."""
    from igmu_audit.detectors.sensitivity import threshold_sensitivity

    def judge_at(t: float, card: Trust = trust) -> Judge:
        own = scored.present if t == detector_threshold else None
        return trusted_judge(card, scored.scores, scored.prompts, threshold, t,
                             interval=interval, looks=looks, present=own)  # fmt: skip

    sensitivity = threshold_sensitivity(
        detector_threshold, trust.margin, lambda t: judge_at(t)(confidence).verdict
    )
    block: dict[str, Any] = {
        **card_block(trust, detector_threshold),
        "sensitivity": {**sensitivity.to_json(), "note": sensitivity.note()},
    }
    if trust.card is not None:
        from igmu_audit.metrics.functional.corrected import (
            corrected_rate,
            split_confidence,
        )

        raw = judge_at(detector_threshold, replace(trust, card=None))
        box, plain = raw(split_confidence(confidence)), raw(confidence)
        counts = trust.card.counts_at(detector_threshold)
        block["correction"] = {
            **corrected_rate(box.value, box.interval, counts).to_json(),
            "raw_interval": [plain.interval.low, plain.interval.high],
            "raw_confidence": plain.interval.confidence,
        }
    return block
