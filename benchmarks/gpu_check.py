"""The prepared GPU check: raw diffusers vs igmu-audit (cold and warm cache), one run.

Builds a pipeline with the real SD-1.5 architecture and random weights (no download),
saves it, loads it through ``load_pipeline`` as a user would, and measures on the same
prompts and seeds:

* ``raw``: batched ``pipe(...)`` calls with one generator per image (what igmu-audit
  does inside), after one warm-up call;
* ``cold``: ``generate`` with an empty cache (generation + degeneracy checks + PNG
  writes); the target is ``cold <= 1.10 x raw``;
* ``warm``: the same call again, every image from the cache;
* peak GPU memory, and with two GPUs the wall time of two worker processes each
  generating half (``-n 2`` scaling).

``--tiny`` runs the same code on the CPU at a tiny size (the test suite does), so the
script is known to work before a GPU is lent. Writes one JSON of figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _sd15(tiny: bool, seed: int = 0) -> Any:
    """A StableDiffusionPipeline with SD-1.5's architecture (or a tiny one), random weights."""
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    from igmu_audit.pipelines.tokenizer import build_clip_tokenizer

    torch.manual_seed(seed)
    if tiny:
        unet_kw = {"block_out_channels": (32, 64), "layers_per_block": 1, "sample_size": 8,
                   "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                   "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
                   "cross_attention_dim": 32, "attention_head_dim": 8}  # fmt: skip
        vae_kw = {"block_out_channels": (32, 64), "sample_size": 16,
                  "down_block_types": ("DownEncoderBlock2D",) * 2,
                  "up_block_types": ("UpDecoderBlock2D",) * 2}  # fmt: skip
        text = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                "num_attention_heads": 4}  # fmt: skip
    else:  # runwayml/stable-diffusion-v1-5's configs
        unet_kw = {"block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2,
                   "sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8}  # fmt: skip
        vae_kw = {"block_out_channels": (128, 256, 512, 512), "sample_size": 512,
                  "layers_per_block": 2, "down_block_types": ("DownEncoderBlock2D",) * 4,
                  "up_block_types": ("UpDecoderBlock2D",) * 4}  # fmt: skip
        text = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                "num_attention_heads": 12, "projection_dim": 768}  # fmt: skip
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **unet_kw)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **vae_kw)
    encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=49408,
            max_position_embeddings=77,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
            **text,
        )
    )
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", skip_prk_steps=True,
                              steps_offset=1)  # fmt: skip
    return StableDiffusionPipeline(
        vae=vae, text_encoder=encoder, tokenizer=build_clip_tokenizer(), unet=unet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None,
        image_encoder=None, requires_safety_checker=False,
    )  # fmt: skip


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _raw(
    pipe: Any, pairs: list[tuple[str, int]], batch: int, steps: int, side: int
) -> float:
    import torch

    device = str(pipe.device)
    _sync(device)
    start = time.perf_counter()
    for i in range(0, len(pairs), batch):
        chunk = pairs[i : i + batch]
        pipe(
            prompt=[p for p, _ in chunk],
            num_inference_steps=steps,
            guidance_scale=7.5,
            height=side,
            width=side,
            generator=[torch.Generator("cpu").manual_seed(s) for _, s in chunk],
            output_type="np",
        )
    _sync(device)
    return time.perf_counter() - start


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure of one run, as a JSON-ready dict."""
    import torch

    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GenerationSettings, generate_pairs
    from igmu_audit.pipelines.loading import load_pipeline

    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    dtype = "float16" if cuda else "float32"
    side = args.side or (32 if args.tiny else 512)
    steps = args.steps or (2 if args.tiny else 25)
    pairs = [(f"a photo of object {i % 4}", i) for i in range(args.images)]
    work = Path(tempfile.mkdtemp(prefix="igmu-gpu-check-"))
    t0 = time.perf_counter()
    _sd15(args.tiny).save_pretrained(work / "model", safe_serialization=True)
    model = load_pipeline(work / "model", device=device, torch_dtype=dtype)
    build_s = time.perf_counter() - t0
    pipe = model.pipeline
    pipe.set_progress_bar_config(disable=True)
    _raw(pipe, pairs[:1], 1, steps, side)  # warm-up: kernels, allocator
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    raw_s = _raw(pipe, pairs, args.batch, steps, side)
    settings = GenerationSettings(
        steps=steps, height=side, width=side, batch_size=args.batch
    )
    cache = ImageCache(work / "cache")
    _sync(device)
    start = time.perf_counter()
    cold = generate_pairs(model, pairs, settings=settings, cache=cache, progress=False)
    _sync(device)
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    warm = generate_pairs(model, pairs, settings=settings, cache=cache, progress=False)
    warm_s = time.perf_counter() - start
    assert all(w.cached for w in warm)
    assert not any(c.cached for c in cold)
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "torch": torch.__version__,
        "dtype": dtype,
        "architecture": "tiny" if args.tiny else "sd-1.5",
        "resolution": side,
        "steps": steps,
        "images": len(pairs),
        "batch_size": args.batch,
        "build_and_load_s": round(build_s, 3),
        "raw_s": round(raw_s, 3),
        "cold_s": round(cold_s, 3),
        "warm_s": round(warm_s, 3),
        "cold_over_raw": round(cold_s / raw_s, 3),
        "cold_target_met": cold_s <= 1.10 * raw_s,
        "raw_img_per_s": round(len(pairs) / raw_s, 3),
        "peak_gpu_memory_gib": (
            round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None
        ),
    }


def scaling(args: argparse.Namespace) -> dict[str, Any] | None:
    """Two worker processes, one GPU each, each generating half: the ``-n 2`` figure."""
    import torch

    if args.tiny or torch.cuda.device_count() < 2:
        return None
    half = max(1, args.images // 2)
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--images",
                str(half),
                "--batch",
                str(args.batch),
                "--out",
                os.devnull,
            ],
            env={**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu)},
        )
        for gpu in (0, 1)
    ]
    codes = [p.wait() for p in procs]
    return {
        "workers": 2,
        "wall_s": round(time.perf_counter() - start, 3),
        "exit_codes": codes,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="CPU, tiny architecture")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=0, help="default 25 (tiny: 2)")
    parser.add_argument("--side", type=int, default=0, help="default 512 (tiny: 32)")
    parser.add_argument("--scaling", action="store_true", help="also time 2 GPUs")
    parser.add_argument("--out", default="gpu_check.json")
    args = parser.parse_args(argv)
    figures = measure(args)
    if args.scaling:
        figures["two_gpus"] = scaling(args)
    if args.out != os.devnull:
        Path(args.out).write_text(
            json.dumps(figures, indent=2) + "\n", encoding="utf-8"
        )
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
