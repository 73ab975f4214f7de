"""Pipeline-test fixtures on top of ``tests/conftest.py`` (which provides ``tiny_sd_dir``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers.tiny_sd import build_tiny_pipeline


@pytest.fixture
def tiny_sd_copy(tiny_sd_dir: Path, tmp_path: Path) -> Path:
    """A private copy of ``tiny_sd_dir`` that a test may edit."""
    return Path(shutil.copytree(tiny_sd_dir, tmp_path / "copy" / "tiny-sd"))


@pytest.fixture(scope="session")
def other_pipeline():
    """A tiny pipeline with different (seed 1) weights: the source of override tensors."""
    return build_tiny_pipeline(seed=1)


@pytest.fixture(scope="session")
def lora_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real LoRA weights (rank 4, random up/down) on the tiny UNet's attention projections."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = build_tiny_pipeline(seed=0).unet
    # init_lora_weights=False: random B as well as A, so the LoRA changes the output.
    config = LoraConfig(
        r=4,
        lora_alpha=4,
        init_lora_weights=False,
        target_modules=["to_q", "to_k", "to_v", "to_out.0"],
    )
    unet.add_adapter(config)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    folder = tmp_path_factory.mktemp("lora")
    StableDiffusionPipeline.save_lora_weights(
        folder, unet_lora_layers=layers, safe_serialization=True
    )
    return folder / "pytorch_lora_weights.safetensors"
