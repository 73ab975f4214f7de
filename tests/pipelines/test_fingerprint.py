"""Fingerprints: stable across runs and copies, sensitive to weights, overrides and scheduler."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from helpers.tiny_sd import build_tiny_pipeline
from safetensors.torch import load_file, save_file

from igmu_audit.pipelines.fingerprint import (
    clear_digest_cache,
    file_digest,
    fingerprint_pipeline,
    folder_weight_files,
)
from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

UNET_FILE = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def base(tiny_sd_dir):
    return load_pipeline(tiny_sd_dir)


@pytest.fixture
def override_file(other_pipeline, tmp_path):
    partial = {
        k: v.clone()
        for k, v in other_pipeline.unet.state_dict().items()
        if ".attn2.to_k." in k
    }
    save_file(partial, str(tmp_path / "esd-x.safetensors"))
    return tmp_path / "esd-x.safetensors"


def test_stable_across_loads_and_copies(tiny_sd_dir, base, tmp_path):
    assert load_pipeline(tiny_sd_dir).fingerprint == base.fingerprint
    copy = shutil.copytree(tiny_sd_dir, tmp_path / "elsewhere" / "renamed")
    clear_digest_cache()
    again = load_pipeline(copy)
    assert again.fingerprint == base.fingerprint
    assert again.component_fingerprints == base.component_fingerprints


def test_one_changed_weight_changes_it(tiny_sd_copy, base):
    path = tiny_sd_copy / UNET_FILE
    tensors = load_file(path)
    key = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_v.weight"
    tensors[key][0, 0] += 1e-3
    save_file(tensors, str(path))
    changed = load_pipeline(tiny_sd_copy)
    assert changed.fingerprint != base.fingerprint
    differing = {
        k
        for k in base.component_fingerprints
        if changed.component_fingerprints[k] != base.component_fingerprints[k]
    }
    assert differing == {UNET_FILE}


def test_scheduler_config_changes_it(tiny_sd_copy, base):
    path = tiny_sd_copy / "scheduler" / "scheduler_config.json"
    config = json.loads(path.read_text())
    # (not steps_offset: StableDiffusionPipeline silently resets it to 1 on load)
    config["timestep_spacing"] = "trailing"
    path.write_text(json.dumps(config))
    changed = load_pipeline(tiny_sd_copy)
    assert changed.fingerprint != base.fingerprint
    assert changed.component_fingerprints == base.component_fingerprints


def test_overrides_change_it_but_not_their_names(
    tiny_sd_dir, base, override_file, tmp_path
):
    with_override = load_pipeline(
        ModelSpec(path=str(tiny_sd_dir), unet=str(override_file))
    )
    assert with_override.fingerprint != base.fingerprint
    assert with_override.component_fingerprints["override:unet"] == file_digest(
        override_file
    )
    moved = shutil.copy(override_file, tmp_path / "moved-and-renamed.safetensors")
    assert (
        load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(moved))).fingerprint
        == with_override.fingerprint
    )
    # the same tensors applied to another component role are a different model
    tensors = load_file(override_file)
    tensors[next(iter(tensors))] += 1
    save_file(tensors, str(moved))
    assert (
        load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(moved))).fingerprint
        != with_override.fingerprint
    )


def test_lora_scale_changes_it(tiny_sd_dir, lora_file):
    one = load_pipeline(ModelSpec(path=str(tiny_sd_dir), lora=str(lora_file)))
    half = load_pipeline(
        ModelSpec(path=str(tiny_sd_dir), lora=str(lora_file), lora_scale=0.5)
    )
    assert one.fingerprint != half.fingerprint
    assert one.component_fingerprints == half.component_fingerprints


def test_file_digests_are_cached_by_size_and_mtime(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"a" * 64)
    first = file_digest(path)
    stat = path.stat()
    path.write_bytes(b"b" * 64)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_digest(path) == first  # same (path, size, mtime_ns): not re-hashed
    clear_digest_cache()
    assert file_digest(path) != first
    path.write_bytes(b"b" * 65)
    assert file_digest(path) != first


def test_folder_weight_files_follow_variant_and_safetensors(tmp_path):
    (tmp_path / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "X",
                "unet": ["diffusers", "U"],
                "safety_checker": [None, None],
            }
        )
    )
    names = [
        "diffusion_pytorch_model.safetensors",
        "diffusion_pytorch_model.bin",
        "diffusion_pytorch_model.fp16.safetensors",
        "config.json",
    ]
    (tmp_path / "unet").mkdir()
    for name in names:
        (tmp_path / "unet" / name).write_bytes(b"x")
    (tmp_path / "v1-5-pruned.ckpt").write_bytes(
        b"x"
    )  # top-level files are never loaded
    assert list(folder_weight_files(tmp_path)) == [
        "unet/diffusion_pytorch_model.safetensors"
    ]
    assert list(folder_weight_files(tmp_path, variant="fp16")) == [
        "unet/diffusion_pytorch_model.fp16.safetensors"
    ]
    assert list(folder_weight_files(tmp_path, variant="ema")) == [
        "unet/diffusion_pytorch_model.safetensors"
    ]


def test_fingerprint_pipeline_in_memory():
    a, b = build_tiny_pipeline(seed=0), build_tiny_pipeline(seed=0)
    assert fingerprint_pipeline(a) == fingerprint_pipeline(b)
    with torch.no_grad():
        b.unet.conv_in.weight[0, 0, 0, 0] += 1e-4
    assert fingerprint_pipeline(a) != fingerprint_pipeline(b)
    c = build_tiny_pipeline(seed=0)
    c.scheduler = type(c.scheduler).from_config(
        c.scheduler.config, timestep_spacing="trailing"
    )
    assert fingerprint_pipeline(a) != fingerprint_pipeline(c)
    assert fingerprint_pipeline(a.to(torch.bfloat16)).startswith("sha256:")
