"""Models handed to an assertion are normalised at the door and fingerprinted once.

Why: every image's cache key needs the model's fingerprint, and a bare diffusers
pipeline has none of its own: hashing every weight per image made one audit of 20
images fingerprint the same model 21 times. ``at_door`` wraps such a pipeline once in
an ``InMemoryModel``, which looks like a ``LoadedPipeline`` (``pipeline``,
``fingerprint``, ``label``) to everything downstream, so the hash is computed once.
"""

from __future__ import annotations

from typing import Any


class InMemoryModel:
    """A bare diffusers pipeline with its fingerprint computed once.

    Attributes:
        pipeline: the diffusers pipeline as the user handed it.
        fingerprint: ``fingerprint_pipeline(pipeline)`` (the in-memory kind).
        label: the pipeline's class name (what records showed for bare pipelines).
    """

    __slots__ = ("fingerprint", "label", "pipeline")

    def __init__(self, pipeline: Any, fingerprint: str, label: str) -> None:
        self.pipeline = pipeline
        self.fingerprint = fingerprint
        self.label = label

    def __repr__(self) -> str:
        return f"InMemoryModel({self.label!r}, {self.fingerprint[:19]}..)"


def is_identified(model: Any) -> bool:
    """Whether ``model`` already carries its fingerprint (a ``LoadedPipeline`` or wrapper)."""
    return hasattr(model, "pipeline") and hasattr(model, "fingerprint")


def at_door(model: Any) -> Any:
    """``model`` itself when it carries a fingerprint, else a once-fingerprinted wrapper.

    ``None`` (no original configured) passes through unchanged.
    """
    if model is None or is_identified(model):
        return model
    from igmu_audit.pipelines.fingerprint import fingerprint_pipeline

    return InMemoryModel(model, fingerprint_pipeline(model), type(model).__name__)
