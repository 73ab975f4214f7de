"""LoRA key parsing and alpha rules, on a real tiny SD pipeline and real safetensors files:
the alpha each layer gets comes from the file (metadata, ``alpha_pattern``, rsLoRA), and
every way a file can be ambiguous or incomplete is refused before anything loads."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.lora_files import encoder_layers
from helpers.tiny_sd import build_tiny_pipeline
from safetensors.torch import save_file

from igmu_audit.errors import CheckpointMismatchError
from igmu_audit.pipelines.overrides import apply_lora

Q = "encoder.layers.0.self_attn.q_proj"
FC1 = "encoder.layers.0.mlp.fc1"


@pytest.fixture(scope="module")
def _shared() -> tuple[Any, dict[str, torch.Tensor]]:
    pipe = build_tiny_pipeline(0)
    return pipe, {k: v.clone() for k, v in pipe.text_encoder.state_dict().items()}


@pytest.fixture
def pipe(_shared: tuple[Any, dict[str, torch.Tensor]]) -> Any:
    """One tiny SD pipeline for the module, its text encoder reset before each test."""
    shared, weights = _shared
    shared.text_encoder.load_state_dict(weights)
    return shared


def _save(
    state: dict[str, torch.Tensor], path: Path, meta: dict[str, Any] | None = None
) -> Path:
    metadata = {"format": "pt"}
    if meta is not None:
        metadata["lora_adapter_metadata"] = json.dumps(meta)
    save_file(state, str(path), metadata=metadata)
    return path


def _delta(before: dict[str, torch.Tensor], after: Any, module: str) -> torch.Tensor:
    key = f"{module}.weight"
    weights: dict[str, torch.Tensor] = after.text_encoder.state_dict()
    return weights[key] - before[key]


def _product(layers: dict[str, torch.Tensor], module: str) -> torch.Tensor:
    return layers[f"{module}.lora_B.weight"] @ layers[f"{module}.lora_A.weight"]


@pytest.mark.parametrize(
    ("meta", "q_factor", "fc1_factor"),
    [
        ({"text_encoder.r": 4, "text_encoder.lora_alpha": 8}, 2.0, 2.0),
        (
            {
                "text_encoder.lora_alpha": 8,
                "text_encoder.alpha_pattern": {"self_attn.q_proj": 1},
            },
            0.25,
            2.0,
        ),
        ({"text_encoder.lora_alpha": 8, "text_encoder.use_rslora": True}, 4.0, 4.0),
        ({"unet.lora_alpha": 8}, 1.0, 1.0),  # another component's alpha: not this one's
        (None, 1.0, 1.0),  # no alpha anywhere: alpha = r
    ],
)
def test_alpha_comes_from_the_files_metadata(
    pipe: Any,
    tmp_path: Path,
    meta: dict[str, Any] | None,
    q_factor: float,
    fc1_factor: float,
) -> None:
    before = {k: v.clone() for k, v in pipe.text_encoder.state_dict().items()}
    layers = encoder_layers(pipe.text_encoder, 4, seed=2)
    state = {f"text_encoder.{k}": v for k, v in layers.items()}
    apply_lora(pipe, _save(state, tmp_path / "lora.safetensors", meta))
    expected_q = q_factor * _product(layers, Q)
    if meta and meta.get("text_encoder.use_rslora"):
        assert q_factor == 8 / math.sqrt(4)
    torch.testing.assert_close(
        _delta(before, pipe, Q), expected_q, rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        _delta(before, pipe, FC1),
        fc1_factor * _product(layers, FC1),
        rtol=1e-5,
        atol=1e-5,
    )


def _untouched(pipe: Any, before: dict[str, torch.Tensor]) -> bool:
    after = pipe.text_encoder.state_dict()
    return set(after) == set(before) and all(
        torch.equal(after[k], before[k]) for k in before
    )


@pytest.mark.parametrize(
    ("edit", "meta", "message"),
    [
        (
            lambda s: {
                **s,
                f"text_encoder.{Q}.lora.down.weight": torch.randn(2, 32),
            },
            None,
            r"gets its down twice",
        ),
        (
            lambda s: {
                k: v for k, v in s.items() if not k.endswith(f"{Q}.lora_B.weight")
            },
            None,
            r"lack their down \(lora_A\) or up \(lora_B\)",
        ),
        (
            lambda s: {**s, f"text_encoder.{Q}.alpha": torch.tensor(2.0)},
            {"text_encoder.lora_alpha": 8},
            r"ambiguous",
        ),
        (
            lambda s: {**s, f"text_encoder.{Q}.alpha": torch.tensor(-1.0)},
            None,
            r"not a positive number",
        ),
        (
            lambda s: {**s, f"text_encoder.{Q}.lora_magnitude_vector": torch.ones(32)},
            None,
            r"DoRA",
        ),
        (
            lambda s: {**s, "lora_te_x.dora_scale": torch.ones(1)},
            None,
            r"dora_scale",
        ),
    ],
    ids=[
        "two-spellings",
        "half-missing",
        "alpha-twice",
        "bad-alpha",
        "dora-te",
        "kohya-dora",
    ],
)
def test_incomplete_or_ambiguous_files_load_nothing(
    pipe: Any, tmp_path: Path, edit: Any, meta: dict[str, Any] | None, message: str
) -> None:
    before = {k: v.clone() for k, v in pipe.text_encoder.state_dict().items()}
    layers = encoder_layers(pipe.text_encoder, 2, seed=3)
    state = edit({f"text_encoder.{k}": v for k, v in layers.items()})
    file = _save(state, tmp_path / "bad.safetensors", meta)
    with pytest.raises(CheckpointMismatchError, match=message) as info:
        apply_lora(pipe, file)
    assert str(file) in str(info.value)
    assert _untouched(pipe, before)
    assert not pipe.get_list_adapters()


def test_metadata_that_is_not_json_is_refused(pipe: Any, tmp_path: Path) -> None:
    layers = encoder_layers(pipe.text_encoder, 2, seed=3)
    file = tmp_path / "bad-meta.safetensors"
    save_file(
        {f"text_encoder.{k}": v for k, v in layers.items()},
        str(file),
        metadata={"lora_adapter_metadata": "{not json"},
    )
    with pytest.raises(CheckpointMismatchError, match=r"metadata is not JSON"):
        apply_lora(pipe, file)
