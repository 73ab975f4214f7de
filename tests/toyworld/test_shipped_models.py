"""The shipped toy world meets its bars (the MODEL_CARD figures, re-measured with margins).

Everything is seeded, so each check is deterministic; the margins only absorb float
differences between machines. The card's figures use more images than these tests.
"""

from __future__ import annotations

import json

import pytest
import torch

from igmu_audit.detectors.base import Detector
from igmu_audit.detectors.toy_world import ToyWorldDetector
from igmu_audit.toyworld import diffusion
from igmu_audit.toyworld.classifier import accuracy, labels_tensor
from igmu_audit.toyworld.clip import load_toy_clip
from igmu_audit.toyworld.evaluate import GROUPS, evaluation_prompts
from igmu_audit.toyworld.vocabulary import load_vocabulary

SHAPES = load_vocabulary().classes("shape")


def test_shipped_files_are_safetensors_and_small(toyworld_dir):
    files = [f for f in toyworld_dir.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 30e6
    assert not [
        f for f in files if f.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}
    ]
    assert (toyworld_dir / "MODEL_CARD.md").is_file()
    settings = json.loads((toyworld_dir / "generation.json").read_text())
    assert settings["height"] == settings["width"] == 32


def test_classifier_held_out_accuracy(toy_classifier, held_out):
    images, labels = held_out
    counts = accuracy(toy_classifier, images, labels_tensor(labels))
    rates = {a: k / n for a, (k, n) in counts.items()}
    assert rates["shape"] >= 0.97, rates
    assert rates["colour"] >= 0.97, rates
    assert rates["texture"] >= 0.95, rates


def test_detector_follows_the_protocol_and_finds_circles(held_out):
    images, labels = held_out
    detector = ToyWorldDetector("circle")
    assert isinstance(detector, Detector)
    assert detector.name == "toyworld"
    assert detector.threshold == 0.5
    profile = detector.profile
    assert profile["attribute"] == "shape"
    assert profile["classes"] == SHAPES
    assert len(profile["weights_sha256"]) == 64
    json.dumps(profile)
    present = detector(images) >= detector.threshold
    is_circle = torch.from_numpy(labels[:, 0] == SHAPES.index("circle"))
    assert (present == is_circle).float().mean() >= 0.97


def test_detector_infers_attribute_and_validates():
    assert ToyWorldDetector("striped").attribute == "texture"
    assert ToyWorldDetector("red").profile["attribute"] == "colour"
    with pytest.raises(ValueError, match="is a shape, not a colour"):
        ToyWorldDetector("circle", attribute="colour")
    with pytest.raises(ValueError, match="unknown toy-world concept"):
        ToyWorldDetector("hexagon")
    from igmu_audit.errors import DetectorError

    with pytest.raises(DetectorError, match=r"\[0, 1\]"):
        ToyWorldDetector("circle")(torch.full((1, 3, 32, 32), 2.0))


def test_toy_clip_embeds_and_aligns_languages(held_out):
    images, labels = held_out
    clip = load_toy_clip()
    assert clip.name == "toyworld-clip"
    image_emb = clip.encode_image(images[:200])
    assert torch.allclose(image_emb.norm(dim=-1), torch.ones(200), atol=1e-4)
    vocab = load_vocabulary()
    for language in ("en", "zh", "ru"):
        text_emb = clip.encode_text([vocab.words(s, language)[0] for s in SHAPES])
        predicted = (image_emb @ text_emb.T).argmax(-1).numpy()
        assert (predicted == labels[:200, 0]).mean() >= 0.6, language


@pytest.mark.parametrize("shape", SHAPES)
def test_pipeline_draws_the_prompted_shape_from_held_out_english_prompts(
    toy_pipeline, toy_classifier, shape
):
    # The card's first 24 English prompts and seeds for this shape (see evaluate.generation_rates).
    n = 24
    base = 1234 + 1000 * SHAPES.index(shape)
    prompts, _, _ = evaluation_prompts(shape, GROUPS[0], 48, base)
    images = diffusion.generate(toy_pipeline, prompts[:n], [base + i for i in range(n)])
    predicted = toy_classifier.predict(images)["shape"].argmax(-1)
    rate = (predicted == SHAPES.index(shape)).float().mean().item()
    assert rate >= 0.8, (
        f"{shape}: {rate:.2f} of {n} held-out English prompts drew the shape"
    )
