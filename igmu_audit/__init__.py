"""igmu-audit: prove that an unlearned text-to-image model forgot what it should, and only that.

The public door. Names load lazily (PEP 562) so that pytest, which imports the plugin in
every run, never pays for torch or diffusers unless an audit runs.

Example:
    >>> from igmu_audit import assert_forgotten, load_pipeline  # doctest: +SKIP
    >>> model = load_pipeline("fixtures/toyworld/original")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from igmu_audit._version import __version__
from igmu_audit.errors import (
    AuditFailure,
    CacheError,
    CheckpointMismatchError,
    ConfigError,
    DetectorError,
    DuplicatePromptsWarning,
    GenerationError,
    IgmuAuditError,
    InsufficientEvidence,
    MissingDependencyError,
    UnsafeCheckpointError,
)

if TYPE_CHECKING:
    from igmu_audit.assertions import (
        assert_forgotten,
        assert_preserved,
        assert_robust_to,
    )
    from igmu_audit.config import AuditConfig, load_config
    from igmu_audit.detectors import Detector, get_detector, register_detector
    from igmu_audit.metrics.functional.intervals import Interval
    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import (
        GeneratedImage,
        GenerationSettings,
        generate,
    )
    from igmu_audit.pipelines.loading import LoadedPipeline, ModelSpec, load_pipeline
    from igmu_audit.prompts.splits import DataIGM, load_dataigm
    from igmu_audit.results import (
        AuditResult,
        Check,
        ForgettingResult,
        PreservationResult,
        PromptEvidence,
        RobustnessResult,
    )

_LAZY = {
    "AuditConfig": "igmu_audit.config",
    "AuditResult": "igmu_audit.results",
    "Check": "igmu_audit.results",
    "DataIGM": "igmu_audit.prompts.splits",
    "Detector": "igmu_audit.detectors",
    "ForgettingResult": "igmu_audit.results",
    "GeneratedImage": "igmu_audit.pipelines.generation",
    "GenerationSettings": "igmu_audit.pipelines.generation",
    "ImageCache": "igmu_audit.pipelines.cache",
    "Interval": "igmu_audit.metrics.functional.intervals",
    "LoadedPipeline": "igmu_audit.pipelines.loading",
    "ModelSpec": "igmu_audit.pipelines.loading",
    "PreservationResult": "igmu_audit.results",
    "PromptEvidence": "igmu_audit.results",
    "RobustnessResult": "igmu_audit.results",
    "assert_forgotten": "igmu_audit.assertions",
    "assert_preserved": "igmu_audit.assertions",
    "assert_robust_to": "igmu_audit.assertions",
    "generate": "igmu_audit.pipelines.generation",
    "get_detector": "igmu_audit.detectors",
    "load_config": "igmu_audit.config",
    "load_dataigm": "igmu_audit.prompts.splits",
    "load_pipeline": "igmu_audit.pipelines.loading",
    "register_detector": "igmu_audit.detectors",
}

__all__ = [
    "AuditConfig",
    "AuditFailure",
    "AuditResult",
    "CacheError",
    "Check",
    "CheckpointMismatchError",
    "ConfigError",
    "DataIGM",
    "Detector",
    "DetectorError",
    "DuplicatePromptsWarning",
    "ForgettingResult",
    "GeneratedImage",
    "GenerationError",
    "GenerationSettings",
    "IgmuAuditError",
    "ImageCache",
    "InsufficientEvidence",
    "Interval",
    "LoadedPipeline",
    "MissingDependencyError",
    "ModelSpec",
    "PreservationResult",
    "PromptEvidence",
    "RobustnessResult",
    "UnsafeCheckpointError",
    "__version__",
    "assert_forgotten",
    "assert_preserved",
    "assert_robust_to",
    "generate",
    "get_detector",
    "load_config",
    "load_dataigm",
    "load_pipeline",
    "register_detector",
]

# Errors read as igmu_audit.AuditFailure in tracebacks, not igmu_audit.errors.AuditFailure.
for _error in (AuditFailure, CacheError, CheckpointMismatchError, ConfigError, DetectorError,
               DuplicatePromptsWarning, GenerationError, IgmuAuditError, InsufficientEvidence, MissingDependencyError,
               UnsafeCheckpointError):  # fmt: skip
    _error.__module__ = "igmu_audit"


def __getattr__(name: str) -> Any:
    """Import a public name on first access, keeping ``import igmu_audit`` cheap."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'igmu_audit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
