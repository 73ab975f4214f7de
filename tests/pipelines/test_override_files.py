"""Override files: sharded folders load, bad files fail before the base model, no silent casts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from igmu_audit.errors import CheckpointMismatchError, ConfigError
from igmu_audit.pipelines.loading import ModelSpec, load_pipeline
from igmu_audit.pipelines.weight_files import resolve_override


@pytest.fixture(scope="module")
def sharded_unet(other_pipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed-1 tiny UNet saved by diffusers in several safetensors shards."""
    folder = tmp_path_factory.mktemp("sharded") / "unet"
    other_pipeline.unet.save_pretrained(
        folder, max_shard_size="200KB", safe_serialization=True
    )
    return folder


def test_sharded_unet_folder_loads_every_tensor(
    tiny_sd_dir: Path, other_pipeline, sharded_unet: Path
) -> None:
    (index,) = sharded_unet.glob("*.safetensors.index.json")
    shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    assert len(shards) > 1
    loaded = load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(sharded_unet)))
    want = other_pipeline.unet.state_dict()
    got = loaded.pipeline.unet.state_dict()
    assert set(got) == set(want)
    for key, value in want.items():
        assert torch.equal(got[key], value), key
    (report,) = loaded.overrides
    assert report.n_keys == len(want)
    # every shard is part of the fingerprint, by name
    assert sorted(
        k for k in loaded.component_fingerprints if k.startswith("override:")
    ) == [f"override:unet/{name}" for name in shards]
    # the index file itself is an accepted override path, with the same result
    by_index = load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(index)))
    assert by_index.fingerprint == loaded.fingerprint


def test_pipeline_folder_with_a_sharded_unet_subfolder(sharded_unet: Path) -> None:
    source = resolve_override(sharded_unet.parent, "unet")
    assert source.index is not None
    assert source.index.parent == sharded_unet
    assert len(source.files) > 1


def test_bad_override_fails_before_the_base_model_is_read(
    tiny_sd_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers

    calls: list[str] = []

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append("from_pretrained")
        raise AssertionError("the base model must not be loaded")

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", spy)
    empty = tmp_path / "esd.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(empty)))
    assert calls == []
    message = str(info.value)
    assert f"model 'unet': weight file {str(empty)!r} is empty (0 bytes)" in message
    assert "re-download the file, or re-export it" in message


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.uint8])
def test_integer_tensors_for_float_weights_are_refused(
    tiny_sd_dir: Path, other_pipeline, tmp_path: Path, dtype: torch.dtype
) -> None:
    key = "conv_in.weight"
    value = other_pipeline.unet.state_dict()[key]
    file = tmp_path / "int.safetensors"
    save_file({key: (value * 100).to(dtype).contiguous()}, str(file))
    with pytest.raises(CheckpointMismatchError) as info:
        load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(file)))
    message = str(info.value)
    name = str(dtype).removeprefix("torch.")
    assert str(file) in message
    assert f"'conv_in.weight': file {name} vs model float32" in message
    assert "no silent cast" in message
