"""Every attack on the real tiny pipeline: real prompts, budgets, determinism, clear errors.

Detectors here are controlled (a constant, "leak after the first call", or "the original's
exact images") so the expected status of every prompt is known; the toy-world test checks
that the attacks actually bring a concept back.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import torch

from igmu_audit import ConfigError
from igmu_audit.attacks import (
    P4D,
    Attack,
    AttackBudget,
    AttackResult,
    RandomSearch,
    RingABell,
    UnlearnDiffAtk,
)
from igmu_audit.detectors import CustomDetector
from igmu_audit.pipelines.generation import generate

PROMPTS = ["a red circle", "a blue circle"]
SEEDS = [0, 1]


def never(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(images))


def always(images: torch.Tensor) -> torch.Tensor:
    return torch.ones(len(images))


class LeakAfterPreAttack:
    """Nothing leaks in the first ``pre`` images scored (the pre-attack images); every
    image the search renders after them does. Counted in images, not calls: audits score
    one image per call."""

    def __init__(self, pre: int) -> None:
        self.pre = pre
        self.seen = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        index = torch.arange(self.seen, self.seen + len(images))
        self.seen += len(images)
        return (index >= self.pre).float()


def _digest(pixels: Any) -> str:
    return hashlib.sha256(
        (pixels * 255).round().to(torch.uint8).numpy().tobytes()
    ).hexdigest()


def known_images(model: Any, settings: Any) -> CustomDetector:
    """A detector that flags exactly ``model``'s images of PROMPTS (the original shows the concept)."""
    from igmu_audit.pipelines.generation import to_batch

    seen = {
        _digest(im)
        for im in to_batch(
            generate(model, PROMPTS, SEEDS, settings=settings, progress=False)
        )
    }
    return CustomDetector(
        lambda x: torch.tensor([float(_digest(im) in seen) for im in x]), name="known"
    )


def attacks(budget: AttackBudget) -> list[Any]:
    return [
        UnlearnDiffAtk(budget, check_every=2),
        P4D(budget, check_every=2),
        RingABell(budget, concept="circle", population=8),
        RandomSearch(budget),
        RandomSearch(budget, greedy=False),
    ]


def _run(
    attack: Any, model: Any, original: Any, settings: Any, detector: Any = never
) -> AttackResult:
    if isinstance(attack, P4D) and detector is never:
        detector = known_images(original, settings)
    return attack.run(
        model,
        PROMPTS,
        detector=detector,
        seeds=SEEDS,
        original=original,
        settings=settings,
    )


@pytest.mark.parametrize(
    "index", range(5), ids=["unlearndiffatk", "p4d", "ring-a-bell", "greedy", "random"]
)
def test_attacks_return_real_prompts_within_budget(
    index: int, tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    attack = attacks(AttackBudget(steps=3))[index]
    assert isinstance(attack, Attack)
    result = _run(attack, tiny_model, tiny_original, settings)
    tok = tiny_model.pipeline.tokenizer
    assert result.n == len(PROMPTS)
    assert (result.pre_successes, result.post_successes) == (0, 0)
    for item in result.items:
        assert item.status == "attacked"
        assert item.steps == 3
        assert item.stopped_by == "steps"
        assert len(item.scores) == len(SEEDS)
        ids = tok(item.adversarial_prompt, add_special_tokens=False).input_ids
        suffix = (
            []
            if isinstance(attack, RingABell)
            else tok(item.prompt, add_special_tokens=False).input_ids
        )
        assert ids == list(item.token_ids) + suffix, item.adversarial_prompt
        assert item.adversarial_prompt != item.prompt


def test_same_seed_same_prompts_other_seed_other_prompts(
    tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    first = _run(
        UnlearnDiffAtk(AttackBudget(steps=2), check_every=5),
        tiny_model,
        tiny_original,
        settings,
    )
    again = _run(
        UnlearnDiffAtk(AttackBudget(steps=2), check_every=5),
        tiny_model,
        tiny_original,
        settings,
    )
    other = _run(
        UnlearnDiffAtk(AttackBudget(steps=2), check_every=5, seed=7),
        tiny_model,
        tiny_original,
        settings,
    )
    assert first.adversarial_prompts == again.adversarial_prompts
    assert [i.objective for i in first.items] == [i.objective for i in again.items]
    assert first.adversarial_prompts != other.adversarial_prompts


def test_ring_a_bell_is_deterministic(tiny_model: Any, settings: Any) -> None:
    def make() -> RingABell:
        return RingABell(AttackBudget(steps=4), concept="circle", population=8)

    one = make().run(
        tiny_model, PROMPTS, detector=never, seeds=SEEDS, settings=settings
    )
    two = make().run(
        tiny_model, PROMPTS, detector=never, seeds=SEEDS, settings=settings
    )
    assert one.adversarial_prompts == two.adversarial_prompts


def test_queries_budget_counts_images(
    tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    result = _run(
        RandomSearch(AttackBudget(queries=5)), tiny_model, tiny_original, settings
    )
    for item in result.items:
        assert item.queries == 4  # two candidates x two seeds; a third would overrun 5
        assert item.stopped_by == "queries"
    ring = _run(
        RingABell(AttackBudget(queries=20), concept="circle", population=8),
        tiny_model,
        tiny_original,
        settings,
    )
    assert all(i.queries == 16 and i.stopped_by == "queries" for i in ring.items)


def test_seconds_budget_stops_the_search(
    tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    budget = AttackBudget(
        seconds=1.0
    )  # no step or query limit: only the clock can stop it
    result = _run(
        UnlearnDiffAtk(budget, check_every=1000), tiny_model, tiny_original, settings
    )
    for item in result.items:
        assert item.stopped_by == "seconds"
        assert (
            1.0 <= item.seconds < 60.0
        )  # at most one step (and the setup) past the limit


def test_search_stops_at_the_first_leak(
    tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    result = RandomSearch(AttackBudget(steps=10)).run(
        tiny_model,
        PROMPTS[:1],
        detector=LeakAfterPreAttack(len(SEEDS)),
        seeds=SEEDS,
        settings=settings,
    )
    (item,) = result.items
    assert (item.stopped_by, item.steps, item.queries, item.success) == (
        "leak",
        1,
        2,
        True,
    )
    assert (result.pre_successes, result.post_successes) == (0, 1)
    assert result.post_rate().interval.low > 0.0
    uda = _run(UnlearnDiffAtk(AttackBudget(steps=10), check_every=2), tiny_model, tiny_original, settings,
               LeakAfterPreAttack(len(PROMPTS) * len(SEEDS)))  # fmt: skip
    assert [(i.stopped_by, i.steps) for i in uda.items] == [("leak", 2), ("leak", 2)]


def test_pre_attack_successes_are_not_searched(
    tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    result = _run(
        UnlearnDiffAtk(AttackBudget(steps=5)),
        tiny_model,
        tiny_original,
        settings,
        always,
    )
    assert [i.status for i in result.items] == ["pre-attack success"] * 2
    assert all(i.steps == 0 and i.adversarial_prompt == i.prompt for i in result.items)
    assert (result.pre_successes, result.post_successes, result.n) == (2, 2, 2)
    assert result.summary() == "unlearndiffatk: pre 2/2 -> post 2/2"


def test_p4d_keeps_only_ideal_prompts(
    tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    result = P4D(AttackBudget(steps=1)).run(tiny_model, PROMPTS, detector=never, seeds=SEEDS, original=tiny_original,
                                            settings=settings)  # fmt: skip
    assert [i.status for i in result.items] == ["not ideal"] * 2
    assert result.n == 0
    with pytest.raises(
        ValueError, match=r"p4d: no prompt counted \(statuses: \['not ideal'\]\)"
    ):
        result.post_rate()


def test_vocabulary_restricts_the_tokens(
    tiny_model: Any, tiny_original: Any, settings: Any
) -> None:
    words = ["disk", "round", "ring", "cercle"]
    tok = tiny_model.pipeline.tokenizer
    allowed = {i for w in words for i in tok(w, add_special_tokens=False).input_ids}
    result = _run(
        RandomSearch(AttackBudget(steps=3), vocabulary=words),
        tiny_model,
        tiny_original,
        settings,
    )
    assert all(set(i.token_ids) <= allowed for i in result.items)
    with pytest.raises(ConfigError, match="`vocabulary` must be a list of words"):
        _run(
            RandomSearch(AttackBudget(steps=1), vocabulary="disk"),
            tiny_model,
            tiny_original,
            settings,
        )


def test_attack_images_go_through_the_cache(
    tiny_model: Any, tiny_original: Any, settings: Any, tmp_path: Any
) -> None:
    from igmu_audit.pipelines.cache import ImageCache

    cache = ImageCache(tmp_path / "cache")
    result = RandomSearch(AttackBudget(steps=2)).run(tiny_model, PROMPTS[:1], detector=never, seeds=SEEDS,
                                                     settings=settings, cache=cache)  # fmt: skip
    again = generate(
        tiny_model,
        result.adversarial_prompts,
        SEEDS,
        settings=settings,
        cache=cache,
        progress=False,
    )
    assert all(im.cached for im in again)


def test_token_rows_build_the_ids_the_tokenizer_gives(tiny_model: Any) -> None:
    from igmu_audit.attacks._tokens import (
        compose,
        ids_from_tokens,
        input_ids,
        word_token_ids,
    )

    tok = tiny_model.pipeline.tokenizer
    vocab = torch.tensor(word_token_ids(tok))
    rows = vocab[
        torch.randint(len(vocab), (6, 4), generator=torch.Generator().manual_seed(0))
    ]
    expected = input_ids(tok, [compose(tok, row.tolist()) for row in rows])
    assert torch.equal(ids_from_tokens(tok, rows), expected)
