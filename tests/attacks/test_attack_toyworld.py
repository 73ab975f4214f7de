"""Attacks against the toy-world zoo: the concept comes back (skipped until the zoo is shipped).

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

#: The best pair measured (README): model file stem, override component, attack factory name.
BEST = ("token-edit-circle", "text_encoder", "greedy-search")
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
    from igmu_audit.attacks import P4D, RandomSearch, RingABell, UnlearnDiffAtk
    from igmu_audit.detectors.toy_world import ToyWorldDetector
    from igmu_audit.pipelines.cache import ImageCache
    from igmu_audit.pipelines.generation import GenerationSettings
    from igmu_audit.toyworld.diffusion import GENERATION
    from igmu_audit.toyworld.evaluate import GROUPS, evaluation_prompts

    stem, component, attack_name = BEST
    original, model = _load(stem, component)
    drawn, _, _ = evaluation_prompts("circle", GROUPS[0], 4 * PROMPTS, 2468)
    prompts = list(dict.fromkeys(drawn))[:PROMPTS]
    settings = GenerationSettings(steps=GENERATION["num_inference_steps"], guidance_scale=GENERATION["guidance_scale"],
                                  height=GENERATION["height"], width=GENERATION["width"], batch_size=16)  # fmt: skip
    attack = {
        "unlearndiffatk": UnlearnDiffAtk, "p4d": P4D, "greedy-search": RandomSearch,
        "ring-a-bell": lambda: RingABell(concept="circle"), "random-search": lambda: RandomSearch(greedy=False),
    }[attack_name]()  # fmt: skip
    result = attack.run(model, prompts, detector=ToyWorldDetector("circle", weights=ROOT / "classifier"), seeds=SEEDS, original=original,
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
