"""Concept detectors: one protocol, a registry, one self-contained file per detector.

Importing this package imports no backend (torch, open_clip, onnxruntime, nudenet): the
concrete classes are loaded on first attribute access, and ``get_detector`` builds them
through lazy factories. Other packages' detectors (the toy world's ``toyworld`` among
them) come through the entry-point group ``igmu_audit.detectors`` (``docs/extending.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from igmu_audit.detectors.base import Detector, as_image_batch
from igmu_audit.detectors.profiles import (
    DetectorProfile,
    available_profiles,
    get_profile,
)
from igmu_audit.detectors.registry import (
    available_detectors,
    get_detector,
    register_detector,
)

if TYPE_CHECKING:
    from igmu_audit.detectors.clip_head import CLIPHeadDetector
    from igmu_audit.detectors.clip_zero_shot import CLIPZeroShotDetector
    from igmu_audit.detectors.custom import CustomDetector
    from igmu_audit.detectors.nudenet import NudeNetDetector

_LAZY = {
    "CLIPHeadDetector": "igmu_audit.detectors.clip_head",
    "CLIPZeroShotDetector": "igmu_audit.detectors.clip_zero_shot",
    "CustomDetector": "igmu_audit.detectors.custom",
    "NudeNetDetector": "igmu_audit.detectors.nudenet",
}

__all__ = [
    "CLIPHeadDetector",
    "CLIPZeroShotDetector",
    "CustomDetector",
    "Detector",
    "DetectorProfile",
    "NudeNetDetector",
    "as_image_batch",
    "available_detectors",
    "available_profiles",
    "get_detector",
    "get_profile",
    "register_detector",
]


def __getattr__(name: str) -> Any:
    """Import a concrete detector class on first access (PEP 562), keeping import cheap."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
