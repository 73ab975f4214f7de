"""Shared, session-scoped loads of the shipped toy world (loaded once, never trained)."""

from __future__ import annotations

import pytest

from igmu_audit._paths import fixtures_dir


@pytest.fixture(scope="session")
def toyworld_dir():
    """The shipped toy-world folder (``fixtures/toyworld``)."""
    return fixtures_dir() / "toyworld"


@pytest.fixture(scope="session")
def toy_pipeline(toyworld_dir):
    """The shipped toy ``StableDiffusionPipeline``, loaded through the project's public loader."""
    from igmu_audit.pipelines.loading import load_pipeline

    loaded = load_pipeline(toyworld_dir / "original")
    loaded.pipeline.set_progress_bar_config(disable=True)
    return loaded.pipeline


@pytest.fixture(scope="session")
def toy_classifier():
    """The shipped toy classifier (shape / colour / texture heads)."""
    from igmu_audit.toyworld.classifier import load_toy_classifier

    return load_toy_classifier()


@pytest.fixture(scope="session")
def held_out():
    """1,000 held-out toy images (test-split seeds) with their labels."""
    from igmu_audit.toyworld.data import sample_dataset, to_tensor

    data = sample_dataset(1000, 0, "test")
    return to_tensor(data.images), data.labels
