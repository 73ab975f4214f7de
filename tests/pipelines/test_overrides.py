"""Overrides on a real tiny SD folder: UNet (full, ESD-x partial, DoCo), text encoder, LoRA, pickles."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from igmu_audit.errors import (
    CheckpointMismatchError,
    ConfigError,
    UnsafeCheckpointError,
)
from igmu_audit.pipelines.loading import ModelSpec, load_pipeline
from igmu_audit.pipelines.overrides import apply_lora, apply_state_dict_override


def _save(tensors: dict[str, torch.Tensor], path):
    save_file(
        {k: v.detach().clone().contiguous() for k, v in tensors.items()}, str(path)
    )
    return path


def _changed(
    before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]
) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


@pytest.fixture(scope="module")
def base_state(tiny_sd_dir):
    return {
        "unet": load_file(tiny_sd_dir / "unet" / "diffusion_pytorch_model.safetensors"),
        "text_encoder": load_file(tiny_sd_dir / "text_encoder" / "model.safetensors"),
    }


@pytest.fixture(scope="module")
def shared_pipe(tiny_sd_dir):
    """One base pipeline for the failing overrides (each test checks it stays untouched)."""
    return load_pipeline(tiny_sd_dir).pipeline


def _render(pipe) -> torch.Tensor:
    pipe.set_progress_bar_config(disable=True)
    out = pipe(
        "a red circle",
        num_inference_steps=2,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    return out.images


# ---------------------------------------------------------------- UNet


def test_full_unet_dict_replaces_every_weight(
    tiny_sd_dir, other_pipeline, base_state, tmp_path
):
    new = other_pipeline.unet.state_dict()
    file = _save(new, tmp_path / "esd-u.safetensors")
    loaded = load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(file)))
    got = loaded.pipeline.unet.state_dict()
    for key, value in new.items():
        assert torch.equal(got[key], value), key
    assert _changed(base_state["unet"], got) == {
        k for k in new if not torch.equal(base_state["unet"][k], new[k])
    }
    (report,) = loaded.overrides
    assert (report.component, report.kind, report.n_keys) == (
        "unet",
        "state_dict",
        len(new),
    )
    assert report.n_params == sum(v.numel() for v in new.values())
    assert report.key_transform == ""
    # the text encoder is untouched
    te = loaded.pipeline.text_encoder.state_dict()
    assert not _changed(base_state["text_encoder"], te)


def test_esd_x_cross_attention_only_changes_only_those(
    tiny_sd_dir, other_pipeline, base_state, tmp_path
):
    partial = {
        k: v
        for k, v in other_pipeline.unet.state_dict().items()
        if ".attn2.to_k." in k or ".attn2.to_v." in k
    }
    assert 0 < len(partial) < 10
    file = _save(partial, tmp_path / "esd-x.safetensors")
    loaded = load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(file)))
    assert _changed(base_state["unet"], loaded.pipeline.unet.state_dict()) == set(
        partial
    )
    assert loaded.overrides[0].n_keys == len(partial)


def test_doco_dict_nested_under_unet(tiny_sd_dir, other_pipeline, base_state, tmp_path):
    partial = {
        k: v.clone()
        for k, v in other_pipeline.unet.state_dict().items()
        if ".attn2." in k
    }
    file = tmp_path / "doco.pt"
    torch.save({"unet": partial, "step": 1000}, file)
    loaded = load_pipeline(
        ModelSpec(path=str(tiny_sd_dir), unet=str(file), allow_pickle=True)
    )
    assert _changed(base_state["unet"], loaded.pipeline.unet.state_dict()) == set(
        partial
    )


def test_prefixed_flat_dict_is_normalised(
    tiny_sd_dir, other_pipeline, base_state, tmp_path
):
    partial = {
        f"unet.{k}": v
        for k, v in other_pipeline.unet.state_dict().items()
        if ".attn2.to_q." in k
    }
    file = _save(partial, tmp_path / "doco-flat.safetensors")
    loaded = load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(file)))
    assert len(_changed(base_state["unet"], loaded.pipeline.unet.state_dict())) == len(
        partial
    )
    assert loaded.overrides[0].key_transform == "stripped 'unet.'"


# ---------------------------------------------------------------- text encoder


@pytest.mark.parametrize("prefix", ["", "text_model."])
def test_full_text_encoder_dict(
    tiny_sd_dir, other_pipeline, base_state, tmp_path, prefix
):
    new = other_pipeline.text_encoder.state_dict()
    file = _save(
        {prefix + k: v for k, v in new.items()}, tmp_path / "advunlearn.safetensors"
    )
    loaded = load_pipeline(ModelSpec(path=str(tiny_sd_dir), text_encoder=str(file)))
    got = loaded.pipeline.text_encoder.state_dict()
    assert all(torch.equal(got[k], v) for k, v in new.items())
    assert not _changed(base_state["unet"], loaded.pipeline.unet.state_dict())
    assert loaded.overrides[0].n_keys == len(new)


def test_text_encoder_layer_zero_only(
    tiny_sd_dir, other_pipeline, base_state, tmp_path
):
    # + 1: layer norms start at ones/zeros in every seed; the override must differ everywhere.
    layer0 = {
        f"text_model.{k}": v + 1
        for k, v in other_pipeline.text_encoder.state_dict().items()
        if k.startswith("encoder.layers.0.")
    }
    file = _save(layer0, tmp_path / "advunlearn-layer0.safetensors")
    loaded = load_pipeline(ModelSpec(path=str(tiny_sd_dir), text_encoder=str(file)))
    changed = _changed(
        base_state["text_encoder"], loaded.pipeline.text_encoder.state_dict()
    )
    assert changed == {k.removeprefix("text_model.") for k in layer0}
    assert loaded.overrides[0].key_transform == "stripped 'text_model.'"


def test_text_encoder_folder_advunlearn_style(tiny_sd_dir, other_pipeline, tmp_path):
    other_pipeline.text_encoder.save_pretrained(
        tmp_path / "advunlearn" / "text_encoder"
    )
    expected = other_pipeline.text_encoder.state_dict()
    for given in (tmp_path / "advunlearn" / "text_encoder", tmp_path / "advunlearn"):
        loaded = load_pipeline(
            ModelSpec(path=str(tiny_sd_dir), text_encoder=str(given))
        )
        got = loaded.pipeline.text_encoder.state_dict()
        assert all(torch.equal(got[k], v) for k, v in expected.items())
        assert "override:text_encoder" in loaded.component_fingerprints


# ---------------------------------------------------------------- LoRA


def test_lora_changes_the_output_and_respects_scale(
    tiny_sd_dir, lora_file, base_state, shared_pipe
):
    lora = load_pipeline(ModelSpec(path=str(tiny_sd_dir), lora=str(lora_file)))
    # a folder holding one LoRA file is accepted too
    zero = load_pipeline(
        ModelSpec(path=str(tiny_sd_dir), lora=str(lora_file.parent), lora_scale=0.0)
    )
    base_w = base_state["unet"]
    changed = _changed(base_w, lora.pipeline.unet.state_dict())
    assert changed
    assert all(".attn" in k for k in changed)
    assert not _changed(base_w, zero.pipeline.unet.state_dict())
    assert not (_render(shared_pipe) == _render(lora.pipeline)).all()
    (report,) = lora.overrides
    assert (report.kind, report.component) == ("lora", "unet")
    assert report.n_keys == len(load_file(lora_file))
    # fused: no adapter layers remain, the pipeline is plain
    assert not lora.pipeline.get_list_adapters()


def test_lora_with_unknown_modules_is_a_mismatch(
    shared_pipe, base_state, lora_file, tmp_path
):
    bad = {
        k.replace("up_blocks", "upper_blocks"): v
        for k, v in load_file(lora_file).items()
    }
    file = _save(bad, tmp_path / "bad-lora.safetensors")
    with pytest.raises(
        CheckpointMismatchError, match=r"LoRA keys address no module"
    ) as info:
        apply_lora(shared_pipe, file)
    assert "upper_blocks" in str(info.value)
    assert not shared_pipe.get_list_adapters()
    assert not _changed(base_state["unet"], shared_pipe.unet.state_dict())


# ---------------------------------------------------------------- pickles


class _Payload:
    """Unpickling this with weights_only=False would create the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_override_is_refused_without_opt_in(
    tiny_sd_dir, other_pipeline, tmp_path
):
    file = tmp_path / "esd.pt"
    torch.save(other_pipeline.unet.state_dict(), file)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(file)))
    message = str(info.value)
    assert str(file) in message
    assert "arbitrary code" in message
    assert "allow_pickle: true" in message
    assert "safetensors.torch.save_file" in message
    assert "weights_only=True" in message
    loaded = load_pipeline(
        ModelSpec(path=str(tiny_sd_dir), unet=str(file), allow_pickle=True)
    )
    assert loaded.overrides[0].n_keys == len(other_pipeline.unet.state_dict())


def test_pickle_with_code_is_never_unpickled(shared_pipe, tmp_path):
    marker = tmp_path / "pwned"
    file = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _Payload(marker)}, file)
    with pytest.raises(UnsafeCheckpointError, match=r"weights_only=True"):
        apply_state_dict_override(shared_pipe, "unet", file, allow_pickle=True)
    assert not marker.exists()


# ---------------------------------------------------------------- mismatches


def test_dict_matching_no_key(tiny_sd_dir, tmp_path):
    # through load_pipeline once; the other mismatch tests call the override step directly
    junk = {f"encoder.block.{i}.weight": torch.zeros(2) for i in range(7)}
    file = _save(junk, tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointMismatchError) as info:
        load_pipeline(ModelSpec(path=str(tiny_sd_dir), unet=str(file)))
    message = str(info.value)
    assert "matches none of the model's" in message
    assert "all 7 keys are unknown" in message
    assert "(+2 more)" in message
    assert "Nothing was loaded" in message


def test_unexpected_keys_are_listed_with_closest_expected(
    shared_pipe, base_state, other_pipeline, tmp_path
):
    good = {
        k: v for k, v in other_pipeline.unet.state_dict().items() if ".attn2.to_k." in k
    }
    typo = {k.replace("to_k", "to_kk"): v for k, v in good.items()}
    file = _save({**good, **typo}, tmp_path / "typo.safetensors")
    with pytest.raises(CheckpointMismatchError) as info:
        apply_state_dict_override(shared_pipe, "unet", file)
    message = str(info.value)
    assert f"{len(typo)} of {len(good) + len(typo)} keys are unexpected" in message
    assert "to_kk" in message
    assert (
        "closest expected keys: 'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight'"
        in message
    )


def test_wrong_shapes_are_reported(shared_pipe, base_state, tmp_path):
    key = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    file = _save({key: torch.zeros(32, 768)}, tmp_path / "sd2-esd.safetensors")
    with pytest.raises(
        CheckpointMismatchError,
        match=r"1 of 1 tensors have the wrong shape: .*file \(32, 768\) vs model \(32, 32\)",
    ):
        apply_state_dict_override(shared_pipe, "unet", file)
    assert not _changed(base_state["unet"], shared_pipe.unet.state_dict())


def test_ldm_keys_get_a_hint(shared_pipe, base_state, tmp_path):
    file = _save(
        {"model.diffusion_model.input_blocks.1.1.proj_in.weight": torch.zeros(2)},
        tmp_path / "ldm.safetensors",
    )
    with pytest.raises(CheckpointMismatchError, match=r"original CompVis/LDM keys"):
        apply_state_dict_override(shared_pipe, "unet", file)


def test_a_failed_override_leaves_the_model_untouched(
    shared_pipe, other_pipeline, base_state, tmp_path
):
    pipe = shared_pipe
    before = base_state["unet"]
    good = {k: v for k, v in other_pipeline.unet.state_dict().items() if ".attn2." in k}
    file = _save({**good, "not.a.key": torch.zeros(1)}, tmp_path / "half.safetensors")
    with pytest.raises(CheckpointMismatchError):
        apply_state_dict_override(pipe, "unet", file)
    assert not _changed(before, pipe.unet.state_dict())


def test_unknown_component_is_a_config_error(shared_pipe, tmp_path):
    pipe = shared_pipe
    file = _save({"x": torch.zeros(1)}, tmp_path / "x.safetensors")
    with pytest.raises(ConfigError, match="has no transformer"):
        apply_state_dict_override(pipe, "transformer", file)
