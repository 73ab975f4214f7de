"""Reading and writing detector card files (``igmu-audit/detector-card/1``).

Why its own module: loading is strict (every key checked, the stated rates re-counted
from the stored scores, so a hand-edited card is caught) and that checking is long;
``cards.py`` keeps the card itself. Writes are atomic.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from igmu_audit.detectors.cards import (
    CARD_FORMAT,
    THRESHOLD_RULES,
    CalibrationSet,
    DetectorCard,
)
from igmu_audit.errors import ConfigError


def _need(
    data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str
) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = (
            kind.__name__
            if isinstance(kind, type)
            else "/".join(k.__name__ for k in kind)
        )
        raise ConfigError(
            f"{where}: {key!r} must be {names}, got {type(value).__name__}"
        )
    return value


def _scores(values: Any, where: str) -> tuple[float, ...]:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: expected a non-empty list of scores")
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise ConfigError(f"{where}[{i}]: expected a number, got {v!r}")
    return tuple(sorted(float(v) for v in values))


def card_from_json(data: Any, where: str = "detector card") -> DetectorCard:
    """Parse and check a card; every problem names the key and what was expected.

    The stated rates must agree with the stored scores, so a hand-edited rate is caught.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt != CARD_FORMAT:
        raise ConfigError(
            f"{where}: 'format' is {fmt!r}; this igmu-audit reads {CARD_FORMAT!r}"
        )
    choice = _need(data, "threshold_choice", dict, where)
    cal = _need(data, "calibration_set", dict, where)
    scores = _need(data, "scores", dict, where)
    rule = choice.get("rule")
    if rule not in THRESHOLD_RULES:
        raise ConfigError(
            f"{where}: threshold_choice.rule must be one of {list(THRESHOLD_RULES)}, got {rule!r}"
        )
    classes = data.get("classes")
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, str) for c in classes)
    ):
        raise ConfigError(f"{where}: 'classes' must be a list of strings or null")
    confidence = float(_need(data, "confidence", (int, float), where))
    if not 0.5 <= confidence < 1.0:
        raise ConfigError(
            f"{where}: 'confidence' must be in [0.5, 1), got {confidence}"
        )
    card = DetectorCard(
        detector=_need(data, "detector", str, where),
        version=_need(data, "version", str, where),
        weights_sha256=_need(data, "weights_sha256", str, where),
        concept=data.get("concept") if isinstance(data.get("concept"), str) else None,
        classes=tuple(classes) if classes is not None else None,
        profile=_need(data, "profile", str, where),
        preprocessing=_need(data, "preprocessing", str, where),
        threshold=float(_need(data, "threshold", (int, float), where)),
        threshold_rule=rule,
        target=choice.get("target"),
        chosen_on=choice.get("chosen_on"),
        calibration=CalibrationSet(
            name=_need(cal, "name", str, f"{where} calibration_set"),
            sha256=_need(cal, "sha256", str, f"{where} calibration_set"),
            size=_need(cal, "size", int, f"{where} calibration_set"),
            split=_need(cal, "split", str, f"{where} calibration_set"),
            positive_class=_need(
                cal, "positive_class", str, f"{where} calibration_set"
            ),
            negative_classes=tuple(
                _need(cal, "negative_classes", list, f"{where} calibration_set")
            ),
        ),
        measured=_need(data, "measured", str, where),
        confidence=confidence,
        positive_scores=_scores(scores.get("positive"), f"{where} scores.positive"),
        negative_scores=_scores(scores.get("negative"), f"{where} scores.negative"),
        detector_profile=dict(data.get("detector_profile") or {}),
    )
    _check_consistent(card, data, where)
    return card


def _check_consistent(card: DetectorCard, data: Mapping[str, Any], where: str) -> None:
    size = len(card.positive_scores) + len(card.negative_scores)
    if card.calibration.size != size:
        raise ConfigError(
            f"{where}: calibration_set.size is {card.calibration.size} but the card holds "
            f"{size} scores"
        )
    rates = data.get("rates")
    if not isinstance(rates, Mapping):
        raise ConfigError(f"{where}: missing 'rates' object")
    for key, rate in (("tpr", card.tpr()), ("fpr", card.fpr())):
        stated = rates.get(key)
        if not isinstance(stated, Mapping) or (stated.get("k"), stated.get("n")) != (
            rate.k,
            rate.n,
        ):
            got = (stated or {}).get("k"), (stated or {}).get("n")
            raise ConfigError(
                f"{where}: rates.{key} states k, n = {got} but the stored scores give "
                f"{rate.k}, {rate.n} at threshold {card.threshold}: the card was edited "
                "by hand or is corrupt. fix: rebuild it"
            )


def load_card(path: str | Path) -> DetectorCard:
    """Read a card file (repeated keys and non-UTF-8 text are errors naming the file)."""
    from igmu_audit.config.strict_loaders import load_json

    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"detector card {str(file)!r} not found. fix: build one with "
            "`python -m igmu_audit.detectors calibrate <labelled tree> --detector <name> --out card.json`"
        )
    return card_from_json(load_json(file, "detector card"), f"detector card {file}")


def write_card(card: DetectorCard, path: str | Path) -> None:
    """Write ``card`` atomically (a reader never sees half a card)."""
    import json

    from igmu_audit._atomic import atomic_write_text

    data = card.to_json()
    scores = data.pop("scores")
    data["scores"] = {"positive": "\0P", "negative": "\0N"}
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    for mark, key in (("\\u0000P", "positive"), ("\\u0000N", "negative")):
        text = text.replace(f'"{mark}"', json.dumps(scores[key], allow_nan=False))
    atomic_write_text(path, text + "\n")
