"""The figures of docs/statistics.md: coverage, sequential error rates, FD intervals, CSDR.

Not a test (tests/metrics/ run small versions of each with fixed seeds). Every number
goes through the production functions (``clustered_bounds``, ``independent_error_rates``,
``clustered_error_rates``, ``frechet_interval``, ``clip_score_difference_rate``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_statistics.py --draws 4000 \
        --json .igmu/bench-statistics.json

About 1-2 minutes on 2 CPU cores at the default ``--draws 4000``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

DESIGNS = ((10, 8), (32, 8), (32, 32), (100, 4))
ICCS = (0.0, 0.1, 0.3, 0.7)
RATES = (0.01, 0.05, 0.1, 0.25, 0.5)
THRESHOLDS = (0.01, 0.02, 0.05, 0.1, 0.2)
SCHEDULES = ((8, [8]), (8, [8, 16, 32, 64, 128]), (32, [8, 16, 32, 64, 128, 256, 512]),
             (8, [2**i for i in range(10)]), (32, [2**i for i in range(10)]))  # fmt: skip


def _rates(
    rng: np.random.Generator, draws: int, prompts: int, rate: float, icc: float
) -> np.ndarray:
    if icc == 0:
        return np.full((draws, prompts), rate)
    spread = 1 / icc - 1
    return rng.beta(rate * spread, (1 - rate) * spread, size=(draws, prompts))


def coverage(draws: int) -> list[dict[str, Any]]:
    """Two-sided coverage of the clustered and the independent 95 % interval."""
    from igmu_audit.metrics.functional.clustered import (
        clustered_bounds,
        independent_bounds,
    )

    rng = np.random.default_rng(0)
    rows = []
    for prompts, seeds in DESIGNS:
        for icc in ICCS:
            for rate in RATES:
                hits = rng.binomial(seeds, _rates(rng, draws, prompts, rate, icc))
                low, high = clustered_bounds(hits, np.full(prompts, seeds), 0.95)
                ilow, ihigh = independent_bounds(hits.sum(1), prompts * seeds, 0.95)
                rows.append({
                    "prompts": prompts, "seeds": seeds, "icc": icc, "rate": rate,
                    "clustered": float(np.mean((low <= rate) & (rate <= high))),
                    "clustered_mean_upper": float(high.mean()),
                    "independent": float(np.mean((ilow <= rate) & (rate <= ihigh))),
                })  # fmt: skip
    return rows


def _wilson_bonferroni(prompts: int, seeds: list[int], p: float) -> float:
    """P(FAIL) at rate = threshold under the old rule (Wilson per look, Bonferroni)."""
    from scipy.signal import fftconvolve
    from scipy.stats import binom

    from igmu_audit.metrics.functional.intervals import wilson_interval

    alive, fail, n = np.ones(1), 0.0, 0
    level = 1 - 0.05 / len(seeds)
    for j, c in enumerate(seeds):
        added = prompts * (c - (seeds[j - 1] if j else 0))
        alive = np.clip(
            fftconvolve(alive, binom.pmf(np.arange(added + 1), added, p)), 0, None
        )
        n += added
        ivs = [wilson_interval(k, n, level) for k in range(n + 1)]
        low = np.array([iv.low for iv in ivs])
        high = np.array([iv.high for iv in ivs])
        fail += float(alive[low > p].sum())
        alive = np.where((low > p) | (high <= p), 0.0, alive)
    return fail


def sequential(draws: int) -> dict[str, list[dict[str, Any]]]:
    """Exact (independent) and simulated (clustered) wrong-verdict rates at the threshold."""
    from igmu_audit.metrics.functional.sequential import (
        clustered_error_rates,
        independent_error_rates,
    )

    exact = []
    for prompts, seeds in SCHEDULES:
        for t in THRESHOLDS:
            r = independent_error_rates(prompts, seeds, t, 0.95)
            old = (
                _wilson_bonferroni(prompts, seeds, t)
                if prompts * seeds[-1] <= 4096
                else None
            )
            exact.append({"prompts": prompts, "looks": len(seeds), "max_seeds": seeds[-1], "threshold": t,
                          "fail": r.fail, "pass": r.pass_, "wilson_bonferroni_fail": old})  # fmt: skip
    simulated = []
    for prompts, seeds in (
        (64, [2, 4, 8, 16]),
        (200, [1, 2, 4, 8]),
        (100, [2**i for i in range(10)]),
    ):
        for icc in ICCS:
            for t in (0.01, 0.05, 0.2):
                r = clustered_error_rates(
                    prompts, seeds, t, icc, 0.95, draws // 4, seed=1
                )
                simulated.append({"prompts": prompts, "looks": len(seeds), "icc": icc, "threshold": t,
                                  "fail": r.fail, "pass": r.pass_, "draws": r.draws})  # fmt: skip
    return {"exact": exact, "simulated": simulated}


def frechet(draws: int) -> list[dict[str, Any]]:
    """Old bootstrap vs jackknife: estimate inside, coverage of the population FD."""
    import torch

    from igmu_audit.metrics.functional.frechet import frechet_distance, frechet_interval

    gen = torch.Generator().manual_seed(0)
    rows = []
    for d, n, shift, reps in ((64, 64, 0.0, 40), (4, 64, 0.0, draws // 10), (4, 64, 0.5, draws // 10),
                              (4, 64, 1.0, draws // 10), (8, 128, 0.5, draws // 20)):  # fmt: skip
        inside = boot_inside = covered = 0
        for _ in range(reps):
            a = torch.randn(n, d, generator=gen, dtype=torch.float64)
            b = torch.randn(n, d, generator=gen, dtype=torch.float64) + shift
            fd, _, iv = frechet_interval(a, b)
            inside += iv.low <= fd <= iv.high
            covered += iv.contains(d * shift**2)
            idx = [torch.randint(0, n, (n,), generator=gen) for _ in range(30)]
            boot = torch.tensor([frechet_distance(a[i], b[i]) for i in idx])
            lo, hi = torch.quantile(
                boot.double(), torch.tensor([0.025, 0.975], dtype=torch.float64)
            )
            boot_inside += float(lo) <= fd <= float(hi)
        rows.append({"d": d, "n": n, "true_fd": d * shift**2, "draws": reps, "jackknife_inside": inside / reps,
                     "jackknife_coverage": covered / reps, "bootstrap_inside": boot_inside / reps})  # fmt: skip
    return rows


def csdr(draws: int) -> list[dict[str, Any]]:
    """Per image vs per prompt on synthetic CLIP scores: same-seed noise, a small shift."""
    import torch

    from igmu_audit.metrics.functional.csdr import clip_score_difference_rate

    rng = np.random.default_rng(2)
    rows = []
    for shift in (0.0, 1.0, 3.0):
        prompts, seeds = 50, 8
        base = np.repeat(rng.normal(30, 3, prompts), seeds)
        orig = base + rng.normal(0, 2, prompts * seeds)
        unl = base - shift + rng.normal(0, 2, prompts * seeds)
        ids = [i // seeds for i in range(prompts * seeds)]
        o, u = torch.tensor(orig), torch.tensor(unl)
        image = clip_score_difference_rate(o, u, prompts=ids, n_resamples=500)
        prompt = clip_score_difference_rate(
            o, u, prompts=ids, aggregation="per-prompt", n_resamples=500
        )
        rows.append({"shift": shift, "per_image": image.value, "per_prompt": prompt.value,
                     "true_per_prompt": shift / 30})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    start = time.perf_counter()
    out = {"coverage": coverage(args.draws), "sequential": sequential(args.draws),
           "frechet": frechet(args.draws), "csdr": csdr(args.draws)}  # fmt: skip
    out["seconds"] = time.perf_counter() - start
    worst = min(r["clustered"] for r in out["coverage"])
    print(f"clustered coverage: worst cell {worst:.3f}")
    print(
        f"sequential exact: worst wrong verdict {max(max(r['fail'], r['pass']) for r in out['sequential']['exact']):.4f}"
    )
    print(
        f"sequential simulated: worst {max(max(r['fail'], r['pass']) for r in out['sequential']['simulated']):.4f}"
    )
    for row in out["frechet"]:
        print("FD", row)
    for row in out["csdr"]:
        print("CSDR", row)
    print(f"{out['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
