"""Concept detectors: one protocol, a registry, one self-contained file per detector."""

from __future__ import annotations

from igmu_audit.detectors.base import Detector, as_image_batch

__all__ = ["Detector", "as_image_batch"]
