"""CLIPScore / clip_score: the IGMU formula from embeddings, exact merging."""

from __future__ import annotations

import math

import pytest
import torch

from igmu_audit.metrics import CLIPScore
from igmu_audit.metrics.functional import clip_score, clip_scores


def test_clip_scores_by_hand() -> None:
    img = torch.tensor([[3.0, 4.0], [0.0, 2.0], [-1.0, 0.0], [1.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0]])
    # cos = 0.6, 0, -1 (clamped to 0), 1/sqrt(2)
    expected = [60.0, 0.0, 0.0, 100 / math.sqrt(2)]
    assert clip_scores(img, txt).tolist() == pytest.approx(expected, abs=1e-9)


def test_clip_scores_pairs_row_by_row() -> None:
    img = torch.eye(3)
    assert clip_scores(img, torch.eye(3)).tolist() == [100.0, 100.0, 100.0]
    assert clip_scores(img, torch.eye(3).roll(1, dims=0)).tolist() == [0.0, 0.0, 0.0]


def test_scale_invariance_and_mean() -> None:
    gen = torch.Generator().manual_seed(0)
    img, txt = torch.randn(40, 16, generator=gen), torch.randn(40, 16, generator=gen)
    a = clip_score(img, txt)
    b = clip_score(img * 7.0, txt * 0.1)
    assert a.value == pytest.approx(b.value, rel=1e-6)  # float32 inputs
    assert a.value == pytest.approx(float(clip_scores(img, txt).mean()))
    assert a.interval.low <= a.value <= a.interval.high
    t = clip_score(img, txt, interval="t")
    assert t.interval.method == "t"
    assert t.value == a.value


def test_sharded_then_merged_equals_single_pass() -> None:
    gen = torch.Generator().manual_seed(1)
    img, txt = torch.randn(60, 8, generator=gen), torch.randn(60, 8, generator=gen)
    single = CLIPScore()
    single.update(img, txt)
    shards = [CLIPScore() for _ in range(3)]
    for s, (i, t) in zip(
        shards, zip(img.split(20), txt.split(20), strict=True), strict=True
    ):
        s.update(i, t)
    merged = shards[1].merge(shards[2]).merge(shards[0])
    assert merged.compute() == single.compute()
    assert single.compute() == clip_score(img, txt)
    assert CLIPScore.higher_is_better is True


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="`text_embeds`"):
        clip_scores(torch.randn(4, 8), torch.randn(3, 8))
    with pytest.raises(ValueError, match="`image_embeds`"):
        clip_scores(torch.randn(8), torch.randn(1, 8))
    with pytest.raises(ValueError, match="NaN"):
        clip_scores(torch.tensor([[float("nan"), 1.0]]), torch.randn(1, 2))
    with pytest.raises(ValueError, match="before update"):
        CLIPScore().compute()
    with pytest.raises(ValueError, match="different settings"):
        CLIPScore().merge(CLIPScore(seed=1))
