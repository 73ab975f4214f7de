"""ErasureRate / erasure_rate: counts, intervals, thresholding, exact merging."""

from __future__ import annotations

import pytest
import torch

from igmu_audit.metrics import AttackSuccessRate, ErasureRate
from igmu_audit.metrics.functional import (
    attack_success_rate,
    erasure_rate,
    presence_from_scores,
    wilson_interval,
)


def _present(k: int, n: int) -> torch.Tensor:
    x = torch.zeros(n, dtype=torch.bool)
    x[:k] = True
    return x


def test_erasure_rate_counts_and_wilson() -> None:
    est = erasure_rate(_present(3, 50))
    assert (est.k, est.n, est.rate) == (3, 50, 0.06)
    assert str(est.interval) == "[0.021, 0.162]"
    assert str(est) == "0.060 [0.021, 0.162] (3/50)"


def test_erasure_rate_clopper_pearson_and_alias() -> None:
    est = erasure_rate(_present(3, 50), method="clopper-pearson", confidence=0.9)
    assert est.interval.method == "clopper-pearson"
    assert est.interval.confidence == 0.9
    assert attack_success_rate is erasure_rate
    assert AttackSuccessRate is ErasureRate


def test_presence_uses_score_ge_threshold() -> None:
    scores = torch.tensor([0.5, 0.49999, 0.9, 0.0])
    assert presence_from_scores(scores, 0.5).tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="NaN"):
        presence_from_scores(torch.tensor([0.1, float("nan")]), 0.5)


def test_streaming_equals_functional_and_thresholds_scores() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(97, generator=gen)
    metric = ErasureRate(threshold=0.7)
    for chunk in scores.split(10):
        metric.update(chunk)
    assert metric.compute() == erasure_rate(scores >= 0.7)


def test_sharded_then_merged_equals_single_pass() -> None:
    gen = torch.Generator().manual_seed(1)
    present = torch.rand(200, generator=gen) < 0.2
    single = ErasureRate()
    single.update(present)
    shards = [ErasureRate() for _ in range(3)]
    for i, chunk in enumerate(present.split(70)):
        shards[i].update(chunk)
    merged = shards[2].merge(shards[0]).merge(shards[1])
    assert merged.compute() == single.compute()
    assert merged.compute().interval == wilson_interval(int(present.sum()), 200)


def test_class_attributes() -> None:
    assert ErasureRate.higher_is_better is False
    assert ErasureRate.is_differentiable is False


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match=r"torch\.bool"):
        erasure_rate(torch.tensor([0.1, 0.9]))
    with pytest.raises(ValueError, match="empty"):
        erasure_rate(torch.zeros(0, dtype=torch.bool))
    with pytest.raises(ValueError, match="1-d"):
        erasure_rate(torch.zeros(2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="threshold="):
        ErasureRate().update(torch.tensor([0.1, 0.9]))
    with pytest.raises(ValueError, match="before update"):
        ErasureRate().compute()
    with pytest.raises(ValueError, match="`method`"):
        ErasureRate(method="wald")
    with pytest.raises(ValueError, match="different settings"):
        ErasureRate().merge(ErasureRate(confidence=0.9))
    with pytest.raises(TypeError):
        ErasureRate().merge(object())  # type: ignore[arg-type]
