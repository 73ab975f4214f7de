"""The one-command trainer runs end to end (a few steps per stage) and writes loadable artefacts."""

from __future__ import annotations

import json

from igmu_audit.toyworld.train import main


def test_quick_training_writes_a_loadable_pipeline(tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline

    threads = torch.get_num_threads()
    try:
        main(
            [
                "--quick",
                "--skip-eval",
                "--out",
                str(tmp_path),
                "--threads",
                str(threads),
            ]
        )
    finally:
        torch.set_num_threads(threads)
    for name in (
        "classifier/model.safetensors",
        "clip/model.safetensors",
        "generation.json",
    ):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "MODEL_CARD.md").exists(), (
        "--skip-eval must not write a card"
    )
    record = json.loads((tmp_path / "training.json").read_text())
    assert set(record["timings_s"]) >= {
        "classifier",
        "clip",
        "vae",
        "unet",
        "joint",
        "total_training",
    }
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / "original")
    assert pipe.text_encoder.dtype == torch.float32
    assert not list((tmp_path / "original").rglob("*.bin"))

    main(["--quick", "--eval-only", "--out", str(tmp_path), "--threads", str(threads)])
    torch.set_num_threads(threads)
    evaluation = json.loads((tmp_path / "evaluation.json").read_text())
    assert evaluation["generation"]["en"]["shape"]["circle"]["n"] == 2
    card = (tmp_path / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Toy detector" in card
    assert "Generation" in card


def test_attribute_loss_reads_only_the_attributes_a_caption_names():
    import torch
    from torch.nn.functional import cross_entropy, normalize

    from igmu_audit.toyworld.clip import _attribute_heads, _attribute_loss

    torch.manual_seed(0)
    heads = _attribute_heads()
    image, text = (
        normalize(torch.randn(4, 64), dim=-1),
        normalize(torch.randn(4, 64), dim=-1),
    )
    labels = torch.tensor([[0, 1, 2], [1, 2, 0], [2, 3, 1], [3, 0, 0]])

    def ce(emb: torch.Tensor, k: int) -> torch.Tensor:
        return cross_entropy(heads[k](emb) * 10.0, labels[:, k])

    image_part = sum(ce(image, k) for k in range(3))
    none_named = _attribute_loss(heads, image, text, labels, [()] * 4)
    shape_named = _attribute_loss(heads, image, text, labels, [("shape",)] * 4)
    assert torch.allclose(none_named, image_part / 3)
    assert torch.allclose(shape_named, (image_part + ce(text, 0)) / 3)
