"""load_pipeline() and ModelSpec on real tiny Stable Diffusion folders."""

from __future__ import annotations

import json
import re

import pytest
import torch
from safetensors.torch import load_file

from igmu_audit.errors import ConfigError, UnsafeCheckpointError
from igmu_audit.pipelines.loading import LoadedPipeline, ModelSpec, load_pipeline

SHA = re.compile(r"^sha256:[0-9a-f]{64}$")


# ---------------------------------------------------------------- ModelSpec


def test_spec_round_trips_through_json(tmp_path):
    spec = ModelSpec(
        path=tmp_path / "sd",
        unet="esd-x.safetensors",
        lora="l.safetensors",
        lora_scale=0.5,
        torch_dtype="fp16",
        variant="fp16",
    )
    assert spec.path == str(tmp_path / "sd")
    assert spec.torch_dtype == "float16"
    again = ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


def test_spec_label_is_derived_from_the_paths():
    assert ModelSpec(path="/models/sd/sd-1.5").label == "sd-1.5"
    assert ModelSpec(path="sd-1.5.safetensors").label == "sd-1.5"
    assert (
        ModelSpec(path="models/sd/sd-1.5", unet="z/esd-x.safetensors").label
        == "sd-1.5+esd-x"
    )
    assert (
        ModelSpec(path="CompVis/stable-diffusion-v1-4").label
        == "CompVis/stable-diffusion-v1-4"
    )
    assert ModelSpec(path="a", label="mine").label == "mine"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"path": ""}, "path"),
        ({"path": "a", "unet": 3}, "unet"),
        ({"path": "a", "lora_scale": "big"}, "lora_scale"),
        ({"path": "a", "lora_scale": float("nan")}, "lora_scale"),
        ({"path": "a", "allow_pickle": "yes"}, "allow_pickle"),
        ({"path": "a", "torch_dtype": "float64"}, "torch_dtype"),
        ({"path": "a", "variant": ""}, "variant"),
    ],
)
def test_spec_validation_names_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=rf"ModelSpec\.{field}:"):
        ModelSpec(**kwargs)


def test_from_dict_rejects_unknown_keys_with_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"unknown key 'unett' \(did you mean 'unet'\?\)"
    ):
        ModelSpec.from_dict({"path": "a", "unett": "x.safetensors"})
    with pytest.raises(ConfigError, match=r"ModelSpec\.path: missing"):
        ModelSpec.from_dict({"unet": "x.safetensors"})


# ---------------------------------------------------------------- loading


def test_loads_a_diffusers_folder(tiny_sd_dir):
    loaded = load_pipeline(tiny_sd_dir)
    assert isinstance(loaded, LoadedPipeline)
    assert type(loaded.pipeline).__name__ == "StableDiffusionPipeline"
    assert SHA.match(loaded.fingerprint)
    assert loaded.label == tiny_sd_dir.name
    assert loaded.device == "cpu"
    assert loaded.torch_dtype == "float32"
    assert loaded.overrides == ()
    assert sorted(loaded.component_fingerprints) == [
        "text_encoder/model.safetensors",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    ]
    assert all(SHA.match(v) for v in loaded.component_fingerprints.values())
    saved = load_file(tiny_sd_dir / "unet" / "diffusion_pytorch_model.safetensors")
    for key, value in loaded.pipeline.unet.state_dict().items():
        torch.testing.assert_close(value, saved[key], rtol=0, atol=0)
    json.dumps(loaded.to_dict())


def test_loaded_pipeline_generates(tiny_sd_dir):
    pipe = load_pipeline(ModelSpec(path=str(tiny_sd_dir))).pipeline
    pipe.set_progress_bar_config(disable=True)
    out = pipe(
        "a red circle",
        num_inference_steps=2,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.images.shape == (1, 16, 16, 3)


def test_dtype_is_applied_and_validated(tiny_sd_dir):
    loaded = load_pipeline({"path": str(tiny_sd_dir), "torch_dtype": "bfloat16"})
    assert loaded.pipeline.unet.dtype == torch.bfloat16
    assert loaded.torch_dtype == "bfloat16"
    # the call's dtype wins over the spec's
    assert (
        load_pipeline(tiny_sd_dir, torch_dtype=torch.float32).pipeline.unet.dtype
        == torch.float32
    )
    with pytest.raises(ConfigError, match="torch_dtype"):
        load_pipeline(tiny_sd_dir, torch_dtype="int8")


@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="this machine has a cuda:7")
def test_missing_cuda_device_is_a_config_error(tiny_sd_dir):
    with pytest.raises(ConfigError, match=r"device: 'cuda:7'"):
        load_pipeline(tiny_sd_dir, device="cuda:7")


def test_missing_local_path_is_named(tmp_path):
    missing = tmp_path / "nope" / "sd-1.5"
    with pytest.raises(ConfigError, match=r"does not exist") as info:
        load_pipeline(missing)
    assert str(missing) in str(info.value)


def test_missing_override_file_fails_before_loading(tiny_sd_dir, tmp_path):
    with pytest.raises(
        ConfigError, match=r"model 'unet': override .*esd\.safetensors.* does not exist"
    ):
        load_pipeline(
            ModelSpec(path=str(tiny_sd_dir), unet=str(tmp_path / "esd.safetensors"))
        )


def test_hub_id_offline_is_a_config_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError) as info:
        load_pipeline("igmu-audit-tests/no-such-model")
    message = str(info.value)
    assert "'igmu-audit-tests/no-such-model' was not found locally" in message
    assert "needs network" in message
    assert "HF_HUB_OFFLINE=1" in message


def test_component_folder_is_not_a_pipeline(tiny_sd_dir):
    with pytest.raises(
        ConfigError, match=r"single component folder .* give it as `unet:`"
    ):
        load_pipeline(tiny_sd_dir / "unet")


def test_pickle_folder_needs_allow_pickle(tmp_path):
    from helpers.tiny_sd import build_tiny_pipeline

    folder = tmp_path / "pickled"
    build_tiny_pipeline(seed=0).save_pretrained(folder, safe_serialization=False)
    assert list(folder.glob("unet/*.bin"))
    with pytest.raises(UnsafeCheckpointError, match=r"allow_pickle: true"):
        load_pipeline(folder)
    loaded = load_pipeline(ModelSpec(path=str(folder), allow_pickle=True))
    assert any(name.endswith(".bin") for name in loaded.component_fingerprints)


# ---------------------------------------------------------------- single-file checkpoints


@pytest.fixture(scope="module")
def single_file_state(tiny_sd_dir):
    from helpers.ldm_keys import pipeline_to_ldm

    return pipeline_to_ldm(load_pipeline(tiny_sd_dir).pipeline)


def test_single_file_loads_offline_with_a_config_folder(
    tiny_sd_dir, single_file_state, tmp_path
):
    from safetensors.torch import save_file

    file = tmp_path / "tiny-sd-single.safetensors"
    save_file(single_file_state, str(file))
    loaded = load_pipeline(
        ModelSpec(path=str(file), single_file_config=str(tiny_sd_dir))
    )
    folder = load_pipeline(tiny_sd_dir)
    for name in ("unet", "vae", "text_encoder"):
        want = getattr(folder.pipeline, name).state_dict()
        got = getattr(loaded.pipeline, name).state_dict()
        assert set(got) == set(want)
        assert all(torch.equal(got[k].reshape(want[k].shape), want[k]) for k in want), (
            name
        )
    assert loaded.label == "tiny-sd-single"
    assert list(loaded.component_fingerprints) == ["checkpoint"]
    assert SHA.match(loaded.fingerprint)


def test_single_file_without_config_explains_the_offline_fix(
    single_file_state, tmp_path
):
    from safetensors.torch import save_file

    file = tmp_path / "tiny.safetensors"
    save_file(single_file_state, str(file))
    with pytest.raises(
        ConfigError, match=r"set `single_file_config` to a local diffusers folder"
    ):
        load_pipeline(file)


def test_single_file_ckpt_needs_allow_pickle(tiny_sd_dir, single_file_state, tmp_path):
    file = tmp_path / "sd-v1-tiny.ckpt"
    torch.save({"state_dict": single_file_state, "global_step": 1}, file)
    with pytest.raises(UnsafeCheckpointError, match=r"model 'path'"):
        load_pipeline(ModelSpec(path=str(file), single_file_config=str(tiny_sd_dir)))
    loaded = load_pipeline(
        ModelSpec(
            path=str(file), single_file_config=str(tiny_sd_dir), allow_pickle=True
        )
    )
    assert loaded.label == "sd-v1-tiny"


# ---------------------------------------------------------------- variants, logging, devices


def test_variant_loads_and_fingerprints_the_variant_files(tmp_path):
    from helpers.tiny_sd import build_tiny_pipeline

    folder = tmp_path / "with-fp16"
    pipe = build_tiny_pipeline(seed=0)
    pipe.save_pretrained(folder, safe_serialization=True)
    pipe.unet.to(torch.float16).save_pretrained(folder / "unet", variant="fp16")
    plain = load_pipeline(folder)
    fp16 = load_pipeline(ModelSpec(path=str(folder), variant="fp16"))
    assert (
        "unet/diffusion_pytorch_model.fp16.safetensors" in fp16.component_fingerprints
    )
    assert "unet/diffusion_pytorch_model.safetensors" in plain.component_fingerprints
    assert fp16.fingerprint != plain.fingerprint


def test_override_counts_are_logged(tiny_sd_dir, other_pipeline, tmp_path, caplog):
    from safetensors.torch import save_file

    partial = {
        k: v.clone()
        for k, v in other_pipeline.unet.state_dict().items()
        if ".attn2.to_k." in k
    }
    save_file(partial, str(tmp_path / "esd-x.safetensors"))
    n_params = sum(v.numel() for v in partial.values())
    with caplog.at_level("INFO", logger="igmu_audit.pipelines"):
        load_pipeline(
            ModelSpec(path=str(tiny_sd_dir), unet=str(tmp_path / "esd-x.safetensors"))
        )
    assert any(
        f"override unet <- {tmp_path / 'esd-x.safetensors'}: {len(partial)} of "
        in r.getMessage()
        and f"{n_params} parameters" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device_is_passed_through(tiny_sd_dir):
    loaded = load_pipeline(tiny_sd_dir, device="cuda:0", torch_dtype="float16")
    assert loaded.device == "cuda:0"
    assert loaded.pipeline.unet.device.type == "cuda"
    assert loaded.pipeline.unet.dtype == torch.float16
