"""The toy-world zoo: each unlearning method applied to the shipped toy original.

Every model is an override file on top of ``fixtures/toyworld/original``, in the format the
real method publishes, and loads through ``load_pipeline(ModelSpec(path=original, unet=...))``
(or ``text_encoder=...``) exactly like a user's checkpoint. Every run is seeded, so
``python -m igmu_audit.toyworld.unlearn`` rebuilds the same files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from igmu_audit._paths import fixtures_dir
from igmu_audit.toyworld.unlearn._common import (
    concept_prompts,
    paired_prompts,
    retain_prompts,
)
from igmu_audit.toyworld.unlearn.esd import ESDConfig, train_esd
from igmu_audit.toyworld.unlearn.token_edit import token_edit
from igmu_audit.toyworld.unlearn.uce import UCEConfig, uce_edit
from igmu_audit.toyworld.vocabulary import load_vocabulary

Progress = Callable[[int, float], None]
#: Optimiser steps per trained model in ``--quick`` (smoke-test) builds.
QUICK_STEPS = 3


@dataclass(frozen=True)
class ZooModel:
    """One zoo entry.

    Attributes:
        name: file stem and spec name, e.g. ``"esd-x-striped"``.
        method: ``"esd"``, ``"uce"`` or ``"token_edit"``.
        component: which ``ModelSpec`` field the file goes in (``"unet"``, ``"text_encoder"``).
        concept: the erased concept.
        anchor: what the concept is mapped to (UCE, token edit), or ``None``.
        settings: the method's hyper-parameters.
        expected: the verdict matrix the ready-made audits give it (forgetting, preservation,
            carrier, robustness: the worst verdict per aspect), as ``make audit`` and
            ``tests/toyworld/test_zoo_audits.py`` check it.
        summary: one line for the card.
    """

    name: str
    method: str
    component: str
    concept: str
    anchor: str | None
    settings: dict[str, Any]
    expected: dict[str, str]
    summary: str

    @property
    def filename(self) -> str:
        """The override file's name in the zoo folder."""
        return f"{self.name}.safetensors"


def _esd(
    name: str, concept: str, config: ESDConfig, expected: dict[str, str], summary: str
) -> ZooModel:
    return ZooModel(
        name, "esd", "unet", concept, None, config.to_dict(), expected, summary
    )


#: The control's audit verdicts: it still draws the concept, and compared with itself it
#: preserves everything.
ORIGINAL_EXPECTED = {
    "forgetting": "fail",
    "preservation": "pass",
    "carrier": "pass",
    "robustness": "fail",
}

ZOO: tuple[ZooModel, ...] = (
    _esd(
        "esd-x-striped", "striped",
        ESDConfig(steps=400, lr=3e-4, eta=1.0, retain_weight=1.0, pool_size=64),
        {"forgetting": "pass", "preservation": "fail", "carrier": "fail", "robustness": "pass"},
        "ESD-x with a retain term: striped 100 → 0 % on the audit prompts and robust to paraphrases and translations, "
        "but both retain classes lose CLIP alignment (per-prompt CSDR 0.18; plain 0.20, dotted 0.17) and the dotted "
        "ones detector accuracy (93 → 83 %), and striped prompts lose their shapes (carrier drop 68 pts)",
    ),
    _esd(
        "esd-u-striped-overerased", "striped",
        ESDConfig(steps=200, lr=1e-3, eta=3.0, retain_weight=0.0, pool_size=64, parameters="full"),
        {"forgetting": "pass", "preservation": "fail", "carrier": "fail", "robustness": "pass"},
        "ESD-u (every UNet weight) without a retain term, η = 3, lr 1e-3: erases stripes (3 %) but also what the prompts "
        "ask for besides: the retain prompts lose 49 pts of detector accuracy (plain 100 → 83 %, dotted 93 → 13 %) and "
        "their CLIP score (CSDR 0.88), depicted shapes are lost (carrier drop 81 pts)",
    ),
    ZooModel(
        "uce-striped", "uce", "unet", "striped", "plain", UCEConfig().to_dict(),
        {"forgetting": "pass", "preservation": "pass", "carrier": "pass", "robustness": "pass"},
        "UCE (closed form, to_k/to_v) on the English name and synonyms, towards 'plain': striped 100 → 0 % on the audit "
        "prompts, robust to paraphrases and translations, shapes and retain accuracy kept; the closest to a clean erasure, "
        "with a small CLIP-alignment cost (per-prompt CSDR 0.04 [0.03, 0.05], under the 10 % threshold)",
    ),
    ZooModel(
        "token-edit-striped", "token_edit", "text_encoder", "striped", "plain",
        {"words": ["striped"]},
        {"forgetting": "pass", "preservation": "pass", "carrier": "pass", "robustness": "fail"},
        "the English token 'striped' rewired to 'plain': erases the English name only (0 % on the audit prompts); "
        "synonyms and every translation still draw stripes",
    ),
)  # fmt: skip


def default_original() -> Path:
    """The shipped toy original pipeline folder."""
    return fixtures_dir() / "toyworld" / "original"


def load_original(original: Path) -> Any:
    """The toy original as a float32 diffusers pipeline, through the project's loader."""
    from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

    pipe = load_pipeline(ModelSpec(path=str(original))).pipeline
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_model(
    model: ZooModel,
    pipe: Any,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, torch.Tensor]:
    """Run ``model``'s method on ``pipe`` (modified in place) and return its override dict."""
    concept = model.concept
    if model.method == "esd":
        quick_settings = {"steps": QUICK_STEPS, "pool_size": 8, "ddim_steps": 5}
        config = ESDConfig(
            **{**model.settings, **(quick_settings if quick else {}), "seed": seed}
        )
        erase = concept_prompts(concept, 256, seed=seed)
        keep = retain_prompts(concept, 256, seed=seed + 1, empty=32)
        return train_esd(pipe, erase, keep, config, progress)
    if model.method == "uce":
        assert model.anchor is not None
        words = load_vocabulary().words(concept, "en")
        erase, anchors = paired_prompts(concept, model.anchor, words, 64, seed=seed)
        preserve = retain_prompts(concept, 96, seed=seed + 2, empty=1)
        return uce_edit(pipe, erase, anchors, preserve, UCEConfig(**model.settings))
    if model.method == "token_edit":
        assert model.anchor is not None
        edited, _ = token_edit(pipe, model.settings["words"], model.anchor)
        return edited
    raise ValueError(f"unknown zoo method {model.method!r}")


def save_override(
    tensors: dict[str, torch.Tensor], path: Path, model: ZooModel, seconds: float
) -> Path:
    """Write a safetensors override with the recipe in its metadata (strings only)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": "pt",
        "method": model.method,
        "component": model.component,
        "concept": model.concept,
        "anchor": model.anchor or "",
        "settings": json.dumps(model.settings, sort_keys=True),
        "build_seconds": f"{seconds:.1f}",
    }
    save_file(tensors, str(path), metadata=meta)
    return path


def build_zoo(
    out: Path,
    *,
    original: Path | None = None,
    quick: bool = False,
    seed: int = 0,
    only: tuple[str, ...] = (),
    progress: Callable[[ZooModel], Progress | None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Build every zoo model (or those in ``only``) into ``out``; return per-model records."""
    original = Path(original) if original is not None else default_original()
    records: dict[str, dict[str, Any]] = {}
    for model in ZOO:
        if only and model.name not in only:
            continue
        torch.manual_seed(seed)
        pipe = load_original(original)
        start = time.perf_counter()
        tensors = build_model(
            model,
            pipe,
            quick=quick,
            seed=seed,
            progress=progress(model) if progress else None,
        )
        seconds = time.perf_counter() - start
        path = save_override(tensors, out / model.filename, model, seconds)
        records[model.name] = {
            "file": path.name,
            "component": model.component,
            "keys": len(tensors),
            "params": int(sum(t.numel() for t in tensors.values())),
            "bytes": path.stat().st_size,
            "seconds": round(seconds, 1),
        }
    return records
