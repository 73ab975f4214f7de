"""Build a detector card from a labelled image tree (DataIGM's ``<train|test>/<class>/``).

Why: the error rates of a detector must be measured on images whose labels are known,
with the set, its content hash and the date written beside them. The positive class is
the concept (by default the detector's ``concept``, else ``positive=``); every other
class folder is a negative. A threshold can be chosen for a target false-positive or
false-negative rate: on the ``train`` split when the rates are measured on ``test``
(so the rates are not measured on the images that chose the threshold), else on the
measured split itself, which the card then says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from igmu_audit.detectors.cards import (
    CalibrationSet,
    DetectorCard,
    detector_identity,
    tree_sha256,
)
from igmu_audit.errors import ConfigError, DetectorError


def threshold_for_fpr(negatives: Sequence[float], target: float) -> float:
    """The lowest threshold whose false-positive rate on ``negatives`` is ``<= target``.

    The lowest such threshold keeps the most true positives. The false-positive rate
    only changes at a negative score, so the candidates are the negative scores and the
    float just above each one.
    """
    _check_target(target, "target_fpr")
    scores = sorted(negatives)
    n = len(scores)
    candidates = sorted({*scores, *(math.nextafter(s, math.inf) for s in scores)})
    for t in candidates:
        if sum(s >= t for s in scores) / n <= target:
            return t
    return math.nextafter(scores[-1], math.inf)


def threshold_for_fnr(positives: Sequence[float], target: float) -> float:
    """The highest threshold whose false-negative rate on ``positives`` is ``<= target``.

    The highest such threshold keeps the fewest false positives; the false-negative rate
    only changes at a positive score, so those are the candidates.
    """
    _check_target(target, "target_fnr")
    scores = sorted(positives)
    n = len(scores)
    best = scores[0]
    for t in scores:
        if sum(s < t for s in scores) / n <= target:
            best = t
    return best


def _check_target(target: float, name: str) -> None:
    if (
        isinstance(target, bool)
        or not isinstance(target, (int, float))
        or not 0.0 <= target < 1.0
    ):
        raise ConfigError(f"`{name}` must be a rate in [0, 1), got {target!r}")


def _load(files: Sequence[Path]) -> Any:
    """The images of ``files`` as one batch, or ``None`` when their sizes differ."""
    import numpy as np
    from PIL import Image

    arrays = []
    for file in files:
        try:
            with Image.open(file) as im:
                arrays.append(np.asarray(im.convert("RGB")))
        except (OSError, ValueError) as err:
            raise ConfigError(f"{file}: not a readable image ({err})") from err
    if len({a.shape for a in arrays}) > 1:
        return None
    return np.stack(arrays)


def score_files(
    detector: Any, files: Sequence[Path], *, batch_size: int = 64, desc: str = "scoring"
) -> list[float]:
    """Detector scores of image files, in batches (one at a time where sizes differ)."""
    from tqdm.auto import tqdm

    from igmu_audit.detectors.base import as_image_batch

    out: list[float] = []
    with tqdm(total=len(files), desc=desc, unit="img", leave=False) as bar:
        for start in range(0, len(files), batch_size):
            chunk = list(files[start : start + batch_size])
            batch = _load(chunk)
            groups = [chunk] if batch is not None else [[f] for f in chunk]
            for group in groups:
                images = batch if batch is not None else _load(group)
                scores = detector(as_image_batch(images)).reshape(-1).tolist()
                if len(scores) != len(group):
                    raise DetectorError(
                        f"detector {detector.name!r} returned {len(scores)} scores for "
                        f"{len(group)} images from {group[0].parent}"
                    )
                bad = [s for s in scores if not math.isfinite(s)]
                if bad:
                    raise DetectorError(
                        f"detector {detector.name!r} returned non-finite scores on {group[0].parent}"
                    )
                out += [float(s) for s in scores]
            bar.update(len(chunk))
    return out


def _classes(
    tree: dict[str, dict[str, list[Path]]], split: str, positive: str, root: Path
) -> tuple[list[Path], list[tuple[str, Path]]]:
    """(positive files, (class, file) of the negatives) of one split, checked."""
    if split not in tree:
        raise ConfigError(
            f"{root}: no {split!r} split (found: {', '.join(sorted(tree))}). fix: pass "
            f"--split {next(iter(sorted(tree)))} or add {root / split}/<class>/ folders"
        )
    classes = tree[split]
    if positive not in classes:
        raise ConfigError(
            f"{root / split}: no folder for the positive class {positive!r} (classes: "
            f"{', '.join(sorted(classes))}). fix: pass --positive <class> naming the concept's folder"
        )
    negatives = [(c, f) for c, files in classes.items() if c != positive for f in files]
    if not negatives:
        raise ConfigError(
            f"{root / split}: only the positive class {positive!r}; a card needs at least one "
            "negative class folder (images without the concept)"
        )
    return classes[positive], negatives


def positive_class_of(detector: Any, positive: str | None) -> str:
    """The positive class: ``positive``, else the detector's concept."""
    if positive is not None:
        return positive
    concept = dict(detector.profile).get("concept")
    if not isinstance(concept, str):
        raise ConfigError(
            f"detector {detector.name!r} names no concept: pass --positive <class> "
            "(the class folder that shows the concept, e.g. nude)"
        )
    return concept


def calibrate(
    root: str | Path,
    detector: Any,
    *,
    profile: str | None = None,
    positive: str | None = None,
    split: str = "test",
    target_fpr: float | None = None,
    target_fnr: float | None = None,
    confidence: float = 0.95,
    name: str | None = None,
    batch_size: int = 64,
) -> DetectorCard:
    """Measure ``detector`` on the labelled tree ``root`` and return its card.

    Args:
        root: a folder with ``train/`` and/or ``test/``, each holding one folder per class.
        detector: the detector to measure (its identity goes into the card).
        profile: the profile name the detector was built from (default: its name).
        positive: the class folder that shows the concept (default: the detector's concept).
        split: the split the rates are measured on.
        target_fpr, target_fnr: choose the threshold for this rate (at most one).
        confidence: coverage of the Clopper-Pearson intervals.
        name: the calibration set's name (default: ``<root folder>/<split>``).

    Raises:
        ConfigError: a bad tree (missing split or class, unreadable image), both targets.
    """
    from igmu_audit.prompts.splits import load_image_tree

    if target_fpr is not None and target_fnr is not None:
        raise ConfigError("pass at most one of --target-fpr and --target-fnr")
    identity = detector_identity(detector)
    if identity["weights_sha256"] is None:
        raise ConfigError(
            f"detector {identity['detector']!r} reports no weights sha256 in its profile, so a "
            "card could never be checked against it. fix: give the detector a *sha256 profile key"
        )
    base = Path(root)
    tree = load_image_tree(base)
    label = positive_class_of(detector, positive)
    pos_files, neg_files = _classes(tree, split, label, base)
    pos = score_files(
        detector, pos_files, batch_size=batch_size, desc=f"{split}/{label}"
    )
    neg = score_files(
        detector,
        [f for _, f in neg_files],
        batch_size=batch_size,
        desc=f"{split}/others",
    )
    rule, target, chosen_on, threshold = "given", None, None, float(detector.threshold)
    if target_fpr is not None or target_fnr is not None:
        chosen_on = "train" if split != "train" and "train" in tree else split
        c_pos, c_neg = pos, neg
        if chosen_on != split:
            p_files, n_files = _classes(tree, chosen_on, label, base)
            c_pos = score_files(
                detector, p_files, batch_size=batch_size, desc="train/" + label
            )
            c_neg = score_files(
                detector,
                [f for _, f in n_files],
                batch_size=batch_size,
                desc="train/others",
            )
        if target_fpr is not None:
            rule, target, threshold = (
                "target-fpr",
                float(target_fpr),
                threshold_for_fpr(c_neg, target_fpr),
            )
        else:
            assert target_fnr is not None
            rule, target, threshold = (
                "target-fnr",
                float(target_fnr),
                threshold_for_fnr(c_pos, target_fnr),
            )
    files = [(label, f) for f in pos_files] + neg_files
    det_profile = dict(detector.profile)
    return DetectorCard(
        **{
            k: identity[k] for k in ("detector", "version", "weights_sha256", "concept")
        },
        classes=tuple(identity["classes"]) if identity["classes"] is not None else None,
        profile=profile or identity["detector"],
        preprocessing=str(det_profile.get("input", "not stated by the detector")),
        threshold=threshold,
        threshold_rule=rule,
        target=target,
        chosen_on=chosen_on,
        calibration=CalibrationSet(
            name=name or f"{base.resolve().name}/{split}",
            sha256=tree_sha256(files),
            size=len(files),
            split=split,
            positive_class=label,
            negative_classes=tuple(sorted({c for c, _ in neg_files})),
        ),
        measured=datetime.now(UTC).date().isoformat(),
        confidence=confidence,
        positive_scores=tuple(sorted(pos)),
        negative_scores=tuple(sorted(neg)),
        detector_profile=det_profile,
    )
