"""Degenerate generations are errors, never images: NaN / inf / constant, fresh or cached."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.tiny_sd import build_tiny_pipeline, tiny_components
from safetensors.torch import save_file

from igmu_audit._paths import fixtures_dir
from igmu_audit.errors import GenerationError
from igmu_audit.pipelines.cache import ImageCache, encode_png
from igmu_audit.pipelines.degenerate import (
    CONSTANT_STD,
    constant_reason,
    degenerate_reason,
)
from igmu_audit.pipelines.generation import GenerationSettings, generate, image_fields

SETTINGS = GenerationSettings(steps=2, guidance_scale=5.0, batch_size=4)
TOY = fixtures_dir() / "toyworld" / "original"


def _noise(shape: tuple[int, ...] = (8, 8, 3)) -> np.ndarray:
    return np.random.default_rng(0).random(shape)


# ---------------------------------------------------------------- the rule itself


def test_reasons_name_what_is_degenerate() -> None:
    assert degenerate_reason(_noise()) is None
    nan = _noise()
    nan[0, 0, 0] = np.nan
    assert degenerate_reason(nan) == "1 of 192 pixel values are NaN"
    assert degenerate_reason(np.full((8, 8, 3), np.nan)) == (
        "all 192 pixel values are NaN"
    )
    inf = _noise()
    inf[1, :, 2] = np.inf
    assert degenerate_reason(inf) == "8 of 192 pixel values are infinite"
    black = degenerate_reason(np.zeros((8, 8, 3), dtype=np.float32))
    assert black is not None
    assert black.startswith("constant image: every pixel is (0, 0, 0)")
    assert "std 0.000/255 < 0.5/255" in black


def test_constant_means_one_colour_within_half_a_uint8_step() -> None:
    flat_red = np.zeros((8, 8, 3))
    flat_red[..., 0] = 1.0
    assert "every pixel is (255, 0, 0)" in (constant_reason(flat_red) or "")
    # noise just under the tolerance is still constant; just over it is an image
    rng = np.random.default_rng(1)
    signs = rng.choice([-1.0, 1.0], size=(8, 8, 3))
    assert constant_reason(0.5 + signs * CONSTANT_STD * 0.9) is not None
    assert constant_reason(0.5 + signs * CONSTANT_STD * 1.1) is None
    # uint8 images are read in the same units
    assert constant_reason(np.full((4, 4, 3), 7, dtype=np.uint8)) is not None
    two_tone = np.zeros((4, 4, 3), dtype=np.uint8)
    two_tone[:2] = 200
    assert constant_reason(two_tone) is None


# ---------------------------------------------------------------- tiny pipeline


@pytest.fixture(scope="module")
def nan_pipeline():
    pipe = build_tiny_pipeline()
    with torch.no_grad():
        for param in pipe.unet.parameters():
            param.fill_(float("nan"))
    return pipe


def test_nan_unet_raises_naming_model_prompt_seed_and_is_never_cached(
    nan_pipeline, tmp_path: Path
) -> None:
    cache = ImageCache(tmp_path)
    fingerprint = image_fields(nan_pipeline, "a red circle", 0, SETTINGS)["model"]
    for _ in range(2):  # a re-run raises again: nothing was cached
        with pytest.raises(GenerationError) as info:
            generate(
                nan_pipeline,
                ["a red circle", "a blue square"],
                [3],
                settings=SETTINGS,
                cache=cache,
                progress=False,
            )
        message = str(info.value)
        first = message.splitlines()[0]
        assert fingerprint[:19] in first
        assert "prompt 'a red circle', seed 3" in first
        assert "latents became NaN/inf at denoising step 1" in first
        assert "all 768 pixel values are NaN" in first
        assert "also degenerate in the same batch: ('a blue square', seed 3)" in message
        assert "fix: check the model's weights" in message
        assert "safety_checker=None" in message
    assert not list(tmp_path.rglob("*.png"))
    assert cache.hits == 0


def _constant_decoder_pipeline():
    pipe = build_tiny_pipeline()
    with torch.no_grad():
        pipe.vae.decoder.conv_out.weight.zero_()
        pipe.vae.decoder.conv_out.bias.fill_(-1.0)  # decodes to black everywhere
    return pipe


def test_constant_images_raise_and_name_the_colour() -> None:
    with pytest.raises(
        GenerationError, match=r"constant image: every pixel is \(0, 0, 0\)"
    ):
        generate(
            _constant_decoder_pipeline(), ["a red circle"], [0], settings=SETTINGS, progress=False
        )  # fmt: skip


class _BlackingSafetyChecker(torch.nn.Module):
    """Does what diffusers' safety checker does to a flagged image: returns it black."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    @property
    def device(self) -> torch.device:
        return self.dummy.device

    @property
    def dtype(self) -> torch.dtype:
        return self.dummy.dtype

    def forward(self, images, clip_input):  # type: ignore[no-untyped-def]
        return np.zeros_like(images) if isinstance(images, np.ndarray) else (
            torch.zeros_like(images)
        ), [True] * len(images)


def test_safety_checker_black_images_name_the_safety_checker() -> None:
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPImageProcessor

    components = {
        **tiny_components(),
        "safety_checker": _BlackingSafetyChecker(),
        "feature_extractor": CLIPImageProcessor(crop_size=16, size=16),
        "requires_safety_checker": True,
    }
    pipe = StableDiffusionPipeline(**components)
    with pytest.raises(GenerationError) as info:
        generate(pipe, ["a red circle"], [0], settings=SETTINGS, progress=False)
    message = str(info.value)
    assert "constant image: every pixel is (0, 0, 0)" in message
    assert "safety checker replaced this image with a black one" in message


def test_a_cached_constant_image_is_not_trusted_and_regenerated(
    tiny_model, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ImageCache(tmp_path)
    (good,) = generate(
        tiny_model,
        ["a red circle"],
        [0],
        settings=SETTINGS,
        cache=cache,
        progress=False,
    )
    # forge a well-formed entry (matching digests) whose image is black
    import hashlib

    black = encode_png(np.zeros_like(good.pixels))
    assert good.path is not None
    good.path.write_bytes(black)
    sidecar = good.path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["png"].update(sha256=hashlib.sha256(black).hexdigest(), size=len(black))
    sidecar.write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING):
        (again,) = generate(
            tiny_model, ["a red circle"], [0], settings=SETTINGS, cache=cache, progress=False
        )  # fmt: skip
    assert not again.cached
    assert "constant image" in caplog.text
    assert str(good.path) in caplog.text
    np.testing.assert_array_equal(again.pixels, good.pixels)
    assert good.path.read_bytes() != black


# ---------------------------------------------------------------- the toy world


@pytest.fixture(scope="module")
def nan_toy_override(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.torch import load_file

    weights = load_file(TOY / "unet" / "diffusion_pytorch_model.safetensors")
    file = tmp_path_factory.mktemp("nan") / "nan-unet.safetensors"
    save_file({k: torch.full_like(v, float("nan")) for k, v in weights.items()}, file)
    return file


def test_toy_world_audit_with_a_nan_unet_errors_instead_of_passing(
    nan_toy_override: Path, audit_session, caplog: pytest.LogCaptureFixture
) -> None:
    from igmu_audit import assert_forgotten, load_pipeline
    from igmu_audit.pipelines.loading import ModelSpec

    with caplog.at_level(logging.WARNING):
        model = load_pipeline(
            ModelSpec(path=str(TOY), unet=str(nan_toy_override), label="toy+nan")
        )
    assert "tensors hold NaN or inf values" in caplog.text
    original = load_pipeline(ModelSpec(path=str(TOY), label="toy-original"))
    with pytest.raises(GenerationError) as info:
        assert_forgotten(
            model,
            ["a red circle", "a big circle"],
            detector="toyworld",
            concept="circle",
            original=original,
            seeds=[0, 1],
            min_effective_prompts=1,
        )
    message = str(info.value)
    assert "'toy+nan'" in message
    assert model.fingerprint[:19] in message
    assert "pixel values are NaN" in message
    assert f"unet <- {nan_toy_override}" in message
    cache = audit_session.cache
    assert cache is not None
    assert not [
        p
        for p in cache.root.rglob("*.json")
        if json.loads(p.read_text())["model"] == model.fingerprint
    ]
