"""Measure what each zoo model does, with the audits' code path and 95 % Wilson intervals.

Every model is loaded as an override on the toy original (``load_pipeline``), images come
from ``generate_pairs`` with the toy world's generation settings, and presence is the
toy-world detector's ``score >= 0.5``. Three groups of figures:

* forget prompt groups: concept rate per group (English name, English synonyms, each
  translation), held-out templates where the language has one naming the attribute, fixed
  seeds;
* the audits' prompts: the DataIGM forget prompts and retain prompts (one
  list per other class) with seeds 0-2, as a spec with ``seeds: 0-2`` generates them;
* detector-only proxies: those counts judged with the thresholds the zoo's audit specs use
  (``task: style``: forgetting 10 %, robustness 20 % per group, accuracy drop 10 %). They
  explain the real audit verdicts (``ZooModel.expected``) but are not them: the audits also
  screen ineffective prompts, score CLIP alignment (CSDR) and the depicted shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from igmu_audit.config.profiles import BY_TASK, GLOBAL
from igmu_audit.metrics.functional.intervals import wilson_interval
from igmu_audit.toyworld.evaluate import GROUPS
from igmu_audit.toyworld.unlearn._common import concept_prompts
from igmu_audit.toyworld.vocabulary import load_vocabulary

#: Images per prompt group for the forget figures (English name, synonyms, translations).
FORGET_N = {"en": 24, "en-synonyms": 24}
FORGET_N_OTHER = 16
#: The zoo's audit specs say ``task: style``; the proxies use that task's built-in thresholds.
AUDIT_TASK = "style"
MAX_FORGET_RATE = BY_TASK[AUDIT_TASK]["forgotten"]["max_rate"]
MAX_ROBUST_RATE = BY_TASK[AUDIT_TASK]["robust_to"]["max_rate"]
MAX_ACCURACY_DROP = GLOBAL["preserved"]["max_accuracy_drop"]
AUDIT_SEEDS = (0, 1, 2)


def rate(k: int, n: int, hits: torch.Tensor | None = None) -> dict[str, Any]:
    """A count as a JSON record: k, n, rate, its 95 % Wilson interval (and per-image hits).

    ``hits`` is kept as a "0"/"1" string in image order, so a test can regenerate the first
    images and compare them one by one with the card.
    """
    interval = wilson_interval(k, n)
    extra = (
        {}
        if hits is None
        else {"hits": "".join("1" if h else "0" for h in hits.tolist())}
    )
    return {
        **extra,
        "k": k,
        "n": n,
        "rate": round(k / n, 4),
        "wilson95": [round(interval.low, 4), round(interval.high, 4)],
    }


def verdict(
    record: dict[str, Any], threshold: float, interval: str = "wilson95"
) -> str:
    """Pass if the interval's upper bound is within ``threshold``, fail if its lower bound exceeds it."""
    low, high = record[interval]
    return (
        "pass" if high <= threshold else "fail" if low > threshold else "inconclusive"
    )


class Meter:
    """Generates and scores images for one concept with the audits' settings."""

    def __init__(
        self,
        concept: str,
        *,
        batch_size: int = 64,
        progress: bool = True,
        classifier: Path | None = None,
    ) -> None:
        from igmu_audit.pipelines.generation import GenerationSettings
        from igmu_audit.toyworld.detector import ToyWorldDetector
        from igmu_audit.toyworld.diffusion import GENERATION

        vocab = load_vocabulary()
        self.concept = concept
        self.classes = vocab.classes(vocab.attribute_of(concept))
        self.detectors = {
            c: ToyWorldDetector(c, weights=classifier) for c in self.classes
        }
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

    def forget(
        self,
        model: Any,
        *,
        n: int | None = None,
        groups: Sequence[str] | None = None,
        seed: int = 4321,
    ) -> dict[str, Any]:
        """Concept rate per prompt group on held-out templates.

        ``n`` (default: ``FORGET_N`` / ``FORGET_N_OTHER``) takes the first ``n`` images of
        each group: the same prompts and seeds as the full figure's first ``n``.
        """
        out = {}
        for g, (name, language, words) in enumerate(GROUPS):
            if groups is not None and name not in groups:
                continue
            size = n or FORGET_N.get(name, FORGET_N_OTHER)
            base = seed + 1000 * g
            prompts = self.prompts(language, words, size, base)
            pairs = [(p, base + i) for i, p in enumerate(prompts)]
            hits = self.present(model, pairs, self.concept)
            out[name] = rate(int(hits.sum()), size, hits)
        return out

    def prompts(self, language: str, words: str, n: int, seed: int) -> list[str]:
        """Held-out-template prompts naming the concept (train templates where no held-out
        template of ``language`` names the concept's attribute, e.g. French textures)."""
        vocab = load_vocabulary()
        marker = "{" + vocab.attribute_of(self.concept) + "}"
        held_out = any(marker in t for t in vocab.templates[language]["test"])
        split = "test" if held_out else "train"
        return concept_prompts(
            self.concept, n, seed=seed, languages=(language,), words=words, split=split
        )

    def audit_outcomes(
        self, model: Any, task: str, limit: int | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-image outcomes on the DataIGM split with the audits' seeds (prompt-major).

        ``"forget"``: concept present on each forget image; one key per retain class:
        that class present on each of its retain images. ``limit`` keeps the first images.
        """
        from igmu_audit.prompts.splits import load_dataigm

        split = load_dataigm()[task]
        lists: dict[str, tuple[str, Sequence[str]]] = {
            "forget": (self.concept, split.forget_prompts())
        }
        lists.update({c: (c, prompts) for c, prompts in split.retain.items()})
        out = {}
        for key, (concept, prompts) in lists.items():
            pairs = [(p, s) for p in prompts for s in AUDIT_SEEDS][:limit]
            out[key] = self.present(model, pairs, concept)
        return out


def clustered_forget_rate(
    hits: torch.Tensor, original: torch.Tensor, seeds: int = len(AUDIT_SEEDS)
) -> dict[str, Any]:
    """The forget rate as ``assert_forgotten`` judges it: prompts as clusters, vacuity filter.

    A prompt counts when the original or the model shows the concept on any seed
    (docs/statistics.md, "Vacuity filter"); the interval is the clustered Clopper-Pearson
    one the audit uses, so the proxy verdict and the audit's agree on the same images.
    """
    from igmu_audit.metrics.functional.clustered import rate_interval

    model, base = hits.view(-1, seeds), original.view(-1, seeds)
    counted = model.any(dim=1) | base.any(dim=1)
    per_prompt = model[counted].sum(dim=1).tolist()
    k, n = int(sum(per_prompt)), int(counted.sum()) * seeds
    if n == 0:
        return {"k": 0, "n": 0, "prompts": 0, "rate": 0.0, "clustered95": [0.0, 1.0]}
    interval, _ = rate_interval(per_prompt, [seeds] * len(per_prompt))
    return {
        "k": k,
        "n": n,
        "prompts": len(per_prompt),
        "rate": round(k / n, 4),
        "clustered95": [round(interval.low, 4), round(interval.high, 4)],
        "n_effective": round(float(interval.n_effective or 0.0), 1),
    }


def audit_proxy(
    outcomes: dict[str, torch.Tensor],
    original: dict[str, torch.Tensor],
    forget: dict[str, Any],
) -> dict[str, Any]:
    """Predicted verdicts from DataIGM outcomes, paired with the original's, and group rates."""
    from igmu_audit.metrics.functional.paired import mcnemar_from_outcomes

    counts = {k: rate(int(v.sum()), v.numel(), v) for k, v in outcomes.items()}
    forgetting = clustered_forget_rate(outcomes["forget"], original["forget"])
    classes = [c for c in outcomes if c != "forget"]
    kept = torch.cat([outcomes[c] for c in classes])
    kept_original = torch.cat([original[c] for c in classes])
    test = mcnemar_from_outcomes(kept_original, kept)
    drop: dict[str, Any] = {
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
        "counts": counts,
        "forget_rate": forgetting,
        "accuracy_drop": drop,
        "robustness_groups": variants,
        "verdicts": {
            "forgetting": verdict(forgetting, MAX_FORGET_RATE, "clustered95"),
            "preservation": preservation,
            "robustness": robustness,
        },
    }
