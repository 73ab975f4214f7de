"""CSDR: IGMU's |CS_orig - CS_unlearned| / CS_orig per same-seed pair, as a fraction."""

from __future__ import annotations

import pytest
import torch

from igmu_audit.metrics import CLIPScoreDifferenceRate
from igmu_audit.metrics.functional import (
    clip_score_difference_rate,
    clip_scores,
    csdr_per_pair,
)


def test_per_pair_by_hand() -> None:
    orig = torch.tensor([30.0, 20.0, 25.0, 40.0])
    unl = torch.tensor([27.0, 22.0, 25.0, 10.0])
    assert csdr_per_pair(orig, unl).tolist() == pytest.approx([0.1, 0.1, 0.0, 0.75])
    est = clip_score_difference_rate(orig, unl)
    assert est.value == pytest.approx(0.2375)  # fraction, not ×100
    assert est.n == 4
    assert est.interval.low <= est.value <= est.interval.high


def test_identical_models_give_zero() -> None:
    scores = torch.tensor([31.0, 28.5, 33.2])
    est = clip_score_difference_rate(scores, scores)
    assert est.value == 0.0
    assert (est.interval.low, est.interval.high) == (0.0, 0.0)


def test_from_embeddings_end_to_end() -> None:
    txt = torch.tensor([[1.0, 0.0]])
    orig = clip_scores(torch.tensor([[3.0, 4.0], [1.0, 0.0]]), txt)  # 60, 100
    unl = clip_scores(torch.tensor([[0.0, 1.0], [4.0, 3.0]]), txt)  # 0, 80
    assert clip_score_difference_rate(orig, unl).value == pytest.approx((1.0 + 0.2) / 2)


def test_sharded_then_merged_equals_single_pass() -> None:
    gen = torch.Generator().manual_seed(2)
    orig = 20 + 10 * torch.rand(90, generator=gen)
    unl = 20 + 10 * torch.rand(90, generator=gen)
    single = CLIPScoreDifferenceRate()
    single.update(orig, unl)
    a, b = CLIPScoreDifferenceRate(), CLIPScoreDifferenceRate()
    a.update(orig[:33], unl[:33])
    b.update(orig[33:], unl[33:])
    assert b.merge(a).compute() == single.compute()
    assert single.compute() == clip_score_difference_rate(orig, unl)
    assert CLIPScoreDifferenceRate.higher_is_better is False


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match=r"is 0 at pairs \[1\]"):
        csdr_per_pair(torch.tensor([30.0, 0.0]), torch.tensor([30.0, 1.0]))
    with pytest.raises(ValueError, match="same length"):
        csdr_per_pair(torch.tensor([30.0, 20.0]), torch.tensor([30.0]))
    with pytest.raises(ValueError, match="negative"):
        csdr_per_pair(torch.tensor([30.0]), torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="before update"):
        CLIPScoreDifferenceRate().compute()
