"""The one-command trainer runs end to end (a few steps per stage) and writes loadable artefacts."""

from __future__ import annotations

import json

from igmu_audit.toyworld.train import main


def test_quick_training_writes_a_loadable_pipeline(tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline

    threads = torch.get_num_threads()
    try:
        main(["--quick", "--skip-eval", "--out", str(tmp_path), "--threads", str(threads)])
    finally:
        torch.set_num_threads(threads)
    for name in (
        "classifier/model.safetensors",
        "clip/model.safetensors",
        "generation.json",
    ):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "MODEL_CARD.md").exists(), "--skip-eval must not write a card"
    record = json.loads((tmp_path / "training.json").read_text())
    assert set(record["timings_s"]) >= {
        "classifier",
        "clip",
        "vae",
        "unet",
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
