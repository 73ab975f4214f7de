"""Bad-input corpus, statistics: interval and aggregation settings from every source,
and the math functions' arguments. Each is a named error before anything is computed or
written (ConfigError for settings, ValueError naming the argument for the functions)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from igmu_audit.errors import ConfigError
from igmu_audit.metrics.functional.clustered import clustered_interval, rate_interval
from igmu_audit.metrics.functional.csdr import (
    clip_score_difference_rate,
    csdr_per_prompt,
)
from igmu_audit.metrics.functional.frechet import frechet_interval
from igmu_audit.metrics.functional.intervals import cluster_bootstrap_interval
from igmu_audit.metrics.functional.sequential import (
    clustered_error_rates,
    independent_error_rates,
)
from tests.corpus.harness import Call, Case, check_case, cli, ids, pyproject, spec


def call(fn: Callable[[], object]) -> Callable[[Path], Call]:
    return lambda tmp: fn


def _ones(n: int, d: int = 3) -> torch.Tensor:
    return torch.randn(
        n, d, generator=torch.Generator().manual_seed(n), dtype=torch.float64
    )


CASES = [
    Case("spec-interval-typo", spec("interval: clusterd\n"), ConfigError, ("audit.yaml", "interval", "clustered")),
    Case("spec-interval-wilson", spec("interval: wilson\n"), ConfigError, ("audit.yaml", "interval", "independent")),
    Case("spec-interval-number", spec("interval: 1\n"), ConfigError, ("audit.yaml", "interval")),
    Case("spec-interval-list", spec("interval: [clustered]\n"), ConfigError, ("audit.yaml", "interval")),
    Case("spec-interval-bool", spec("interval: true\n"), ConfigError, ("audit.yaml", "interval")),
    Case("pyproject-interval", pyproject('[tool.igmu_audit]\ninterval = "bootstrap"\n'), ConfigError, ("pyproject.toml", "interval")),
    Case("cli-interval", cli(interval="exact"), ConfigError, ("interval", "clustered")),
    Case("spec-csdr-typo", spec("csdr_aggregation: per_prompt\n"), ConfigError, ("audit.yaml", "csdr_aggregation", "per-prompt")),
    Case("spec-csdr-mean", spec("csdr_aggregation: mean\n"), ConfigError, ("audit.yaml", "csdr_aggregation", "per-image")),
    Case("pyproject-csdr", pyproject('[tool.igmu_audit]\ncsdr_aggregation = 3\n'), ConfigError, ("pyproject.toml", "csdr_aggregation")),
    Case("cli-csdr", cli(csdr_aggregation="prompt"), ConfigError, ("--igmu-csdr-aggregation", "per-prompt")),
    Case("hits-over-size", call(lambda: clustered_interval([9, 0], [8, 8])), ValueError, ("hits[0]", "sizes[0]")),
    Case("hits-negative", call(lambda: clustered_interval([-1, 0], [8, 8])), ValueError, ("hits[0]",)),
    Case("size-zero", call(lambda: clustered_interval([0, 0], [8, 0])), ValueError, ("sizes[1]",)),
    Case("hits-float", call(lambda: clustered_interval([1.5, 0], [8, 8])), ValueError, ("hits[0]", "integer")),
    Case("hits-bool", call(lambda: clustered_interval([True, 0], [8, 8])), ValueError, ("hits[0]",)),
    Case("lengths-differ", call(lambda: clustered_interval([1, 0, 0], [8, 8])), ValueError, ("`hits`", "`sizes`")),
    Case("no-prompts", call(lambda: clustered_interval([], [])), ValueError, ("non-empty",)),
    Case("rate-confidence", call(lambda: clustered_interval([1], [8], confidence=95)), ValueError, ("`confidence`",)),
    Case("rate-method", call(lambda: rate_interval([1], [8], interval="wilson")), ValueError, ("`interval`", "wilson")),
    Case("rate-looks-zero", call(lambda: rate_interval([1], [8], looks=0)), ValueError, ("`looks`",)),
    Case("rate-looks-bool", call(lambda: rate_interval([1], [8], looks=True)), ValueError, ("`looks`",)),
    Case("dp-no-prompts", call(lambda: independent_error_rates(0, [4], 0.05)), ValueError, ("`prompts`",)),
    Case("dp-shrinking-seeds", call(lambda: independent_error_rates(8, [8, 4], 0.05)), ValueError, ("`seeds`", "grow")),
    Case("dp-threshold", call(lambda: independent_error_rates(8, [8], -0.1)), ValueError, ("`threshold`",)),
    Case("sim-icc-one", call(lambda: clustered_error_rates(8, [8], 0.05, icc=1.0)), ValueError, ("`icc`",)),
    Case("fd-too-few", call(lambda: frechet_interval(_ones(3), _ones(3))), ValueError, ("at least 4 rows",)),
    Case("fd-unpaired", call(lambda: frechet_interval(_ones(8), _ones(9))), ValueError, ("pair row by row",)),
    Case("fd-clusters-length", call(lambda: frechet_interval(_ones(8), _ones(8), clusters=[0, 1])), ValueError, ("`clusters`", "(8)")),
    Case("fd-groups", call(lambda: frechet_interval(_ones(8), _ones(8), groups=1)), ValueError, ("`groups`",)),
    Case("boot-clusters-length", call(lambda: cluster_bootstrap_interval(torch.ones(4), [0, 1])), ValueError, ("`clusters`", "(4)")),
    Case("csdr-aggregation", call(lambda: clip_score_difference_rate(torch.ones(2), torch.ones(2), aggregation="mean")), ValueError, ("`aggregation`",)),
    Case("csdr-per-prompt-ids", call(lambda: csdr_per_prompt(torch.ones(4), torch.ones(4), [0, 1])), ValueError, ("`prompts`", "(4)")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=ids(CASES))
def test_bad_statistics_input(case: Case, tmp_path: Path) -> None:
    check_case(case, tmp_path)
