"""Train the whole toy world from scratch: ``python -m igmu_audit.toyworld.train``.

Stages, each seeded and saved before the next starts (``--resume`` skips finished ones):
data -> classifier -> toy CLIP -> VAE -> UNet (frozen CLIP text tower) -> joint UNet +
text-encoder fine-tune (``--joint-steps``; 0 skips it) -> fp16 pipeline -> evaluation -> card.
Nothing in the project trains at run time; this command produced ``fixtures/toyworld``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from igmu_audit._paths import fixtures_dir
from igmu_audit.pipelines.tokenizer import build_clip_tokenizer
from igmu_audit.toyworld import classifier as cls
from igmu_audit.toyworld import clip as toyclip
from igmu_audit.toyworld import diffusion
from igmu_audit.toyworld.data import sample_dataset, to_tensor


@dataclass(frozen=True)
class Budget:
    """Sizes and step counts of one training run."""

    train_images: int = 20000
    classifier_steps: int = 800
    clip_steps: int = 800
    clip_batch: int = 128
    vae_steps: int = 1200
    unet_steps: int = 2000
    unet_batch: int = 64
    joint_steps: int = 1600
    joint_text_lr: float = 1e-4
    joint_unnamed_default_rate: float = 0.7
    joint_fewest_rate: float = 0.35
    joint_fillers: bool = True


QUICK = Budget(
    train_images=256,
    classifier_steps=3,
    clip_steps=3,
    clip_batch=32,
    vae_steps=3,
    unet_steps=3,
    unet_batch=8,
    joint_steps=3,
)


def _bar(name: str, total: int) -> tuple[tqdm[Any], Callable[[int, float], None]]:
    bar = tqdm(total=total, desc=name, mininterval=5.0, dynamic_ncols=False)

    def progress(step: int, loss: float) -> None:
        bar.update(1)
        if step % 25 == 0:
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    return bar, progress


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _timed(
    record: dict[str, Any],
    path: Path,
    name: str,
    total: int,
    work: Callable[[Callable[[int, float], None]], Any],
) -> Any:
    # Times one stage and saves the record at once, so --resume keeps earlier timings.
    bar, progress = _bar(name, total)
    start = time.perf_counter()
    result = work(progress)
    bar.close()
    record["timings_s"][name] = round(time.perf_counter() - start, 1)
    _write_json(path, record)
    return result


def train_all(
    out: Path, budget: Budget, *, seed: int = 0, resume: bool = False
) -> dict[str, Any]:
    """Run every stage into ``out`` and return the run record (timings, budget, seed)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    out.mkdir(parents=True, exist_ok=True)
    path = out / "training.json"
    fresh: dict[str, Any] = {"timings_s": {}}
    record = json.loads(path.read_text()) if resume and path.exists() else fresh
    record.update(seed=seed, budget=asdict(budget), threads=torch.get_num_threads())
    timings: dict[str, float] = record["timings_s"]

    start = time.perf_counter()
    data = sample_dataset(budget.train_images, seed, "train")
    images, labels = to_tensor(data.images), data.labels
    timings["data"] = round(time.perf_counter() - start, 1)

    def todo(folder: Path) -> bool:
        return not (resume and folder.exists())

    if todo(out / "classifier"):
        model = _timed(
            record, path, "classifier", budget.classifier_steps,
            lambda p: cls.train_classifier(
                images, cls.labels_tensor(labels), steps=budget.classifier_steps,
                seed=seed, progress=p,
            ),
        )  # fmt: skip
        cls.save_classifier(model, out / "classifier")

    text_dir = out / "text_encoder_fp32"
    if todo(text_dir) or todo(out / "clip"):
        clip = _timed(
            record, path, "clip", budget.clip_steps,
            lambda p: toyclip.train_clip(
                images, labels, steps=budget.clip_steps, batch_size=budget.clip_batch,
                seed=seed, progress=p,
            ),
        )  # fmt: skip
        toyclip.save_clip(clip, out / "clip")
        diffusion.text_encoder_from_clip(clip).save_pretrained(text_dir)
    text_encoder = CLIPTextModel.from_pretrained(text_dir, dtype=torch.float32)

    vae_dir = out / "vae_fp32"
    if todo(vae_dir):
        vae = _timed(
            record, path, "vae", budget.vae_steps,
            lambda p: diffusion.train_vae(
                images, steps=budget.vae_steps, seed=seed, progress=p
            ),
        )  # fmt: skip
        vae.save_pretrained(vae_dir)
    vae = AutoencoderKL.from_pretrained(vae_dir, torch_dtype=torch.float32)

    tokenizer = build_clip_tokenizer()
    unet_dir = out / "unet_fp32"
    if todo(unet_dir):
        unet, _ = _timed(
            record, path, "unet", budget.unet_steps,
            lambda p: diffusion.train_unet(
                vae, text_encoder, tokenizer, images, labels,
                diffusion.UNetSchedule(budget.unet_steps, budget.unet_batch, seed),
                progress=p,
            ),
        )  # fmt: skip
        unet.save_pretrained(unet_dir)
    unet = UNet2DConditionModel.from_pretrained(unet_dir, torch_dtype=torch.float32)

    joint_dir = out / "joint_fp32"
    if budget.joint_steps and todo(joint_dir):
        unet, text_encoder = _timed(
            record, path, "joint", budget.joint_steps,
            lambda p: diffusion.train_unet(
                vae, text_encoder, tokenizer, images, labels,
                diffusion.UNetSchedule(
                    budget.joint_steps, budget.unet_batch, seed, lr=2e-4,
                    text_lr=budget.joint_text_lr,
                    unnamed_default_rate=budget.joint_unnamed_default_rate,
                    fewest_rate=budget.joint_fewest_rate,
                    fillers=budget.joint_fillers,
                ),
                unet=unet, progress=p,
            ),
        )  # fmt: skip
        unet.save_pretrained(joint_dir / "unet")
        text_encoder.save_pretrained(joint_dir / "text_encoder")
    if budget.joint_steps:
        unet = UNet2DConditionModel.from_pretrained(joint_dir / "unet")
        text_encoder = CLIPTextModel.from_pretrained(
            joint_dir / "text_encoder", dtype=torch.float32
        )

    pipe = diffusion.assemble_pipeline(vae, unet, text_encoder, tokenizer)
    pipe.to(dtype=torch.float16).save_pretrained(out / "original")
    _load_as_fp32(out / "original" / "text_encoder" / "config.json")
    settings = json.dumps(diffusion.GENERATION, indent=2) + "\n"
    (out / "generation.json").write_text(settings, encoding="utf-8")
    stages = ("data", "classifier", "clip", "vae", "unet", "joint")
    timings["total_training"] = round(sum(timings.get(k, 0.0) for k in stages), 1)
    _write_json(path, record)
    return record


def _load_as_fp32(config_path: Path) -> None:
    # transformers 5 loads weights in their stored dtype unless the config names one;
    # diffusers upcasts to fp32, so an fp16 text encoder would clash with the UNet.
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    config_path.write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


#: What ``--install`` copies into ``fixtures/toyworld`` (the fp32 work copies stay behind).
SHIPPED = (
    "original",
    "clip",
    "classifier",
    "generation.json",
    "training.json",
    "evaluation.json",
    "MODEL_CARD.md",
)


def install(out: Path, target: Path | None = None) -> Path:
    """Copy the shipped artefacts from a run folder into ``fixtures/toyworld``."""
    target = target or fixtures_dir() / "toyworld"
    for name in SHIPPED:
        source, dest = out / name, target / name
        if not source.exists():
            continue
        if source.is_dir():
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(source, dest)
        else:
            shutil.copy2(source, dest)
    return target


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("toyworld-run"),
        help="work folder (default: ./toyworld-run)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="a few steps per stage (smoke test)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="skip stages already saved in --out"
    )
    parser.add_argument(
        "--skip-eval",
        action="store_true",
        help="do not measure or write the model card",
    )
    parser.add_argument(
        "--eval-only", action="store_true", help="measure an existing --out folder"
    )
    parser.add_argument(
        "--install", action="store_true", help="copy the results into fixtures/toyworld"
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="torch CPU threads (default 2)"
    )
    parser.add_argument(
        "--joint-steps",
        type=int,
        default=Budget.joint_steps,
        help=f"stage 2: fine-tune UNet and text encoder together (default {Budget.joint_steps}; 0: off)",
    )
    parser.add_argument(
        "--eval-per-shape", type=int, default=96, help="English images per shape"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    budget = QUICK if args.quick else Budget(joint_steps=args.joint_steps)
    if not args.eval_only:
        record = train_all(args.out, budget, seed=args.seed, resume=args.resume)
        print(json.dumps(record["timings_s"]))
    if not args.skip_eval:
        from igmu_audit.toyworld.evaluate import evaluate_run

        evaluate_run(args.out, quick=args.quick, per_shape=args.eval_per_shape)
    if args.install:
        print(f"installed into {install(args.out)}")


if __name__ == "__main__":
    main()
