"""Every text-to-image family through the same loading, fingerprinting, overriding and
generation code: SD-2 (v-prediction), SDXL, SD3 (with and without T5) and FLUX, each a
real diffusers pipeline with tiny random weights saved to disk and loaded back."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.tiny_families import BUILDERS, save_family
from safetensors.torch import save_file

from igmu_audit.errors import CheckpointMismatchError, ConfigError
from igmu_audit.pipelines.cache import ImageCache
from igmu_audit.pipelines.families import family_of
from igmu_audit.pipelines.generation import (
    GenerationSettings,
    generate,
    image_fields,
)
from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

#: family -> (class name, family name, denoiser, extra generation arguments)
EXPECTED = {
    "sd2-v": ("StableDiffusionPipeline", "sd", "unet", {}),
    "sdxl": ("StableDiffusionXLPipeline", "sdxl", "unet", {"original_size": (32, 32)}),
    "sd3": (
        "StableDiffusion3Pipeline",
        "sd3",
        "transformer",
        {"max_sequence_length": 8},
    ),
    "sd3-no-t5": ("StableDiffusion3Pipeline", "sd3", "transformer", {}),
    "flux": ("FluxPipeline", "flux", "transformer", {"max_sequence_length": 8}),
}
PROMPTS = ["a red circle", "a blue square"]


def settings(**extra: object) -> GenerationSettings:
    base: dict = {"steps": 2, "height": 16, "width": 16, "batch_size": 4}
    return GenerationSettings(**{**base, **extra})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every tiny family saved once as a diffusers folder."""
    root = tmp_path_factory.mktemp("families")
    return {name: save_family(name, root / name) for name in BUILDERS}


@pytest.fixture(scope="module")
def loaded(family_dirs: dict[str, Path]) -> dict:
    return {name: load_pipeline(path) for name, path in family_dirs.items()}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_family_loads_generates_and_is_batch_independent(
    name: str, loaded: dict, tmp_path: Path
) -> None:
    cls, family, denoiser, args = EXPECTED[name]
    model = loaded[name]
    assert type(model.pipeline).__name__ == cls
    fam = family_of(model.pipeline)
    assert (fam.name, fam.denoiser) == (family, denoiser)
    if name == "sd2-v":
        assert model.pipeline.scheduler.config.prediction_type == "v_prediction"
    if name == "sd3-no-t5":
        assert model.pipeline.text_encoder_3 is None
    arguments = tuple(sorted(args.items()))
    batched = generate(
        model, PROMPTS, [0, 1], settings=settings(arguments=arguments), progress=False
    )
    single = generate(
        model,
        PROMPTS[::-1],
        [1, 0],
        settings=settings(arguments=arguments, batch_size=1),
        progress=False,
    )
    by_pair = {(im.prompt, im.seed): im for im in single}
    for im in batched:
        twin = by_pair[(im.prompt, im.seed)]
        assert im.pixels.shape == (16, 16, 3)
        # Same noise per image whatever the batch; BLAS may round a batched matmul
        # differently in the last float bit (~1e-6), which can flip one uint8 level.
        diff = np.abs(im.pixels.astype(int) - twin.pixels.astype(int))
        assert diff.max() <= 1, (name, im.prompt, im.seed)
        assert diff.mean() < 0.01, (name, im.prompt, im.seed)
        assert im.key == twin.key
    # different seeds draw different images
    assert not np.array_equal(batched[0].pixels, batched[1].pixels)
    fields = image_fields(model, PROMPTS[0], 0, settings(arguments=arguments))
    assert fields["dtype"] == "float32"
    assert fields.get("family", "sd") == family
    assert fields.get("arguments", {}) == args


def test_fingerprint_names_the_weights_not_the_folder(
    family_dirs: dict[str, Path], loaded: dict, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(family_dirs["flux"], tmp_path / "elsewhere"))
    assert load_pipeline(copy).fingerprint == loaded["flux"].fingerprint
    prints = {m.fingerprint for m in loaded.values()}
    assert len(prints) == len(loaded)
    assert "transformer/diffusion_pytorch_model.safetensors" in (
        loaded["sd3"].component_fingerprints
    )


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("sdxl", {"original_size": (64, 64), "crops_coords_top_left": (4, 4)}),
        ("sdxl", {"target_size": (8, 8)}),
        ("flux", {"max_sequence_length": 4}),
        ("sd3", {"max_sequence_length": 4}),
    ],
)
def test_family_arguments_change_the_image_and_the_cache_key(
    name: str, args: dict, loaded: dict, tmp_path: Path
) -> None:
    model = loaded[name]
    cache = ImageCache(tmp_path / "cache")
    plain = generate(
        model, PROMPTS[:1], [0], settings=settings(), cache=cache, progress=False
    )
    other = generate(
        model,
        PROMPTS[:1],
        [0],
        settings=settings(arguments=tuple(sorted(args.items()))),
        cache=cache,
        progress=False,
    )
    assert plain[0].key != other[0].key
    assert not other[0].cached
    assert not np.array_equal(plain[0].pixels, other[0].pixels)


def test_flux_guidance_is_part_of_the_key_and_the_image(loaded: dict) -> None:
    model = loaded["flux"]
    low = generate(
        model, PROMPTS[:1], [0], settings=settings(guidance_scale=1.0), progress=False
    )
    high = generate(
        model, PROMPTS[:1], [0], settings=settings(guidance_scale=6.0), progress=False
    )
    assert low[0].key != high[0].key
    assert not np.array_equal(low[0].pixels, high[0].pixels)


@pytest.mark.parametrize(
    ("name", "kwargs", "mentions"),
    [
        ("sd2-v", {"arguments": (("original_size", (8, 8)),)}, ["original_size", "StableDiffusionPipeline"]),
        ("flux", {"arguments": (("crops_coords_top_left", (0, 0)),)}, ["crops_coords_top_left", "max_sequence_length"]),
        ("flux", {"negative_prompt": "blurry"}, ["true_cfg_scale", "negative_prompt"]),
        ("flux", {"height": 15, "width": 16}, ["multiples of 2", "15x16"]),
        ("sd3", {"height": 17, "width": 16}, ["multiples of 2", "17x16"]),
    ],
)  # fmt: skip
def test_arguments_a_family_would_ignore_are_refused_before_any_image(
    name: str, kwargs: dict, mentions: list[str], loaded: dict, tmp_path: Path
) -> None:
    cache = ImageCache(tmp_path / "cache")
    with pytest.raises(ConfigError) as info:
        generate(
            loaded[name],
            PROMPTS,
            [0],
            settings=settings(**kwargs),
            cache=cache,
            progress=False,
        )
    for text in mentions:
        assert text in str(info.value)
    assert not any((tmp_path / "cache").rglob("*.png"))


def test_flux_negative_prompt_with_true_cfg_is_used(loaded: dict) -> None:
    model = loaded["flux"]
    args = (("max_sequence_length", 8), ("true_cfg_scale", 3.0))
    a = generate(
        model,
        PROMPTS[:1],
        [0],
        settings=settings(arguments=args, negative_prompt="x"),
        progress=False,
    )
    b = generate(
        model,
        PROMPTS[:1],
        [0],
        settings=settings(arguments=args, negative_prompt="yy zz"),
        progress=False,
    )
    assert a[0].key != b[0].key
    assert not np.array_equal(a[0].pixels, b[0].pixels)


def _partial(module: torch.nn.Module, seed: int, n: int = 2) -> dict[str, torch.Tensor]:
    """``n`` floating-point tensors of ``module`` replaced by seeded noise (an edit)."""
    gen = torch.Generator().manual_seed(seed)
    items = [
        (k, v)
        for k, v in module.state_dict().items()
        if v.is_floating_point() and v.ndim == 2
    ]
    # the last ones: never an embedding tied to another key (T5's shared / embed_tokens)
    return {k: torch.randn(v.shape, generator=gen) * 0.5 for k, v in items[-n:]}


@pytest.mark.parametrize(
    ("name", "component"),
    [
        ("sd3", "transformer"),
        ("flux", "transformer"),
        ("sdxl", "text_encoder_2"),
        ("sd3", "text_encoder_3"),
        ("flux", "text_encoder_2"),
        ("sdxl", "unet"),
    ],
)
def test_every_component_can_be_overridden(
    name: str,
    component: str,
    family_dirs: dict[str, Path],
    loaded: dict,
    tmp_path: Path,
) -> None:
    base = loaded[name]
    edit = _partial(getattr(base.pipeline, component), seed=7)
    file = tmp_path / f"{component}.safetensors"
    save_file(edit, str(file))
    model = load_pipeline(
        ModelSpec(path=str(family_dirs[name]), **{component: str(file)})
    )
    (report,) = model.overrides
    assert (report.component, report.n_keys) == (component, len(edit))
    state = getattr(model.pipeline, component).state_dict()
    for key, value in edit.items():
        assert torch.equal(state[key], value)
    assert model.fingerprint != base.fingerprint
    assert f"override:{component}" in model.component_fingerprints


def test_override_for_a_component_the_family_lacks_is_refused(
    family_dirs: dict[str, Path], tmp_path: Path
) -> None:
    file = tmp_path / "t.safetensors"
    save_file({"x": torch.zeros(2)}, str(file))
    with pytest.raises(ConfigError, match="no transformer to override"):
        load_pipeline(ModelSpec(path=str(family_dirs["sd2-v"]), transformer=str(file)))


def test_override_keys_that_miss_the_transformer_load_nothing(
    family_dirs: dict[str, Path], tmp_path: Path
) -> None:
    file = tmp_path / "t.safetensors"
    save_file({"transformer_blocks.0.attn.to_qq.weight": torch.zeros(2, 2)}, str(file))
    with pytest.raises(CheckpointMismatchError, match="to_qq"):
        load_pipeline(ModelSpec(path=str(family_dirs["flux"]), transformer=str(file)))
