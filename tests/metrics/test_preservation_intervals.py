"""Preservation intervals contain their estimate and cover (fixed seeds, cheap dims)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igmu_audit.metrics.functional.csdr import clip_score_difference_rate
from igmu_audit.metrics.functional.frechet import frechet_interval
from igmu_audit.metrics.functional.intervals import Interval, mean_estimate
from igmu_audit.metrics.functional.kid import kernel_distance
from igmu_audit.preservation import Measured


def _normal(n: int, d: int, gen: torch.Generator, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=gen, dtype=torch.float64) + shift


def test_fd_estimate_lies_in_its_interval_where_the_bootstrap_missed() -> None:
    """Issue 13 finding 3: d = 64, n = 64, one distribution (true FD 0)."""
    gen = torch.Generator().manual_seed(3)
    covered = 0
    for _ in range(10):
        fd, corrected, iv = frechet_interval(_normal(64, 64, gen), _normal(64, 64, gen))
        assert fd > 25  # the plain estimate is heavily biased here
        assert iv.low <= fd <= iv.high
        assert abs(corrected) < fd / 3  # the jackknife removes most of the bias
        covered += iv.contains(0.0)
    assert covered >= 8


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
def test_fd_interval_covers_the_population_distance(shift: float) -> None:
    gen = torch.Generator().manual_seed(int(10 * shift))
    d, n, draws = 4, 64, 200
    true = d * shift**2  # same covariance, mean moved by `shift` on every axis
    hits = 0
    for _ in range(draws):
        fd, _, iv = frechet_interval(_normal(n, d, gen), _normal(n, d, gen, shift))
        assert iv.low <= fd <= iv.high
        hits += iv.contains(true)
    assert hits / draws >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / draws)


def test_fd_groups_follow_prompts() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = _normal(40, 3, gen), _normal(40, 3, gen, 0.2)
    _, _, iv = frechet_interval(a, b, clusters=[i // 4 for i in range(40)])
    assert "10 groups by prompt" in iv.method
    _, _, one = frechet_interval(a, b, clusters=[0] * 40)
    assert "by image (1 prompt)" in one.method


def test_kid_interval_contains_its_estimate_and_covers_zero() -> None:
    gen = torch.Generator().manual_seed(5)
    covered, draws = 0, 60
    for _ in range(draws):
        kid = kernel_distance(_normal(64, 4, gen), _normal(64, 4, gen), subsets=20)
        half = 1.959964 * kid.std
        assert kid.mean - half <= kid.mean <= kid.mean + half
        covered += kid.mean - half <= 0.0 <= kid.mean + half
    assert covered / draws >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / draws)


def test_clustered_bootstrap_covers_where_the_pair_bootstrap_does_not() -> None:
    """Distances with a prompt effect: 12 prompts x 8 seeds, ICC ~0.5."""
    rng = np.random.default_rng(11)
    draws, prompts, seeds = 150, 12, 8
    ids = [i // seeds for i in range(prompts * seeds)]
    clustered = naive = 0
    for r in range(draws):
        effect = np.repeat(rng.normal(0, 1, prompts), seeds)
        values = torch.tensor(0.3 + 0.05 * (effect + rng.normal(0, 1, prompts * seeds)))
        c = mean_estimate(values, n_resamples=500, seed=r, clusters=ids)
        p = mean_estimate(values, n_resamples=500, seed=r)
        assert c.interval.low <= c.value <= c.interval.high
        clustered += c.interval.contains(0.3)
        naive += p.interval.contains(0.3)
    assert clustered / draws >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / draws)
    assert naive / draws < 0.85  # seeds treated as prompts: far too narrow
    assert "clustered by prompt (12 prompts, widened" in c.interval.method


def test_csdr_per_prompt_is_the_ratio_of_seed_means() -> None:
    orig = torch.tensor([30.0, 20.0, 25.0, 25.0])
    unl = torch.tensor([20.0, 30.0, 25.0, 20.0])
    ids = [0, 0, 1, 1]
    per_image = clip_score_difference_rate(orig, unl, prompts=ids)
    per_prompt = clip_score_difference_rate(
        orig, unl, prompts=ids, aggregation="per-prompt"
    )
    assert per_image.value == pytest.approx((1 / 3 + 1 / 2 + 0 + 1 / 5) / 4)
    assert per_prompt.value == pytest.approx((0.0 + 0.1) / 2)
    assert per_prompt.n == 2
    with pytest.raises(ValueError, match="needs `prompts`"):
        clip_score_difference_rate(orig, unl, aggregation="per-prompt")


def test_an_estimate_outside_its_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="lies outside its interval"):
        Measured("FD[x]", 32.9, Interval(48.8, 58.1, 0.95, "bootstrap"), "<=", 64, {})
