"""Streaming metric classes (``update`` / ``compute`` / ``merge``) and feature extractors.

Each class pairs with a pure function in ``igmu_audit.metrics.functional`` that holds the
math; states merge exactly, so xdist workers' shards give the single-process result.
"""

from igmu_audit.metrics.clip_score import CLIPScore
from igmu_audit.metrics.csdr import CLIPScoreDifferenceRate
from igmu_audit.metrics.erasure_rate import AttackSuccessRate, ErasureRate
from igmu_audit.metrics.features import (
    FeatureExtractor,
    InceptionFeatures,
    PixelFeatures,
    check_images,
)
from igmu_audit.metrics.frechet import FrechetDistance, FrechetResult
from igmu_audit.metrics.functional.erasure_rate import RateEstimate
from igmu_audit.metrics.functional.intervals import Interval, MeanEstimate
from igmu_audit.metrics.functional.kid import KernelDistanceResult
from igmu_audit.metrics.functional.paired import McNemarResult
from igmu_audit.metrics.kid import KernelDistance, KernelInceptionDistance
from igmu_audit.metrics.perceptual import PerceptualDistance

__all__ = [
    "AttackSuccessRate",
    "CLIPScore",
    "CLIPScoreDifferenceRate",
    "ErasureRate",
    "FeatureExtractor",
    "FrechetDistance",
    "FrechetResult",
    "InceptionFeatures",
    "Interval",
    "KernelDistance",
    "KernelDistanceResult",
    "KernelInceptionDistance",
    "McNemarResult",
    "MeanEstimate",
    "PerceptualDistance",
    "PixelFeatures",
    "RateEstimate",
    "check_images",
]
