"""Benchmark (run on demand, not a test): the local backend vs Ray with 1 and 2 actors.

One run, one process, the toy world's original model at its own generation settings:
the same (prompt, seed) images are drawn by the local backend, then by a local Ray
cluster (``ray.init(num_cpus=N)``) with one actor and with two, each without a cache
so every image is generated. Each Ray figure is split into actor start-up (a fresh
process imports torch and loads the model) and generation; the images must be
bit-identical across the three (the script fails otherwise).

    .venv/bin/python benchmarks/bench_ray.py [--images 64] [--cpus 2] [--json .igmu/bench-ray.json]

Every side gets one torch thread per actor (the local backend one thread too), so the
ratios compare parallelism, not thread counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _pairs(n: int) -> list[tuple[str, int]]:
    from igmu_audit.toyworld.vocabulary import load_vocabulary

    vocab = load_vocabulary()
    prompts = [
        f"a {colour} {shape}"
        for shape in vocab.classes("shape")
        for colour in vocab.classes("colour")
    ]
    return [(prompts[i % len(prompts)], i // len(prompts)) for i in range(n)]


def _time(
    backend: Any, model: Any, pairs: list[tuple[str, int]], settings: Any
) -> tuple[float, list[Any]]:
    from igmu_audit.pipelines.generation import generate_pairs

    start = time.perf_counter()
    images = generate_pairs(
        model, pairs, settings=settings, cache=None, progress=False, backend=backend
    )
    return time.perf_counter() - start, images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="images per backend")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--cpus", type=int, default=2, help="CPUs of the local Ray cluster"
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the figures here"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["IGMU_CPU_THREADS"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import ray

    from igmu_audit.backends.local import LocalBackend
    from igmu_audit.backends.ray_backend import RayBackend
    from igmu_audit.config import load_config
    from igmu_audit.pipelines.generation import GenerationSettings, image_fields
    from igmu_audit.pipelines.loading import load_pipeline
    from igmu_audit.toyworld.diffusion import GENERATION

    model = load_pipeline("toyworld:original")
    settings = GenerationSettings(
        steps=GENERATION["num_inference_steps"], guidance_scale=GENERATION["guidance_scale"],
        height=GENERATION["height"], width=GENERATION["width"], batch_size=args.batch_size,
    )  # fmt: skip
    pairs = _pairs(args.images)
    _time(LocalBackend(), model, pairs[:1], settings)  # the same one-image warm-up
    local_s, reference = _time(LocalBackend(), model, pairs, settings)
    figures: dict[str, Any] = {
        "images": len(pairs),
        "batch_size": args.batch_size,
        "local_s": round(local_s, 2),
    }
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    try:
        for actors in (1, 2):
            config = load_config(
                ROOT, cli={"backend": "ray", "ray_actors": str(actors)}
            )
            backend = RayBackend.from_config(config)
            start = time.perf_counter()
            # Start-up: the actors start (import torch) and load the model, on one image each.
            warm = [image_fields(model, *pairs[0], settings)]
            args_ = (
                model.spec.to_dict(),
                model.torch_dtype,
                model.fingerprint,
                warm,
                settings,
                "warm-up",
            )
            ray.get([actor.generate.remote(*args_) for actor in backend.pool])
            startup_s = time.perf_counter() - start
            gen_s, images = _time(backend, model, pairs, settings)
            backend.close()
            same = all(
                np.array_equal(a.pixels, b.pixels)
                for a, b in zip(images, reference, strict=True)
            )
            if not same:
                print(
                    f"ray with {actors} actor(s) drew different images", file=sys.stderr
                )
                return 1
            figures[f"ray{actors}_startup_s"] = round(startup_s, 2)
            figures[f"ray{actors}_generate_s"] = round(gen_s, 2)
            figures[f"ray{actors}_over_local"] = round((startup_s + gen_s) / local_s, 2)
            figures[f"ray{actors}_generate_over_local"] = round(gen_s / local_s, 2)
    finally:
        ray.shutdown()
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
