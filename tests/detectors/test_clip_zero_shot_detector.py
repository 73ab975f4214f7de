"""CLIP zero-shot with a tiny real open_clip model loaded from local safetensors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from conftest import TINY_CLIP_CONFIG
from igmu_audit.detectors import CLIPZeroShotDetector, Detector, get_detector
from igmu_audit.errors import (
    CheckpointMismatchError,
    ConfigError,
    UnsafeCheckpointError,
)

CONCEPTS = ["a red circle", "a round disc"]
COUNTERS = ["a blue square"]


def _detector(checkpoint: Path, **options: object) -> CLIPZeroShotDetector:
    return CLIPZeroShotDetector(
        CONCEPTS,
        COUNTERS,
        model_config=TINY_CLIP_CONFIG,
        checkpoint=checkpoint,
        **options,
    )


def test_scores_are_deterministic_probabilities(
    tiny_clip_file: Path, images: torch.Tensor
) -> None:
    detector = _detector(tiny_clip_file)
    assert isinstance(detector, Detector)
    scores = detector(images)
    assert scores.shape == (4,)
    assert scores.dtype == torch.float32
    assert ((scores >= 0) & (scores <= 1)).all()
    assert torch.equal(scores, detector(images))
    assert torch.equal(scores, _detector(tiny_clip_file)(images))
    assert torch.equal(scores[1:3], detector(images[1:3]))


def test_scores_match_a_hand_computation(
    tiny_clip: torch.nn.Module, tiny_clip_file: Path, images: torch.Tensor
) -> None:
    from open_clip.tokenizer import SimpleTokenizer

    from igmu_audit.detectors._clip import OPENAI_MEAN, OPENAI_STD

    detector = _detector(tiny_clip_file, logit_scale=30.0, batch_size=3)
    resized = torch.nn.functional.interpolate(
        images, size=(38, 32), mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 1)[:, :, 3:35, :]
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        image = tiny_clip.encode_image((resized - mean) / std, normalize=True)
        prompts = [f"a photo of {t}" for t in CONCEPTS + COUNTERS]
        text = tiny_clip.encode_text(SimpleTokenizer()(prompts), normalize=True)
    expected = (30.0 * image @ text.T).softmax(-1)[:, :2].sum(-1)
    assert detector(images) == pytest.approx(expected, abs=1e-5)


def test_swapping_concept_and_counter_complements_the_score(
    tiny_clip_file: Path, images: torch.Tensor
) -> None:
    config = {"model_config": TINY_CLIP_CONFIG, "checkpoint": tiny_clip_file}
    forward = CLIPZeroShotDetector("a cat", "a dog", **config)(images)
    backward = CLIPZeroShotDetector("a dog", "a cat", **config)(images)
    assert forward + backward == pytest.approx(torch.ones(4), abs=1e-6)


def test_folder_checkpoint_and_model_object_agree(
    tiny_clip: torch.nn.Module,
    tiny_clip_file: Path,
    tiny_clip_dir: Path,
    images: torch.Tensor,
) -> None:
    reference = _detector(tiny_clip_file)(images)
    from_folder = CLIPZeroShotDetector(CONCEPTS, COUNTERS, checkpoint=tiny_clip_dir)
    from_model = CLIPZeroShotDetector(CONCEPTS, COUNTERS, model=tiny_clip)
    assert torch.equal(from_folder(images), reference)
    assert torch.equal(from_model(images), reference)
    assert (
        from_folder.profile["weights_sha256"]
        == _detector(tiny_clip_file).profile["weights_sha256"]
    )


def test_profile_records_weights_prompts_and_scale(tiny_clip_file: Path) -> None:
    profile = get_detector(
        "clip-zero-shot",
        concepts=CONCEPTS,
        counter_concepts=COUNTERS,
        model_config=TINY_CLIP_CONFIG,
        checkpoint=tiny_clip_file,
        template="a drawing of {}",
    ).profile
    assert (
        profile["weights_sha256"]
        == hashlib.sha256(tiny_clip_file.read_bytes()).hexdigest()
    )
    assert profile["prompts"] == [f"a drawing of {t}" for t in CONCEPTS + COUNTERS]
    assert profile["logit_scale"] == pytest.approx(1 / 0.07, rel=1e-4)
    json.dumps(profile)


def test_model_name_without_local_weights_says_how_to_fix() -> None:
    with pytest.raises(ConfigError, match=r"needs local weights.*checkpoint="):
        CLIPZeroShotDetector("nudity", "a person", model_name="ViT-B-32")


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"model_name": "hf-hub:laion/x", "checkpoint": "w.safetensors"},
            ConfigError,
            "remote",
        ),
        (
            {"model_name": "ViT-B-32", "checkpoint": "/no/such.safetensors"},
            ConfigError,
            "does not exist",
        ),
        ({"model_name": "ViT-B-33"}, ConfigError, "unknown open_clip architecture"),
    ],
)
def test_bad_sources_are_config_errors(
    options: dict[str, object],
    error: type[Exception],
    message: str,
    tiny_clip_file: Path,
) -> None:
    options.setdefault("checkpoint", tiny_clip_file)
    with pytest.raises(error, match=message):
        CLIPZeroShotDetector("nudity", "a person", **options)  # type: ignore[arg-type]


def test_pickled_weights_need_opt_in(
    tiny_clip: torch.nn.Module, tmp_path: Path, images: torch.Tensor
) -> None:
    path = tmp_path / "tiny.pt"
    torch.save(tiny_clip.state_dict(), path)
    with pytest.raises(UnsafeCheckpointError, match="allow_pickle=True"):
        CLIPZeroShotDetector("a", "b", model_config=TINY_CLIP_CONFIG, checkpoint=path)
    detector = CLIPZeroShotDetector(
        "a", "b", model_config=TINY_CLIP_CONFIG, checkpoint=path, allow_pickle=True
    )
    assert detector(images).shape == (4,)


def test_weights_for_another_architecture_are_rejected(tiny_clip_file: Path) -> None:
    wider = {**TINY_CLIP_CONFIG, "embed_dim": 24}
    with pytest.raises(CheckpointMismatchError, match="does not match"):
        CLIPZeroShotDetector("a", "b", model_config=wider, checkpoint=tiny_clip_file)


@pytest.mark.parametrize(
    ("concepts", "template"),
    [([], "a photo of {}"), (["a"], "no placeholder"), ([""], "{}")],
)
def test_texts_and_template_are_validated(
    concepts: list[str], template: str, tiny_clip: torch.nn.Module
) -> None:
    with pytest.raises(ConfigError):
        CLIPZeroShotDetector(concepts, "b", model=tiny_clip, template=template)


def test_transformers_clip_model_works_too(images: torch.Tensor) -> None:
    """A transformers ``CLIPModel`` (e.g. the toy world's) with a mapping tokenizer."""
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPConfig, CLIPModel

    text = {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64}
    text |= {
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 77,
    }
    text |= {"bos_token_id": 49406, "eos_token_id": 49407, "pad_token_id": 0}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
    vision |= {"num_attention_heads": 2, "image_size": 32, "patch_size": 8}
    torch.manual_seed(0)
    model = CLIPModel(
        CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)
    )
    tokenizer = SimpleTokenizer()
    detector = CLIPZeroShotDetector(
        "a cat", "a dog", model=model, tokenizer=lambda t: {"input_ids": tokenizer(t)}
    )
    scores = detector(images)
    assert scores.shape == (4,)
    assert ((scores > 0) & (scores < 1)).all()
    assert detector.profile["image_size"] == 32
    assert not model.training
