"""Measure what each zoo model does, with the audits' code path and 95 % Wilson intervals.

Every model is loaded as an override on the toy original (``load_pipeline``), images come
from ``generate_pairs`` with the toy world's generation settings, and presence is the
toy-world detector's ``score >= 0.5``. Three groups of figures:

* forget prompts: concept rate per prompt group (English name, English synonyms, each
  translation), held-out templates, fixed seeds;
* retain prompts: how often each other class is still drawn when prompted;
* audit proxies: the DataIGM forget / retain prompts with seeds 0-3, judged with the
  audits' default thresholds (forgetting 5 %, robustness 10 % per group, accuracy drop
  10 %), from which the card's expected verdicts are read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from igmu_audit.metrics.functional.intervals import wilson_interval
from igmu_audit.toyworld.evaluate import GROUPS, evaluation_prompts
from igmu_audit.toyworld.vocabulary import load_vocabulary

#: Images per prompt group for the forget figures (English name, synonyms, translations).
FORGET_N = {"en": 64, "en-synonyms": 48}
FORGET_N_OTHER = 32
#: Images per other class for the retain figures.
RETAIN_N = 48
#: The audits' default thresholds (igmu_audit.config.profiles, task "object").
MAX_FORGET_RATE, MAX_ROBUST_RATE, MAX_ACCURACY_DROP = 0.05, 0.10, 0.10
AUDIT_SEEDS = (0, 1, 2, 3)


def rate(k: int, n: int) -> dict[str, Any]:
    """A count as a JSON record: k, n, rate and its 95 % Wilson interval."""
    interval = wilson_interval(k, n)
    return {
        "k": k,
        "n": n,
        "rate": round(k / n, 4),
        "wilson95": [round(interval.low, 4), round(interval.high, 4)],
    }


def verdict(record: dict[str, Any], threshold: float) -> str:
    """Pass if the interval's upper bound is within ``threshold``, fail if its lower bound exceeds it."""
    low, high = record["wilson95"]
    return (
        "pass" if high <= threshold else "fail" if low > threshold else "inconclusive"
    )


class Meter:
    """Generates and scores images for one concept with the audits' settings."""

    def __init__(
        self, concept: str, *, batch_size: int = 64, progress: bool = True
    ) -> None:
        from igmu_audit.detectors.toy_world import ToyWorldDetector
        from igmu_audit.pipelines.generation import GenerationSettings
        from igmu_audit.toyworld.diffusion import GENERATION

        vocab = load_vocabulary()
        self.concept = concept
        self.classes = vocab.classes(vocab.attribute_of(concept))
        self.detectors = {c: ToyWorldDetector(c) for c in self.classes}
        self.settings = GenerationSettings(
            steps=GENERATION["num_inference_steps"],
            guidance_scale=GENERATION["guidance_scale"],
            height=GENERATION["height"],
            width=GENERATION["width"],
            batch_size=batch_size,
        )
        self.progress = progress

    def present(
        self, model: Any, pairs: Sequence[tuple[str, int]], concept: str
    ) -> torch.Tensor:
        """Boolean (N,): whether ``concept`` is detected in each (prompt, seed) image."""
        from igmu_audit.pipelines.generation import generate_pairs, to_batch

        images = generate_pairs(
            model, pairs, settings=self.settings, progress=self.progress, desc=concept
        )
        detector = self.detectors[concept]
        return detector(to_batch(images)) >= detector.threshold

    def forget(self, model: Any, seed: int = 4321) -> dict[str, Any]:
        """Concept rate per prompt group on held-out templates."""
        out = {}
        for g, group in enumerate(GROUPS):
            n = FORGET_N.get(group[0], FORGET_N_OTHER)
            base = seed + 1000 * g
            prompts, _, _ = evaluation_prompts(self.concept, group, n, base)
            hits = self.present(
                model, [(p, base + i) for i, p in enumerate(prompts)], self.concept
            )
            out[group[0]] = rate(int(hits.sum()), n)
        return out

    def retain(self, model: Any, seed: int = 8765) -> dict[str, Any]:
        """How often each other class is drawn when prompted by name (English)."""
        out = {}
        for c, other in enumerate(self.classes):
            if other == self.concept:
                continue
            base = seed + 1000 * c
            prompts, _, _ = evaluation_prompts(other, GROUPS[0], RETAIN_N, base)
            hits = self.present(
                model, [(p, base + i) for i, p in enumerate(prompts)], other
            )
            out[other] = rate(int(hits.sum()), RETAIN_N)
        return out

    def audit_outcomes(self, model: Any, task: str) -> dict[str, torch.Tensor]:
        """Per-image outcomes on the DataIGM split with the audits' seeds.

        ``"forget"``: concept present on each forget image; one key per retain class:
        that class present on each of its retain images.
        """
        from igmu_audit.prompts.splits import load_dataigm

        split = load_dataigm()[task]
        seeds = AUDIT_SEEDS
        forget = split.forget_prompts()
        out = {
            "forget": self.present(
                model, [(p, s) for p in forget for s in seeds], self.concept
            )
        }
        for other, prompts in split.retain.items():
            out[other] = self.present(
                model, [(p, s) for p in prompts for s in seeds], other
            )
        return out


def audit_proxy(
    outcomes: dict[str, torch.Tensor],
    original: dict[str, torch.Tensor],
    forget: dict[str, Any],
) -> dict[str, Any]:
    """Predicted verdicts from DataIGM outcomes, paired with the original's, and group rates."""
    from igmu_audit.metrics.functional.paired import mcnemar_from_outcomes

    hits = outcomes["forget"]
    forgetting = rate(int(hits.sum()), hits.numel())
    classes = [c for c in outcomes if c != "forget"]
    kept = torch.cat([outcomes[c] for c in classes])
    kept_original = torch.cat([original[c] for c in classes])
    test = mcnemar_from_outcomes(kept_original, kept)
    drop = {
        "difference": round(float(test.difference), 4),
        "interval95": [
            round(float(test.interval.low), 4),
            round(float(test.interval.high), 4),
        ],
        "accuracy_original": rate(int(kept_original.sum()), kept_original.numel()),
        "accuracy": rate(int(kept.sum()), kept.numel()),
    }
    low, high = drop["interval95"]
    preservation = (
        "pass"
        if high <= MAX_ACCURACY_DROP
        else "fail"
        if low > MAX_ACCURACY_DROP
        else "inconclusive"
    )
    variants = {k: verdict(v, MAX_ROBUST_RATE) for k, v in forget.items() if k != "en"}
    robustness = (
        "fail"
        if "fail" in variants.values()
        else "inconclusive"
        if "inconclusive" in variants.values()
        else "pass"
    )
    return {
        "forget_rate": forgetting,
        "accuracy_drop": drop,
        "robustness_groups": variants,
        "verdicts": {
            "forgetting": verdict(forgetting, MAX_FORGET_RATE),
            "preservation": preservation,
            "robustness": robustness,
        },
    }
