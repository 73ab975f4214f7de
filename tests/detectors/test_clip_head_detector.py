"""IGMU's CLIP + binary head format: exact keys, safe loading, pickles only on opt-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from igmu_audit.detectors import CLIPHeadDetector, Detector, get_detector
from igmu_audit.detectors.clip_head import AdvancedClassifierHeadCLIP
from igmu_audit.errors import (
    CheckpointMismatchError,
    ConfigError,
    DetectorError,
    UnsafeCheckpointError,
)

#: IGMU's AdvancedClassifierHead_CLIP(hidden_dim=512) state-dict layout.
IGMU_KEYS = {
    "attention.0.weight": (256, 512),
    "attention.0.bias": (256,),
    "attention.2.weight": (512, 256),
    "attention.2.bias": (512,),
    "classifier.0.weight": (512,),
    "classifier.0.bias": (512,),
    "classifier.1.weight": (256, 512),
    "classifier.1.bias": (256,),
    "classifier.4.weight": (128, 256),
    "classifier.4.bias": (128,),
    "classifier.7.weight": (1, 128),
    "classifier.7.bias": (1,),
}


class Pooled512(torch.nn.Module):
    """A fixed feature extractor: 8x8 average pool of each channel, then a linear map to 512."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.proj = torch.nn.Linear(3 * 8 * 8, 512)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images, 8).flatten(1)
        return self.proj(pooled) * 4.0


@pytest.fixture(scope="module")
def head_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(2)
    head = AdvancedClassifierHeadCLIP()
    for parameter in head.parameters():
        torch.nn.init.normal_(parameter, std=0.2)
    return {k: v.clone() for k, v in head.state_dict().items()}


@pytest.fixture
def head_files(head_state: dict[str, torch.Tensor], tmp_path: Path) -> dict[str, Path]:
    safe, pickle = (
        tmp_path / "classifier_head.safetensors",
        tmp_path / "classifier_head.pth",
    )
    save_file(head_state, str(safe))
    torch.save(head_state, pickle)
    return {"safetensors": safe, "pickle": pickle}


def test_head_has_igmus_exact_keys_and_shapes() -> None:
    shapes = {
        k: tuple(v.shape) for k, v in AdvancedClassifierHeadCLIP().state_dict().items()
    }
    assert shapes == IGMU_KEYS


def test_safetensors_head_scores_as_sigmoid_of_the_head(
    head_files: dict[str, Path],
    head_state: dict[str, torch.Tensor],
    images: torch.Tensor,
) -> None:
    extractor = Pooled512().eval()
    detector = CLIPHeadDetector(head_files["safetensors"], feature_extractor=extractor)
    assert isinstance(detector, Detector)
    scores = detector(images)
    reference = AdvancedClassifierHeadCLIP().eval()
    reference.load_state_dict(head_state)
    with torch.no_grad():
        expected = torch.sigmoid(reference(extractor(images))[:, 0])
    assert scores == pytest.approx(expected, abs=1e-6)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert scores.std() > 0
    assert detector.threshold == 0.5


def test_pickle_refused_without_opt_in(head_files: dict[str, Path]) -> None:
    with pytest.raises(UnsafeCheckpointError, match=r"allow_pickle=True.*save_file"):
        CLIPHeadDetector(head_files["pickle"], feature_extractor=Pooled512())


def test_pickle_loads_with_opt_in_and_matches_safetensors(
    head_files: dict[str, Path], images: torch.Tensor
) -> None:
    extractor = Pooled512().eval()
    from_pickle = CLIPHeadDetector(
        head_files["pickle"], feature_extractor=extractor, allow_pickle=True
    )
    from_safe = CLIPHeadDetector(head_files["safetensors"], feature_extractor=extractor)
    assert torch.equal(from_pickle(images), from_safe(images))


def test_pickled_objects_are_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "whole_module.pt"
    torch.save(AdvancedClassifierHeadCLIP(), path)
    with pytest.raises(UnsafeCheckpointError, match="weights_only=True"):
        CLIPHeadDetector(path, feature_extractor=Pooled512(), allow_pickle=True)


def test_key_mismatch_names_the_keys(
    head_state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    renamed = {k.replace("attention.", "se."): v for k, v in head_state.items()}
    path = tmp_path / "other_head.safetensors"
    save_file(renamed, str(path))
    with pytest.raises(CheckpointMismatchError) as info:
        CLIPHeadDetector(path, feature_extractor=Pooled512())
    assert "attention.0.weight" in str(info.value)
    assert "se.0.weight" in str(info.value)


def test_prefix_from_igmus_combined_model_is_stripped(
    head_state: dict[str, torch.Tensor], images: torch.Tensor
) -> None:
    prefixed = {f"classifier_head.{k}": v for k, v in head_state.items()}
    extractor = Pooled512().eval()
    assert torch.equal(
        CLIPHeadDetector(prefixed, feature_extractor=extractor)(images),
        CLIPHeadDetector(head_state, feature_extractor=extractor)(images),
    )


def test_wrong_feature_size_is_a_detector_error(
    head_state: dict[str, torch.Tensor], images: torch.Tensor
) -> None:
    detector = CLIPHeadDetector(
        head_state, feature_extractor=lambda x: x.flatten(1)[:, :100]
    )
    with pytest.raises(DetectorError, match=r"\(4, 100\).*\(4, 512\)"):
        detector(images)


def test_open_clip_encoder_from_local_folder(
    tiny_clip_dir: Path, tmp_path: Path, images: torch.Tensor
) -> None:
    """A head sized for the tiny CLIP's 16-d features runs on open_clip loaded offline."""
    torch.manual_seed(4)
    head = AdvancedClassifierHeadCLIP(feature_dim=16)
    path = tmp_path / "tiny_head.safetensors"
    save_file(head.state_dict(), str(path))
    detector = get_detector(
        "clip-head", head=path, clip_checkpoint=tiny_clip_dir, concept="circle"
    )
    scores = detector(images)
    assert scores.shape == (4,)
    assert torch.equal(scores, detector(images))
    profile = detector.profile
    assert profile["feature_dim"] == 16
    assert profile["feature_extractor"] == "open_clip"
    assert len(profile["head_sha256"]) == len(profile["weights_sha256"]) == 64
    json.dumps(profile)


def test_missing_clip_weights_is_a_config_error(head_files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="needs local weights"):
        CLIPHeadDetector(head_files["safetensors"])
