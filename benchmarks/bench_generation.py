"""Benchmark (run on demand, not a test): audit generation vs a raw batched pipeline call.

Reports, on a model (default: the tiny test pipeline, or --model PATH such as the toy
world), the wall time of
  1. the raw diffusers call generating the same images in batches (the floor),
  2. igmu-audit's cold generation through an empty cache (seeding, PNG + sidecar writes),
  3. the warm re-run (every image from the cache).

    .venv/bin/python benchmarks/bench_generation.py [--model fixtures/toyworld/original]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", help="diffusers folder (default: a tiny pipeline built here)"
    )
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    from igmu_audit import load_pipeline
    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GenerationSettings, generate

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model
        if path is None:
            from helpers.tiny_sd import save_tiny_pipeline

            path = str(save_tiny_pipeline(Path(tmp) / "tiny"))
        model = load_pipeline(path)
        pipe = model.pipeline
        pipe.set_progress_bar_config(disable=True)
        prompts = [f"a test prompt number {i}" for i in range(args.prompts)]
        seeds = list(range(args.seeds))
        settings = GenerationSettings(
            steps=args.steps, guidance_scale=5.0, batch_size=args.batch_size
        )
        pairs = [(p, s) for p in prompts for s in seeds]
        n = len(pairs)

        start = time.perf_counter()
        for i in range(0, n, args.batch_size):
            chunk = pairs[i : i + args.batch_size]
            pipe(
                prompt=[p for p, _ in chunk],
                num_inference_steps=args.steps,
                guidance_scale=5.0,
                generator=[torch.Generator("cpu").manual_seed(s) for _, s in chunk],
                output_type="np",
            )
        raw = time.perf_counter() - start

        cache = ImageCache(Path(tmp) / "cache")
        start = time.perf_counter()
        generate(model, prompts, seeds, settings=settings, cache=cache, progress=False)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        generate(model, prompts, seeds, settings=settings, cache=cache, progress=False)
        warm = time.perf_counter() - start

    print(
        f"model: {path}  images: {n} ({args.prompts} prompts x {args.seeds} seeds), {args.steps} steps, batch {args.batch_size}"
    )
    print(f"raw batched pipeline call : {raw:7.2f} s  ({n / raw:6.1f} img/s)")
    print(f"igmu-audit cold (no cache): {cold:7.2f} s  ({cold / raw:5.2f}x raw)")
    print(
        f"igmu-audit warm (cached)  : {warm:7.2f} s  ({raw / warm:5.1f}x faster than raw)"
    )


if __name__ == "__main__":
    main()
