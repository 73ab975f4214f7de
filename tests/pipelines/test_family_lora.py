"""LoRA on every component a method edits, in every family: the denoiser (SD's and SDXL's
UNet, SD3's and FLUX's transformer) and each text encoder (``text_encoder``,
``text_encoder_2``, ``text_encoder_3``), in diffusers' layout and in kohya's.

Each test writes a real LoRA file, loads it through ``load_pipeline`` and checks the
encoder weight moved by exactly ``scale * (alpha / r) * B @ A`` (computed here, not by
the code under test), that no adapter is left, and that the fingerprint and the image
changed."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers.lora_files import encoder_layers, kohya
from helpers.tiny_families import BUILDERS, save_family
from helpers.tiny_sd import build_tiny_pipeline
from safetensors.torch import load_file, save_file

from igmu_audit.errors import CheckpointMismatchError
from igmu_audit.pipelines.generation import GenerationSettings, generate
from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

_ATTN = ["to_q", "to_k", "to_v"]
#: Text encoders each family's LoRA file carries (all of the family's encoders).
_ENCODERS = {
    "sd": ("text_encoder",),
    "sdxl": ("text_encoder", "text_encoder_2"),
    "sd3": ("text_encoder", "text_encoder_2", "text_encoder_3"),
    "flux": ("text_encoder", "text_encoder_2"),
}
_DENOISER = {"sd": "unet", "sdxl": "unet", "sd3": "transformer", "flux": "transformer"}


def _denoiser_layers(module: Any) -> dict[str, torch.Tensor]:
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(3)
    config = LoraConfig(
        r=2, lora_alpha=2, init_lora_weights=False, target_modules=_ATTN
    )
    module.add_adapter(config)  # diffusers' ModelMixin: peft directly, no version gate
    layers: dict[str, torch.Tensor] = get_peft_model_state_dict(module)
    return layers


def write_lora(
    name: str, folder: Path, *, encoders: bool = True, alpha: float | None = None
) -> tuple[Path, dict[str, dict[str, torch.Tensor]]]:
    """A LoRA file for family ``name`` in diffusers' layout (``save_lora_weights``).

    Returns:
        The file, and per component the PEFT layers it holds (keys without prefix).
        ``alpha`` goes into the text encoders' ``lora_adapter_metadata``.
    """
    from diffusers.utils.state_dict_utils import convert_state_dict_to_diffusers

    pipe = build_tiny_pipeline(0) if name == "sd" else BUILDERS[name](0)
    denoiser = _DENOISER[name]
    layers = {denoiser: _denoiser_layers(getattr(pipe, denoiser))}
    if encoders:
        for i, encoder in enumerate(_ENCODERS[name]):
            layers[encoder] = encoder_layers(getattr(pipe, encoder), 2, seed=10 + i)
    kwargs: dict[str, Any] = {}
    accepted = inspect.signature(type(pipe).save_lora_weights).parameters
    for component, state in layers.items():
        if f"{component}_lora_layers" not in accepted:
            continue  # saved below: diffusers' saver has no argument for it
        saved = convert_state_dict_to_diffusers(state) if component == "unet" else state
        kwargs[f"{component}_lora_layers"] = saved
        if alpha is not None and component != denoiser:
            kwargs[f"{component}_lora_adapter_metadata"] = {"r": 2, "lora_alpha": alpha}
    type(pipe).save_lora_weights(folder, safe_serialization=True, **kwargs)
    file = folder / "pytorch_lora_weights.safetensors"
    extra = {
        f"{c}.{k}": v
        for c, state in layers.items()
        if f"{c}_lora_layers" not in kwargs
        for k, v in state.items()
    }
    if extra:  # SD3's text_encoder_3, FLUX's text_encoder_2: same key layout, by hand
        save_file({**load_file(file), **extra}, str(file), metadata={"format": "pt"})
    return file, layers


def _expected(
    before: dict[str, torch.Tensor],
    layers: dict[str, torch.Tensor],
    *,
    scale: float,
    alpha: float | None,
) -> dict[str, torch.Tensor]:
    """Independently computed fused weights: ``W + scale * (alpha / r) * B @ A``."""
    out: dict[str, torch.Tensor] = {}
    for key, down in layers.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = key.removesuffix(".lora_A.weight")
        up = layers[f"{module}.lora_B.weight"]
        rank = down.shape[0]
        factor = scale * ((alpha if alpha is not None else rank) / rank)
        out[f"{module}.weight"] = before[f"{module}.weight"] + factor * (up @ down)
    return out


def _assert_fused(
    base: Any, model: Any, component: str, expected: dict[str, torch.Tensor]
) -> None:
    before = getattr(base.pipeline, component).state_dict()
    after = getattr(model.pipeline, component).state_dict()
    assert set(before) == set(after)  # fused: no adapter layers left
    assert not hasattr(getattr(model.pipeline, component), "peft_config")
    for key, value in expected.items():
        torch.testing.assert_close(after[key], value, rtol=1e-5, atol=1e-6)
    untouched = [k for k in before if k not in expected]
    assert untouched
    assert all(torch.equal(before[k], after[k]) for k in untouched), component


def _images_differ(base: Any, model: Any, family: str) -> None:
    args = (("max_sequence_length", 8),) if family in ("sd3", "flux") else ()
    settings = GenerationSettings(steps=2, height=16, width=16, arguments=args)
    a = generate(base, ["a cat"], [0], settings=settings, progress=False)
    b = generate(model, ["a cat"], [0], settings=settings, progress=False)
    assert a[0].key != b[0].key
    assert not np.array_equal(a[0].pixels, b[0].pixels)


def test_sd_text_encoder_lora_fuses_scale_times_alpha_over_r(
    tiny_sd_dir: Path, tmp_path: Path
) -> None:
    file, layers = write_lora("sd", tmp_path / "lora", alpha=4.0)
    base = load_pipeline(tiny_sd_dir)
    model = load_pipeline(
        ModelSpec(path=str(tiny_sd_dir), lora=str(file), lora_scale=0.5)
    )
    (report,) = model.overrides
    assert report.component == "text_encoder+unet"
    assert report.n_keys == len(load_file(file))
    before = base.pipeline.text_encoder.state_dict()
    expected = _expected(before, layers["text_encoder"], scale=0.5, alpha=4.0)
    assert len(expected) == 2
    _assert_fused(base, model, "text_encoder", expected)
    assert not model.pipeline.get_list_adapters()
    assert model.fingerprint != base.fingerprint
    _images_differ(base, model, "sd")


_UNET_TARGETS = ("attn1.to_q", "attn2.to_k", "attn2.to_out.0")


def _kohya_file(
    pipe: Any, folder: Path, te_prefixes: dict[str, str]
) -> tuple[Path, dict[str, dict[str, torch.Tensor]]]:
    """kohya / A1111 layout: UNet (alpha 3, rank 2) and text encoders (alpha 1, rank 4)."""
    layers = {"unet": encoder_layers(pipe.unet, 2, seed=8, targets=_UNET_TARGETS)}
    state = kohya(layers["unet"], "lora_unet_", 3.0, root="")
    for i, (encoder, prefix) in enumerate(te_prefixes.items()):
        layers[encoder] = encoder_layers(getattr(pipe, encoder), 4, seed=7 + i)
        state.update(kohya(layers[encoder], prefix, 1.0))
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / "kohya.safetensors"))
    return folder / "kohya.safetensors", layers


def test_kohya_lora_with_alphas_lands_exactly_in_unet_and_text_encoder(
    tiny_sd_dir: Path, tmp_path: Path
) -> None:
    file, layers = _kohya_file(
        build_tiny_pipeline(0), tmp_path, {"text_encoder": "lora_te_"}
    )
    base = load_pipeline(tiny_sd_dir)
    model = load_pipeline(
        ModelSpec(path=str(tiny_sd_dir), lora=str(file), lora_scale=0.5)
    )
    (report,) = model.overrides
    assert report.component == "text_encoder+unet"
    for component, alpha in (("unet", 3.0), ("text_encoder", 1.0)):
        before = getattr(base.pipeline, component).state_dict()
        expected = _expected(before, layers[component], scale=0.5, alpha=alpha)
        _assert_fused(base, model, component, expected)
    _images_differ(base, model, "sd")


@pytest.mark.slow
def test_sdxl_kohya_lora_reaches_both_encoders(tmp_path: Path) -> None:
    base_dir = save_family("sdxl", tmp_path / "base")
    prefixes = {"text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}
    file, layers = _kohya_file(BUILDERS["sdxl"](0), tmp_path / "lora", prefixes)
    base = load_pipeline(base_dir)
    model = load_pipeline(ModelSpec(path=str(base_dir), lora=str(file)))
    assert set(model.overrides[0].component.split("+")) == set(layers)
    for component in layers:
        alpha = 3.0 if component == "unet" else 1.0
        before = getattr(base.pipeline, component).state_dict()
        expected = _expected(before, layers[component], scale=1.0, alpha=alpha)
        _assert_fused(base, model, component, expected)
    _images_differ(base, model, "sdxl")


def test_a_text_encoder_lora_key_addressing_no_module_names_it(
    tiny_sd_dir: Path, tmp_path: Path
) -> None:
    file, _ = write_lora("sd", tmp_path / "lora")
    state = load_file(file)
    wrong = "text_encoder.encoder.layers.7.self_attn.q_proj.lora_A.weight"
    state[wrong] = torch.zeros(2, 32)
    save_file(state, str(file))
    with pytest.raises(CheckpointMismatchError) as info:
        load_pipeline(ModelSpec(path=str(tiny_sd_dir), lora=str(file)))
    assert wrong in str(info.value)
    assert "address no module" in str(info.value)


def test_a_text_encoder_lora_of_the_wrong_width_is_refused_before_loading(
    tmp_path: Path,
) -> None:
    from igmu_audit.pipelines.overrides import apply_lora

    pipe = build_tiny_pipeline(0)
    before = {k: v.clone() for k, v in pipe.text_encoder.state_dict().items()}
    layers = encoder_layers(pipe.text_encoder, 2, seed=1)
    key = next(k for k in layers if k.endswith("q_proj.lora_B.weight"))
    layers[key] = torch.randn(31, 2)
    file = tmp_path / "wide.safetensors"
    save_file({f"text_encoder.{k}": v for k, v in layers.items()}, str(file))
    with pytest.raises(CheckpointMismatchError, match=r"do not fit") as info:
        apply_lora(pipe, file)
    assert "q_proj" in str(info.value)
    after = pipe.text_encoder.state_dict()
    assert set(after) == set(before)
    assert all(torch.equal(before[k], after[k]) for k in before)


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
    lora, layers = write_lora(name, tmp_path / "lora", alpha=1.0)
    base = load_pipeline(base_dir)
    model = load_pipeline(ModelSpec(path=str(base_dir), lora=str(lora), lora_scale=2.0))
    (report,) = model.overrides
    assert set(report.component.split("+")) == set(layers)
    assert model.fingerprint != base.fingerprint
    denoiser = _DENOISER[name]
    before = getattr(base.pipeline, denoiser).state_dict()
    after = getattr(model.pipeline, denoiser).state_dict()
    assert set(before) == set(after)
    assert any(not torch.equal(before[k], after[k]) for k in before)
    for encoder in _ENCODERS[name]:
        # text_encoder_3 / FLUX's text_encoder_2 carry no metadata: alpha defaults to r
        alpha = 1.0 if f"{encoder}.lora_alpha" in _metadata(lora) else None
        weights = getattr(base.pipeline, encoder).state_dict()
        expected = _expected(weights, layers[encoder], scale=2.0, alpha=alpha)
        _assert_fused(base, model, encoder, expected)
    assert not model.pipeline.get_list_adapters()
    _images_differ(base, model, name)


def _metadata(file: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as handle:
        return str((handle.metadata() or {}).get("lora_adapter_metadata", ""))


@pytest.mark.slow
def test_a_lora_for_another_family_loads_nothing(tmp_path: Path) -> None:
    lora, _ = write_lora("flux", tmp_path / "lora")
    sdxl = save_family("sdxl", tmp_path / "sdxl")
    with pytest.raises(CheckpointMismatchError):
        load_pipeline(ModelSpec(path=str(sdxl), lora=str(lora)))
