"""Attacks refuse bad options and bad inputs clearly, before any image is generated."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from igmu_audit import ConfigError
from igmu_audit.attacks import (
    P4D,
    AttackBudget,
    RandomSearch,
    RingABell,
    UnlearnDiffAtk,
)

PROMPTS = ["a red circle", "a blue circle"]
SEEDS = [0, 1]


def never(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(images))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AttackBudget(), "at least one limit"),
        (lambda: AttackBudget(steps=0), "`steps` must be a positive integer"),
        (lambda: AttackBudget(queries=2.5), "`queries` must be a positive integer"),
        (lambda: AttackBudget(seconds=-1), "`seconds` must be a positive number"),
        (lambda: UnlearnDiffAtk(budget=40), "`budget` must be an AttackBudget"),
        (lambda: UnlearnDiffAtk(k=0), "`k` must be a positive integer"),
        (lambda: P4D(lr=0), "`lr` must be a positive number"),
        (lambda: RingABell(), "needs `concept`"),
        (
            lambda: RingABell(concept="circle", mutation=2),
            "`mutation` must be a probability",
        ),
        (lambda: RandomSearch(k=-1), "`k` must be a positive integer"),
    ],
)
def test_bad_options_are_refused(make: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompts": []}, "`prompts` is empty"),
        ({"prompts": "a red circle"}, "single string"),
        (
            {"prompts": ["a red circle", ""]},
            r"`prompts\[1\]` must be a non-empty string",
        ),
        ({"seeds": []}, "`seeds` must be a non-empty list"),
        ({"seeds": [-1]}, "non-negative integers"),
        ({"detector": None}, "`detector` is required"),
        ({"detector": 3}, "must be a Detector or a callable"),
    ],
)
def test_bad_inputs_are_refused_before_any_image(
    kwargs: dict[str, Any], message: str, tiny_model: Any
) -> None:
    args: dict[str, Any] = {
        "prompts": PROMPTS,
        "detector": never,
        "seeds": SEEDS,
        **kwargs,
    }
    with pytest.raises(ConfigError, match=message):
        UnlearnDiffAtk(AttackBudget(steps=1)).run(
            tiny_model, args.pop("prompts"), **args
        )


def test_p4d_needs_the_original(tiny_model: Any, settings: Any) -> None:
    with pytest.raises(ConfigError, match="p4d needs `original`"):
        P4D(AttackBudget(steps=1)).run(
            tiny_model, PROMPTS, detector=never, seeds=SEEDS, settings=settings
        )


def test_ring_a_bell_needs_prompts_with_the_concept(tiny_model: Any) -> None:
    with pytest.raises(ConfigError, match="no prompt contains the concept words"):
        RingABell(AttackBudget(steps=1), concept="hexagon").run(
            tiny_model, PROMPTS, detector=never, seeds=SEEDS
        )
