"""Detector cards: a detector's measured error rates, tied to the exact detector measured.

Why: a leak rate read through a detector is only as good as the detector. A card says
which detector (name, version, weights sha256, classes, concept, preprocessing) was
measured on which labelled set (name, content hash, size, date), at which threshold, and
what it found: the true-positive rate (sensitivity) and false-positive rate (1 -
specificity) with Clopper-Pearson intervals. It keeps the calibration scores, so the rates
at any other threshold (the detector's, or the sensitivity check's threshold +/- margin)
are counted, never guessed. The format is ``igmu-audit/detector-card/1``
(docs/detector-cards.md); a card that disagrees with the detector in use is invalid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from igmu_audit.errors import ConfigError

#: the format tag every card carries; a different tag is refused
CARD_FORMAT = "igmu-audit/detector-card/1"
#: fields that tie a card to one detector; any difference makes the card invalid
IDENTITY_FIELDS = ("detector", "version", "weights_sha256", "concept", "classes")
#: how a card's threshold was set
THRESHOLD_RULES = ("given", "target-fpr", "target-fnr")


def _hashes(profile: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every ``*sha256`` value in a (nested) profile, as ``(dotted key, hex)``."""
    found: list[tuple[str, str]] = []
    for key, value in profile.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found += _hashes(value, f"{path}.")
        elif str(key).endswith("sha256") and isinstance(value, str):
            found.append((path, value))
    return sorted(found)


def detector_identity(detector: Any) -> dict[str, Any]:
    """The identity fields of a detector, read from its profile by one general rule.

    ``version``: every ``version`` / ``*_version`` key (``"none"`` when the profile has no
    such key: the weights hash then carries the identity alone). ``weights_sha256``:
    every ``*sha256`` key, nested ones included (``None`` when there is none: such a
    detector cannot be tied to a card).
    """
    profile = dict(detector.profile)
    versions = sorted(
        f"{k}={v}"
        for k, v in profile.items()
        if k == "version" or str(k).endswith("_version")
    )
    hashes = _hashes(profile)
    if not hashes:
        weights = None
    elif len(hashes) == 1:
        weights = hashes[0][1]
    else:
        weights = "; ".join(f"{k}={v}" for k, v in hashes)
    classes = profile.get("classes")
    return {
        "detector": str(getattr(detector, "name", profile.get("detector", "?"))),
        "version": "; ".join(versions) if versions else "none",
        "weights_sha256": weights,
        "concept": profile.get("concept"),
        "classes": list(classes) if classes is not None else None,
    }


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` calibration images called present, with its interval."""

    k: int
    n: int
    low: float
    high: float
    method: str = "clopper-pearson"

    @property
    def value(self) -> float:
        """``k / n``."""
        return self.k / self.n

    def to_json(self) -> dict[str, Any]:
        """JSON form: counts, value, interval and method."""
        return {
            "k": self.k,
            "n": self.n,
            "value": round(self.value, 6),
            "interval": [round(self.low, 6), round(self.high, 6)],
            "method": self.method,
        }


def rate_of(k: int, n: int, confidence: float) -> Rate:
    """A Clopper-Pearson ``Rate`` (never under-covers, also at 0 or n of n)."""
    from igmu_audit.metrics.functional.intervals import clopper_pearson_interval

    iv = clopper_pearson_interval(k, n, confidence)
    return Rate(k, n, iv.low, iv.high)


@dataclass(frozen=True)
class CalibrationSet:
    """The labelled images a card was measured on."""

    name: str
    sha256: str
    size: int
    split: str
    positive_class: str
    negative_classes: tuple[str, ...]


@dataclass(frozen=True)
class DetectorCard:
    """One detector's measured error rates (see the module docstring).

    Attributes:
        detector, version, weights_sha256, concept, classes: the detector's identity.
        profile: the profile name (or the detector name when it has none).
        preprocessing: what the detector does to an image before scoring it.
        threshold: the threshold the card's rates are stated at.
        threshold_rule: ``given``, ``target-fpr`` or ``target-fnr``.
        target: the target rate of a chosen threshold, else ``None``.
        chosen_on: the split the threshold was chosen on (``None`` when given).
        calibration: the labelled set.
        measured: ISO date of the measurement.
        confidence: coverage of the card's intervals.
        positive_scores, negative_scores: the calibration scores, sorted.
        detector_profile: the full profile of the detector measured.
    """

    detector: str
    version: str
    weights_sha256: str
    concept: str | None
    classes: tuple[str, ...] | None
    profile: str
    preprocessing: str
    threshold: float
    threshold_rule: str
    target: float | None
    chosen_on: str | None
    calibration: CalibrationSet
    measured: str
    confidence: float
    positive_scores: tuple[float, ...]
    negative_scores: tuple[float, ...]
    detector_profile: Mapping[str, Any] = field(default_factory=dict)

    def counts_at(self, threshold: float) -> tuple[int, int, int, int]:
        """``(true positives, positives, false positives, negatives)`` at ``threshold``."""
        tp = sum(s >= threshold for s in self.positive_scores)
        fp = sum(s >= threshold for s in self.negative_scores)
        return tp, len(self.positive_scores), fp, len(self.negative_scores)

    def tpr(self, threshold: float | None = None) -> Rate:
        """Sensitivity at ``threshold`` (default: the card's), with its interval."""
        tp, npos, _, _ = self.counts_at(
            self.threshold if threshold is None else threshold
        )
        return rate_of(tp, npos, self.confidence)

    def fpr(self, threshold: float | None = None) -> Rate:
        """False-positive rate (1 - specificity) at ``threshold``, with its interval."""
        _, _, fp, nneg = self.counts_at(
            self.threshold if threshold is None else threshold
        )
        return rate_of(fp, nneg, self.confidence)

    def identity(self) -> dict[str, Any]:
        """The identity fields, as ``detector_identity`` reads them from a detector."""
        return {
            "detector": self.detector,
            "version": self.version,
            "weights_sha256": self.weights_sha256,
            "concept": self.concept,
            "classes": list(self.classes) if self.classes is not None else None,
        }

    def summary(self, threshold: float | None = None) -> dict[str, Any]:
        """The card without its scores, at ``threshold``: what a verdict record carries."""
        at = self.threshold if threshold is None else threshold
        data = self.to_json()
        del data["scores"]
        data["rates_at"] = at
        data["rates"] = {"tpr": self.tpr(at).to_json(), "fpr": self.fpr(at).to_json()}
        return data

    def to_json(self) -> dict[str, Any]:
        """The card in its file format (``igmu-audit/detector-card/1``)."""
        cal = self.calibration
        return {
            "format": CARD_FORMAT,
            **self.identity(),
            "profile": self.profile,
            "preprocessing": self.preprocessing,
            "threshold": self.threshold,
            "threshold_choice": {
                "rule": self.threshold_rule,
                "target": self.target,
                "chosen_on": self.chosen_on,
            },
            "calibration_set": {
                "name": cal.name,
                "sha256": cal.sha256,
                "size": cal.size,
                "split": cal.split,
                "positive_class": cal.positive_class,
                "negative_classes": list(cal.negative_classes),
            },
            "measured": self.measured,
            "confidence": self.confidence,
            "rates": {"tpr": self.tpr().to_json(), "fpr": self.fpr().to_json()},
            "scores": {
                "positive": [round(s, 6) for s in self.positive_scores],
                "negative": [round(s, 6) for s in self.negative_scores],
            },
            "detector_profile": dict(self.detector_profile),
        }

    def mismatches(self, detector: Any) -> list[str]:
        """Why this card does not describe ``detector`` (empty when it does).

        Each line names the field, the card's value and the detector's value.
        """
        live = detector_identity(detector)
        problems = []
        if live["weights_sha256"] is None:
            problems.append(
                f"weights_sha256: the detector {live['detector']!r} reports no weights "
                "sha256 in its profile, so no card can be tied to it"
            )
        for key in IDENTITY_FIELDS:
            if key == "weights_sha256" and live[key] is None:
                continue
            if self.identity()[key] != live[key]:
                problems.append(
                    f"{key}: card has {self.identity()[key]!r}, the detector in use has {live[key]!r}"
                )
        return problems

    def check(self, detector: Any, where: str = "detector card") -> None:
        """Raise ``ConfigError`` when the card does not describe ``detector``."""
        problems = self.mismatches(detector)
        if problems:
            raise ConfigError(
                f"{where} is invalid for this detector: "
                + "; ".join(problems)
                + ". fix: rebuild the card for this detector "
                "(python -m igmu_audit.detectors calibrate ...)"
            )


def tree_sha256(files: Sequence[tuple[str, Path]]) -> str:
    """Content hash of a labelled set: sha256 over sorted ``label/name`` + file digest lines."""
    digest = hashlib.sha256()
    for label, file in sorted(files, key=lambda t: (t[0], t[1].name)):
        digest.update(f"{label}/{file.name}\0".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()
