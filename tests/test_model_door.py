"""A model handed to an assertion is fingerprinted once, at the door (issue 11 item 7)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from igmu_audit import assert_forgotten, assert_preserved
from igmu_audit.model_door import InMemoryModel, at_door
from igmu_audit.pipelines import fingerprint

PROMPTS = [f"a door prompt number {i}" for i in range(6)]


def never(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(images))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every pipeline ``fingerprint_pipeline`` hashed, in order."""
    calls: list[Any] = []
    real = fingerprint.fingerprint_pipeline

    def counting(pipeline: Any) -> str:
        calls.append(pipeline)
        return real(pipeline)

    monkeypatch.setattr(fingerprint, "fingerprint_pipeline", counting)
    return calls


def test_a_bare_pipeline_is_fingerprinted_once_per_assertion(
    audit_session: Any, tiny_model: Any, counted: list[Any]
) -> None:
    bare = tiny_model.pipeline
    result = assert_forgotten(
        bare, PROMPTS, detector=never, max_rate=0.5, min_effective_prompts=1
    )
    assert result.checks[0].n == 12  # 6 prompts x 2 seeds, each keyed by the model
    assert counted == [bare]
    assert result.model.label == type(bare).__name__
    assert result.model.fingerprint == fingerprint.fingerprint_pipeline(bare)


def test_preservation_fingerprints_each_bare_model_once(
    audit_session: Any, tiny_model: Any, counted: list[Any]
) -> None:
    from igmu_audit.detectors import CustomDetector

    bare = tiny_model.pipeline
    result = assert_preserved(
        bare, bare, {"cat": PROMPTS[:2]}, detector=lambda c: CustomDetector(never, name=c),
        max_accuracy_drop=0.5,
    )  # fmt: skip
    assert [c.metric for c in result.checks] == ["accuracy drop"]
    assert counted == [bare, bare]  # the unlearned and the original, once each


def test_a_loaded_model_passes_the_door_unchanged(
    tiny_model: Any, counted: list[Any]
) -> None:
    assert at_door(tiny_model) is tiny_model
    assert at_door(None) is None
    wrapped = at_door(tiny_model.pipeline)
    assert isinstance(wrapped, InMemoryModel)
    assert at_door(wrapped) is wrapped
    assert len(counted) == 1
