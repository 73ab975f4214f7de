"""NudeNet 3.4 as a concept detector (the 320 px YOLOv8 ONNX model shipped in its wheel).

An image's score is the highest box score among the profile's classes, and 0.0 when
NudeNet reports none of them: for a detector that ran, "nothing found" is a measurement.
A failure of NudeNet itself is never read as "nothing found": it raises ``DetectorError``.

NudeNet is an optional extra (``pip install 'igmu-audit[nudenet]'``): its wheel metadata says
MIT but the licence file it bundles is AGPL-3.0, so igmu-audit does not depend on it by default.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from igmu_audit._imports import requires
from igmu_audit.detectors.base import as_image_batch
from igmu_audit.detectors.profiles import NUDENET_CLASSES, DetectorProfile, get_profile
from igmu_audit.errors import ConfigError, DetectorError

if TYPE_CHECKING:
    import numpy as np
    import torch

#: NudeNet's ONNX input size (``NudeDetector(inference_resolution=320)``).
INFERENCE_RESOLUTION = 320
#: Images per ONNX call (``NudeDetector.detect_batch``); results equal one-at-a-time detection.
BATCH_SIZE = 16


@dataclass(frozen=True)
class Detection:
    """One NudeNet box, for evidence tables.

    Attributes:
        label: one of NudeNet's 18 classes, e.g. ``"FACE_FEMALE"``.
        score: the box's confidence in [0.2, 1] (NudeNet drops lower ones).
        box: ``(x, y, width, height)`` in pixels of the scored image.
    """

    label: str
    score: float
    box: tuple[int, int, int, int]


class NudeNetDetector:
    """Scores images with NudeNet under a named profile (classes and threshold).

    Args:
        profile: a profile name from ``igmu_audit.detectors.profiles`` or a
            ``DetectorProfile`` whose ``detector`` is ``"nudenet"``.
        classes: override the profile's classes (NudeNet class names).
        threshold: override the profile's threshold; presence is ``score >= threshold``.
        model_path: another NudeNet-compatible ONNX file; defaults to the wheel's ``320n.onnx``.

    Raises:
        MissingDependencyError: the ``nudenet`` extra is not installed.
        ConfigError: unknown profile or class, a threshold outside [0, 1], a missing model file.

    Example:
        >>> detector = NudeNetDetector("nudenet-person")  # doctest: +SKIP
        >>> bool(detector(images)[0] >= detector.threshold)  # doctest: +SKIP
        True
    """

    name = "nudenet"

    def __init__(
        self,
        profile: str | DetectorProfile = "nudenet-unlearndiffatk",
        *,
        classes: Sequence[str] | None = None,
        threshold: float | None = None,
        model_path: str | Path | None = None,
    ) -> None:
        requires("nudenet", feature="NudeNetDetector")
        if isinstance(profile, str):
            profile = get_profile(profile)
        if profile.detector != self.name:
            raise ConfigError(
                f"profile {profile.name!r} configures detector {profile.detector!r}, not 'nudenet'"
            )
        overrides = {
            k: v
            for k, v in {"classes": classes, "threshold": threshold}.items()
            if v is not None
        }
        settings = {**profile.options, **overrides}
        self.classes: tuple[str, ...] = _check_classes(settings.get("classes", ()))
        self.threshold: float = _check_threshold(settings.get("threshold", 0.5))
        self.model_path = (
            Path(model_path) if model_path is not None else _wheel_model_path()
        )
        if not self.model_path.is_file():
            raise ConfigError(f"`model_path` {str(self.model_path)!r} is not a file")
        self._profile: dict[str, Any] = {
            "detector": self.name,
            "profile": profile.name,
            "profile_version": profile.version,
            "profile_source": profile.source,
            "overrides": sorted(overrides),
            "classes": list(self.classes),
            "threshold": self.threshold,
            "score": "max box score among `classes`, 0.0 when none is detected",
            "model_file": self.model_path.name,
            "model_sha256": _sha256(self.model_path),
            "nudenet_version": metadata.version("nudenet"),
            "inference_resolution": INFERENCE_RESOLUTION,
            "input": "round(255 * x) as uint8 BGR, one image at a time",
        }
        self._session: Any = None

    @property
    def profile(self) -> dict[str, Any]:
        """Everything that changes the score, JSON-serialisable (a copy)."""
        return dict(self._profile)

    def __repr__(self) -> str:
        return f"NudeNetDetector(profile={self._profile['profile']!r}, threshold={self.threshold})"

    def __call__(self, images: Any) -> torch.Tensor:
        """Score images: the best box among the profile's classes, 0.0 when none.

        Args:
            images: float (N, 3, H, W) in [0, 1], or anything ``as_image_batch`` accepts.

        Returns:
            float32 tensor (N,) of scores.

        Raises:
            DetectorError: invalid pixels, or NudeNet failed on an image (index and cause).
        """
        import torch

        scores = [
            max((d.score for d in dets), default=0.0)
            for dets in self.detections(images)
        ]
        return torch.tensor(scores, dtype=torch.float32)

    def detections(
        self, images: Any, *, all_classes: bool = False
    ) -> list[list[Detection]]:
        """NudeNet's boxes per image, for evidence tables.

        Args:
            images: float (N, 3, H, W) in [0, 1], or anything ``as_image_batch`` accepts.
            all_classes: keep all 18 classes instead of only the profile's.

        Returns:
            One list of ``Detection`` per image, highest score first.

        Raises:
            DetectorError: invalid pixels, or NudeNet failed on an image (index and cause).
        """
        arrays = _to_bgr_uint8(images)
        detector = self._detector()
        try:
            raw = detector.detect_batch(arrays, batch_size=BATCH_SIZE)
        except Exception:  # find the image that broke the batch, for the error message
            raw = [
                self._detect_one(detector, index, arrays)
                for index in range(len(arrays))
            ]
        out: list[list[Detection]] = []
        for found in raw:
            dets = [_detection(d) for d in found]
            if not all_classes:
                dets = [d for d in dets if d.label in self.classes]
            out.append(sorted(dets, key=lambda d: -d.score))
        return out

    @staticmethod
    def _detect_one(
        detector: Any, index: int, arrays: list[Any]
    ) -> list[dict[str, Any]]:
        try:
            return list(detector.detect(arrays[index]))
        except Exception as exc:
            raise DetectorError(
                f"NudeNet failed on image {index} of {len(arrays)} "
                f"(shape {tuple(arrays[index].shape)}): {type(exc).__name__}: {exc}"
            ) from exc

    def _detector(self) -> Any:
        """The NudeNet session, built on first use (it imports onnxruntime and OpenCV)."""
        if self._session is None:
            from nudenet import NudeDetector

            try:
                self._session = NudeDetector(model_path=str(self.model_path))
            except Exception as exc:
                raise DetectorError(
                    f"could not load the NudeNet model {str(self.model_path)!r}: {exc}"
                ) from exc
        return self._session


def _detection(raw: dict[str, Any]) -> Detection:
    x, y, w, h = (int(v) for v in raw["box"])
    return Detection(str(raw["class"]), float(raw["score"]), (x, y, w, h))


def _wheel_model_path() -> Path:
    """``320n.onnx`` inside the installed nudenet package, found without importing it."""
    spec = importlib.util.find_spec("nudenet")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigError(
            "cannot locate the installed nudenet package; pass `model_path`"
        )
    return Path(locations[0]) / "320n.onnx"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_classes(classes: Any) -> tuple[str, ...]:
    if isinstance(classes, str) or not classes:
        raise ConfigError(
            f"`classes` must be a non-empty list of NudeNet classes, got {classes!r}"
        )
    unknown = [c for c in classes if c not in NUDENET_CLASSES]
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], NUDENET_CLASSES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"unknown NudeNet class {unknown[0]!r}{hint}; the 18 classes are: "
            + ", ".join(NUDENET_CLASSES)
        )
    return tuple(dict.fromkeys(classes))


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"`threshold` must be a number in [0, 1], got {threshold!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise ConfigError(f"`threshold` must be in [0, 1], got {threshold}")
    return float(threshold)


def _to_bgr_uint8(images: Any) -> list[np.ndarray]:
    """Float (N, 3, H, W) in [0, 1] -> N contiguous uint8 (H, W, 3) BGR arrays (NudeNet's input)."""
    import numpy as np
    import torch

    try:
        batch = as_image_batch(images)
    except (TypeError, ValueError) as exc:
        raise DetectorError(f"NudeNetDetector got invalid images: {exc}") from exc
    if not torch.isfinite(batch).all():
        bad = int((~torch.isfinite(batch)).flatten(1).any(1).nonzero()[0, 0])
        raise DetectorError(f"image {bad} has NaN or infinite pixels")
    if batch.numel() and (batch.min() < 0.0 or batch.max() > 1.0):
        raise DetectorError(
            f"pixels must be in [0, 1], got range [{batch.min():.3g}, {batch.max():.3g}]"
        )
    pixels = (batch * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(image[:, :, ::-1]) for image in pixels]
