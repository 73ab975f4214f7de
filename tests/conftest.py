"""Shared test fixtures: tiny real diffusers pipelines saved once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers.tiny_sd import save_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real Stable Diffusion pipeline saved as a diffusers folder (safetensors)."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "model")
