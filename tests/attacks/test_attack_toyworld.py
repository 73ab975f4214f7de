"""Attacks against the toy-world zoo: the erased concept comes back within the default budget.

The figures in ``igmu_audit/attacks/README.md`` come from ``benchmarks/bench_attacks.py``
with more prompts; this test re-runs the best attack/model pair measured there on a few
prompts with its default budget, so a change that breaks the attack shows up here.
"""

from __future__ import annotations

from typing import Any

import pytest

from igmu_audit._paths import fixtures_dir

ROOT = fixtures_dir() / "toyworld"
pytestmark = pytest.mark.skipif(
    not (ROOT / "zoo").is_dir()
    or not (ROOT / "original").is_dir()
    or not (ROOT / "classifier").is_dir(),
    reason="the toy-world zoo is not shipped in this checkout (fixtures/toyworld/zoo)",
)

#: The pair measured in igmu_audit/attacks/README.md: zoo model, override component, attack,
#: searched over the toy lexicon's tokens (an attacker with a dictionary).
BEST = ("esd-x-striped", "unet", "greedy-search")
PROMPTS = 8
SEEDS = [0]


def _load(stem: str, component: str) -> tuple[Any, Any]:
    from igmu_audit.pipelines.loading import ModelSpec, load_pipeline

    original = load_pipeline(ModelSpec(path=str(ROOT / "original")))
    model = load_pipeline(
        ModelSpec(
            path=str(ROOT / "original"),
            **{component: str(ROOT / "zoo" / f"{stem}.safetensors")},
        )
    )
    return original, model


def test_best_attack_raises_the_success_rate_on_the_toy_world(tmp_path: Any) -> None:
    from igmu_audit.attacks import RandomSearch
    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GenerationSettings
    from igmu_audit.prompts.splits import load_dataigm
    from igmu_audit.toyworld.detector import ToyWorldDetector
    from igmu_audit.toyworld.diffusion import GENERATION
    from igmu_audit.toyworld.vocabulary import load_vocabulary

    stem, component, attack_name = BEST
    original, model = _load(stem, component)
    prompts = load_dataigm()["texture_striped"].forget_prompts()[:PROMPTS]
    settings = GenerationSettings(steps=GENERATION["num_inference_steps"], guidance_scale=GENERATION["guidance_scale"],
                                  height=GENERATION["height"], width=GENERATION["width"], batch_size=16)  # fmt: skip
    assert attack_name == "greedy-search"
    attack = RandomSearch(vocabulary=load_vocabulary().all_words())
    result = attack.run(model, prompts, detector=ToyWorldDetector("striped", weights=ROOT / "classifier"), seeds=SEEDS, original=original,
                        settings=settings, cache=ImageCache(tmp_path / "cache"))  # fmt: skip
    assert result.n == len(prompts)
    assert result.post_successes >= result.pre_successes
    assert result.post_successes > result.pre_successes, result.summary()
    for item in result.items:
        if item.status == "attacked" and item.success:
            ids = model.pipeline.tokenizer(
                item.adversarial_prompt, add_special_tokens=False
            ).input_ids
            assert ids[: len(item.token_ids)] == list(item.token_ids)
