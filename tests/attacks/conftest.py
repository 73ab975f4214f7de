"""Fixtures for the attack tests: a second tiny pipeline standing in for the original model."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_original(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A tiny pipeline with other weights: the 'original' of ``tiny_model`` in these tests."""
    from helpers.tiny_sd import save_tiny_pipeline

    from igmu_audit import load_pipeline

    folder: Path = tmp_path_factory.mktemp("tiny-original") / "model"
    return load_pipeline(save_tiny_pipeline(folder, seed=1))


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    """Two denoising steps: attacks are tested for their logic, not for their images."""
    from igmu_audit.pipelines.generation import GenerationSettings

    return GenerationSettings(steps=2, batch_size=4)
