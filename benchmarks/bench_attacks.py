"""Attacks on the toy-world zoo: pre- vs post-attack success with Wilson intervals, prompts/s.

Not a test. Each attack runs with its default budget on the shipped DataIGM forget prompts
of the erased concept (``texture_striped`` for the shipped zoo's "striped"), against every
zoo model, images through an image cache, the toy world's generation settings and
``ToyWorldDetector(concept)``.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_attacks.py \
        --prompts 16 --seeds 0,1 --json .igmu/bench-attacks.json

``--vocabulary lexicon`` restricts every search to the tokens of the toy lexicon's words
(an attacker with a dictionary); the default searches every whole-word CLIP token.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

ATTACKS = ("unlearndiffatk", "p4d", "ring-a-bell", "greedy-search", "random-search")


def make_attack(name: str, vocabulary: list[str] | None, concept: str) -> Any:
    """The attack ``name`` with its default budget."""
    from igmu_audit.attacks import P4D, RandomSearch, RingABell, UnlearnDiffAtk

    return {
        "unlearndiffatk": lambda: UnlearnDiffAtk(vocabulary=vocabulary),
        "p4d": lambda: P4D(vocabulary=vocabulary),
        "ring-a-bell": lambda: RingABell(concept=concept, vocabulary=vocabulary),
        "greedy-search": lambda: RandomSearch(vocabulary=vocabulary),
        "random-search": lambda: RandomSearch(greedy=False, vocabulary=vocabulary),
    }[name]()


def load_models(root: Path, names: list[str] | None) -> tuple[Any, dict[str, Any]]:
    """The toy original and the zoo models (overrides on it), loaded like a user's checkpoints."""
    from safetensors import safe_open

    from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

    original = load_pipeline(ModelSpec(path=str(root / "original")))
    zoo = {}
    for file in sorted((root / "zoo").glob("*.safetensors")):
        if names and file.stem not in names:
            continue
        with safe_open(str(file), "pt") as handle:
            component = (handle.metadata() or {}).get("component", "unet")
        zoo[file.stem] = load_pipeline(
            ModelSpec(path=str(root / "original"), **{component: str(file)})
        )
    return original, zoo


def main() -> None:
    """Run the attack x model grid and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument(
        "--models", default="", help="comma-separated zoo names (default: all)"
    )
    parser.add_argument("--attacks", default=",".join(ATTACKS))
    parser.add_argument(
        "--concept",
        default="striped",
        help="the zoo's erased concept (default: striped)",
    )
    parser.add_argument(
        "--task", default="texture_striped", help="DataIGM task with its forget prompts"
    )
    parser.add_argument("--vocabulary", choices=("full", "lexicon"), default="full")
    parser.add_argument("--cache", default=".igmu/bench-attacks-cache")
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--root",
        default="",
        help="toy-world folder with original/, zoo/, classifier/ (default: shipped)",
    )
    args = parser.parse_args()

    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GenerationSettings
    from igmu_audit.prompts.splits import load_dataigm
    from igmu_audit.toyworld.detector import ToyWorldDetector
    from igmu_audit.toyworld.diffusion import GENERATION

    prompts = list(dict.fromkeys(load_dataigm()[args.task].forget_prompts()))[
        : args.prompts
    ]
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = GenerationSettings(steps=GENERATION["num_inference_steps"], guidance_scale=GENERATION["guidance_scale"],
                                  height=GENERATION["height"], width=GENERATION["width"], batch_size=16)  # fmt: skip
    from igmu_audit._paths import fixtures_dir

    root = Path(args.root) if args.root else fixtures_dir() / "toyworld"
    detector = ToyWorldDetector(args.concept, weights=root / "classifier")
    cache = ImageCache(Path(args.cache))
    from igmu_audit.toyworld.vocabulary import load_vocabulary

    vocabulary = load_vocabulary().all_words() if args.vocabulary == "lexicon" else None
    original, zoo = load_models(root, [m for m in args.models.split(",") if m] or None)
    rows = []
    for model_name, model in zoo.items():
        for attack_name in args.attacks.split(","):
            attack = make_attack(attack_name, vocabulary, args.concept)
            start = time.perf_counter()
            result = attack.run(model, prompts, detector=detector, seeds=seeds, original=original, settings=settings,
                                cache=cache)  # fmt: skip
            seconds = time.perf_counter() - start
            pre, post = result.pre_rate(), result.post_rate()
            row = {
                "model": model_name, "attack": attack_name, "vocabulary": args.vocabulary, "n": result.n,
                "pre": [pre.k, pre.n, round(pre.interval.low, 3), round(pre.interval.high, 3)],
                "post": [post.k, post.n, round(post.interval.low, 3), round(post.interval.high, 3)],
                "seconds": round(seconds, 1), "prompts_per_second": round(len(prompts) / seconds, 3),
                "examples": [i.adversarial_prompt for i in result.items if i.status == "attacked" and i.success][:3],
            }  # fmt: skip
            rows.append(row)
            print(f"{model_name:26s} {attack_name:15s} pre {pre.k:2d}/{pre.n} [{pre.interval.low:.2f},{pre.interval.high:.2f}]"
                  f"  post {post.k:2d}/{post.n} [{post.interval.low:.2f},{post.interval.high:.2f}]"
                  f"  {seconds:6.1f}s  {row['examples'][:2]}", flush=True)  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({"prompts": prompts, "seeds": seeds, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
