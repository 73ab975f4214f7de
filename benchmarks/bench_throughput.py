"""Metric throughput on 500 images: igmu-audit's batched path vs a per-image reference loop.

Not a test. The IGMU reference scripts read images in batches of 5 and push them through
the detector and CLIP one image at a time. The batched column is the detector's own
throughput; igmu-audit's leak audits call it per image, for scores that do not depend on
their batch (see igmu_audit/scoring.py).
Both paths compute the same numbers (checked below), on the same 500 held-out toy-world
images (real renders from ``igmu_audit.toyworld.data``, with their captions):

* toy-world detector score (the forgetting detector of the toy world);
* CLIP score against each image's caption (the toy CLIP);
* NudeNet (UnlearnDiffAtk profile) when the ``nudenet`` extra is installed, on the same
  images upscaled to 256 px (NudeNet letterboxes to 320 px itself).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_throughput.py [--n 500] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

REFERENCE_BATCH = 5


def _timed(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _loop(score_one: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """The reference scripts' shape: batches of 5 read, then one image at a time."""
    out = []
    for start in range(0, n, REFERENCE_BATCH):
        for i in range(start, min(start + REFERENCE_BATCH, n)):
            out.append(score_one(i))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    from igmu_audit.clip_models import load_clip
    from igmu_audit.metrics.functional.clip_score import clip_scores
    from igmu_audit.toyworld.data import caption, sample_dataset, to_tensor
    from igmu_audit.toyworld.detector import ToyWorldDetector

    data = sample_dataset(args.n, seed=11, split="test")
    images = to_tensor(data.images)
    rng = np.random.default_rng(11)
    captions = [
        caption(*data.attributes(i), rng=rng, split="test") for i in range(args.n)
    ]
    detector = ToyWorldDetector("striped")
    clip = load_clip("toyworld")

    def clip_batched() -> torch.Tensor:
        return clip_scores(clip.encode_image(images), clip.encode_text(captions))

    def clip_one(i: int) -> torch.Tensor:
        return clip_scores(
            clip.encode_image(images[i : i + 1]), clip.encode_text([captions[i]])
        )

    cases: list[
        tuple[str, Callable[[], torch.Tensor], Callable[[int], torch.Tensor]]
    ] = [
        (
            "toy-world detector",
            lambda: detector(images),
            lambda i: detector(images[i : i + 1]),
        ),
        ("CLIP score (toy CLIP)", clip_batched, clip_one),
    ]
    try:
        from igmu_audit.detectors.nudenet import NudeNetDetector

        nudenet = NudeNetDetector("nudenet-unlearndiffatk")
        big = torch.nn.functional.interpolate(
            images, size=256, mode="bilinear", antialias=True
        ).clamp(0, 1)
        cases.append(
            (
                "NudeNet (256 px)",
                lambda: nudenet(big),
                lambda i: nudenet(big[i : i + 1]),
            )
        )
    except Exception as exc:
        print(f"NudeNet skipped: {exc}")

    rows: list[dict[str, Any]] = []
    with torch.inference_mode():
        for name, batched, one in cases:
            batched()  # warm-up: first-call allocations and lazy loads are not throughput
            t_batch, out_batch = _timed(batched)
            t_loop, out_loop = _timed(lambda one=one: _loop(one, args.n))
            same = torch.allclose(out_batch.double(), out_loop.double(), atol=1e-4)
            rows.append({"metric": name, "images": args.n, "batched_s": round(t_batch, 3), "loop_s": round(t_loop, 3),
                         "images_per_s_batched": round(args.n / t_batch, 1), "images_per_s_loop": round(args.n / t_loop, 1),
                         "speedup": round(t_loop / t_batch, 1), "same_values": bool(same)})  # fmt: skip
            print(f"{name:24s} batched {t_batch:7.3f} s ({args.n / t_batch:8.1f} img/s)   per-image loop "
                  f"{t_loop:7.3f} s ({args.n / t_loop:7.1f} img/s)   x{t_loop / t_batch:5.1f}   same values: {same}")  # fmt: skip
    print(f"torch threads: {torch.get_num_threads()}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
