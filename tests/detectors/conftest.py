"""Fixtures for detector tests: a real photograph and a tiny real open_clip model on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

#: A tiny open_clip CLIP (≈1.6 M parameters, 32 px images); the vocabulary is the real one
#: so open_clip's bundled tokenizer works with it.
TINY_CLIP_CONFIG: dict[str, Any] = {
    "embed_dim": 16,
    "vision_cfg": {
        "image_size": 32,
        "layers": 1,
        "width": 32,
        "patch_size": 8,
        "head_width": 16,
    },
    "text_cfg": {
        "context_length": 77,
        "vocab_size": 49408,
        "width": 32,
        "heads": 2,
        "layers": 1,
    },
}


@pytest.fixture(scope="session")
def grace_hopper() -> torch.Tensor:
    """matplotlib's sample photograph of Grace Hopper as a (1, 3, 600, 512) batch in [0, 1]."""
    cbook = pytest.importorskip("matplotlib.cbook")
    from PIL import Image

    from igmu_audit.detectors import as_image_batch

    with cbook.get_sample_data("grace_hopper.jpg") as stream:
        return as_image_batch([Image.open(stream).convert("RGB")])


@pytest.fixture(scope="session")
def tiny_clip() -> torch.nn.Module:
    """A seeded tiny open_clip model built in-process (no download)."""
    from open_clip.model import CLIP

    torch.manual_seed(0)
    return CLIP(**TINY_CLIP_CONFIG).eval()


@pytest.fixture(scope="session")
def tiny_clip_file(
    tiny_clip: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny model's state dict saved as safetensors."""
    from safetensors.torch import save_file

    path = tmp_path_factory.mktemp("tiny-clip") / "tiny_clip.safetensors"
    save_file(tiny_clip.state_dict(), str(path))
    return path


@pytest.fixture(scope="session")
def tiny_clip_dir(
    tiny_clip_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A hub-snapshot-style folder: open_clip_config.json + open_clip_model.safetensors."""
    folder = tmp_path_factory.mktemp("tiny-clip-dir")
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP_CONFIG})
    )
    (folder / "open_clip_model.safetensors").write_bytes(tiny_clip_file.read_bytes())
    return folder


@pytest.fixture
def images() -> torch.Tensor:
    """Four seeded random 48x40 images in [0, 1] (non-square, so resizing is exercised)."""
    generator = torch.Generator().manual_seed(1)
    return torch.rand(4, 3, 48, 40, generator=generator)
