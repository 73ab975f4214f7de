"""The igmu-audit exception tree.

Every class also inherits the builtin it resembles, so ``pytest.raises(AssertionError)``
and ``except ValueError`` keep working::

    IgmuAuditError
    ├── AuditFailure(IgmuAuditError, AssertionError)        a threshold was breached
    │   └── InsufficientEvidence                            too few images to decide: fails, never passes
    ├── ConfigError(IgmuAuditError, ValueError)             bad pyproject / ini / YAML / argument / data file
    ├── UnsafeCheckpointError(IgmuAuditError, ValueError)   pickle without allow_pickle=True
    ├── CheckpointMismatchError(IgmuAuditError, ValueError) an override matched no keys or left keys unexpected
    ├── DetectorError(IgmuAuditError, RuntimeError)         a detector failed; never read as "absent"
    ├── CacheError(IgmuAuditError, OSError)                 a cache entry is unreadable or inconsistent
    ├── GenerationError(IgmuAuditError, RuntimeError)       degenerate output (NaN / inf / constant image)
    └── MissingDependencyError(IgmuAuditError, ImportError) names the extra to install
"""

from __future__ import annotations

from typing import Any


class IgmuAuditError(Exception):
    """Base class of every error igmu-audit raises on purpose."""


class AuditFailure(IgmuAuditError, AssertionError):
    """An audit's threshold was breached (or it could not be decided).

    Attributes:
        result: the result object whose ``explain()`` produced the message.
    """

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class InsufficientEvidence(AuditFailure):
    """The interval straddles the threshold: too few images to decide. Fails, never passes."""


class ConfigError(IgmuAuditError, ValueError):
    """Bad configuration or data file: the message names the source, the key and the fix."""


class UnsafeCheckpointError(IgmuAuditError, ValueError):
    """A pickle checkpoint was given without ``allow_pickle: true``."""


class CheckpointMismatchError(IgmuAuditError, ValueError):
    """An override state dict matched no keys, or left keys unexpected."""


class DetectorError(IgmuAuditError, RuntimeError):
    """A detector failed; its images are never silently scored as "concept absent"."""


class CacheError(IgmuAuditError, OSError):
    """A generation-cache entry is unreadable or inconsistent with its key."""


class MissingDependencyError(IgmuAuditError, ImportError):
    """An optional backend is not installed; the message names the extra."""


class GenerationError(IgmuAuditError, RuntimeError):
    """A model produced a degenerate image (NaN or inf values, or a constant image).

    Never cached and never scored: a broken model must not pass an audit by drawing
    nothing the detector could flag.
    """


class DuplicatePromptsWarning(UserWarning):
    """Duplicate prompts or seeds were dropped before generation.

    Why a warning and not silence: ``[prompt] * 40`` is one prompt, and counting its
    copies as 40 would shrink the interval with no new evidence. The audit goes on with
    the distinct ones, ``n`` counts distinct images, and ``result.duplicates`` lists
    every dropped prompt with the one it repeats.
    """
