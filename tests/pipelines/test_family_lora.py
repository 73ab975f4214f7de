"""LoRA on the denoiser of every family: SDXL's UNet, FLUX's transformer (how EraseAnything-style FLUX erasure ships), SD3's transformer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.tiny_families import BUILDERS, save_family

from igmu_audit.errors import CheckpointMismatchError
from igmu_audit.pipelines.generation import GenerationSettings, generate
from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

_ATTN = ["to_q", "to_k", "to_v"]


def _layers(module: torch.nn.Module, targets: list[str]) -> dict[str, torch.Tensor]:
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(3)
    config = LoraConfig(
        r=2, lora_alpha=2, init_lora_weights=False, target_modules=targets
    )
    module.add_adapter(config)
    return get_peft_model_state_dict(module)


def write_lora(name: str, folder: Path) -> tuple[Path, set[str]]:
    """A LoRA file for family ``name`` in diffusers' own layout, and its components."""
    from diffusers.utils import convert_state_dict_to_diffusers

    pipe = BUILDERS[name](0)
    cls = type(pipe)
    if name == "sdxl":
        # Text-encoder LoRA goes through transformers' peft integration, which needs
        # peft >= 0.22 (this environment has diffusers' older minimum): UNet only here.
        unet_layers = convert_state_dict_to_diffusers(_layers(pipe.unet, _ATTN))
        layers = {"unet_lora_layers": unet_layers}
        touched = {"unet"}
    else:
        layers = {"transformer_lora_layers": _layers(pipe.transformer, _ATTN)}
        touched = {"transformer"}
    cls.save_lora_weights(folder, safe_serialization=True, **layers)
    return folder / "pytorch_lora_weights.safetensors", touched


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("sdxl", marks=pytest.mark.slow),
        "flux",
        pytest.param("sd3", marks=pytest.mark.slow),
    ],
)
def test_lora_is_fused_into_each_component_and_changes_images(
    name: str, tmp_path: Path
) -> None:
    base_dir = save_family(name, tmp_path / "base")
    lora, touched = write_lora(name, tmp_path / "lora")
    base = load_pipeline(base_dir)
    model = load_pipeline(ModelSpec(path=str(base_dir), lora=str(lora)))
    (report,) = model.overrides
    assert set(report.component.split("+")) == touched
    assert model.fingerprint != base.fingerprint
    for component in touched:
        before = getattr(base.pipeline, component).state_dict()
        after = getattr(model.pipeline, component).state_dict()
        assert set(before) == set(after)  # fused: no adapter layers left
        assert any(not torch.equal(before[k], after[k]) for k in before)
    args = (("max_sequence_length", 8),) if name != "sdxl" else ()
    settings = GenerationSettings(steps=2, height=16, width=16, arguments=args)
    a = generate(base, ["a cat"], [0], settings=settings, progress=False)
    b = generate(model, ["a cat"], [0], settings=settings, progress=False)
    assert a[0].key != b[0].key
    assert not np.array_equal(a[0].pixels, b[0].pixels)


@pytest.mark.slow
def test_a_lora_for_another_family_loads_nothing(tmp_path: Path) -> None:
    lora, _ = write_lora("flux", tmp_path / "lora")
    sdxl = save_family("sdxl", tmp_path / "sdxl")
    with pytest.raises((CheckpointMismatchError, ValueError)):
        load_pipeline(ModelSpec(path=str(sdxl), lora=str(lora)))
