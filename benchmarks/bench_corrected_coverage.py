"""Coverage of the detector-error-corrected leak-rate interval (docs/statistics.md).

Not a test (tests/metrics/test_corrected.py runs a small version). Each draw simulates a
detector card (``n_cal`` positives and negatives scored by a detector of sensitivity
``se``, specificity ``sp``) and an audit (images whose true concept rate is ``p``, seen
through the same detector), then builds the interval with the production
``corrected_rate`` and checks whether it holds the true ``p``. Beside it, the "naive"
interval (Rogan-Gladen applied to the raw interval with the card's point ``se``/``sp``,
calibration uncertainty ignored) shows what carrying that uncertainty buys.
Independent designs use Clopper-Pearson for the raw rate; the clustered design
(prompts x seeds, per-prompt rates drawn from a Beta with the given ICC) uses the
production clustered interval.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_corrected_coverage.py --draws 1000 \
        --json .igmu/bench-corrected.json

About 2 minutes on 2 CPU cores at the default ``--draws 1000``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

RATES = (0.0, 0.02, 0.05, 0.1, 0.3)
DETECTORS = ((0.99, 0.995), (0.9, 0.97), (0.75, 0.95))
CALIBRATION = (50, 300)
# (prompts, seeds, icc): icc None = independent images
DESIGNS = ((96, 1, None), (480, 1, None), (32, 6, 0.1))


def _cell(
    rng: np.random.Generator,
    draws: int,
    p: float,
    detector: tuple[float, float],
    n_cal: int,
    design: tuple[int, int, float | None],
) -> dict[str, Any]:
    from igmu_audit.metrics.functional.clustered import rate_interval
    from igmu_audit.metrics.functional.corrected import (
        corrected_rate,
        rogan_gladen,
        split_confidence,
    )

    se, sp = detector
    prompts, seeds, icc = design
    level = split_confidence(0.95)
    hit = naive_hit = 0
    widths = []
    for _ in range(draws):
        if icc is None or p == 0.0:
            per_prompt = np.full(prompts, p)
        else:
            spread = 1 / icc - 1
            per_prompt = rng.beta(p * spread, (1 - p) * spread, size=prompts)
        apparent = per_prompt * se + (1 - per_prompt) * (1 - sp)
        hits = rng.binomial(seeds, apparent)
        k, n = int(hits.sum()), prompts * seeds
        interval = "independent" if icc is None else "clustered"
        sizes = [seeds] * prompts
        observed, _ = rate_interval(hits.tolist(), sizes, level, interval, 1)
        tp, fp = int(rng.binomial(n_cal, se)), int(rng.binomial(n_cal, 1 - sp))
        out = corrected_rate(k / n, observed, (tp, n_cal, fp, n_cal))
        hit += out.interval.contains(p)
        widths.append(out.interval.width)
        raw, _ = rate_interval(hits.tolist(), sizes, 0.95, interval, 1)
        se_hat, sp_hat = tp / n_cal, 1 - fp / n_cal
        if se_hat + sp_hat > 1:
            lo = rogan_gladen(raw.low, se_hat, sp_hat)
            hi = rogan_gladen(raw.high, se_hat, sp_hat)
            naive_hit += lo <= p <= hi
        else:
            naive_hit += 1
    return {
        "p": p,
        "se": se,
        "sp": sp,
        "n_cal": n_cal,
        "design": f"{prompts}x{seeds}" + ("" if icc is None else f" icc {icc}"),
        "coverage": hit / draws,
        "naive_coverage": naive_hit / draws,
        "mean_width": float(np.mean(widths)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(14)
    start = time.perf_counter()
    rows = [
        _cell(rng, args.draws, p, det, n_cal, design)
        for design in DESIGNS
        for det in DETECTORS
        for n_cal in CALIBRATION
        for p in RATES
    ]
    print(
        f"{'design':<16}{'se/sp':<12}{'n_cal':>6}{'p':>6}{'box':>8}{'naive':>8}{'width':>8}"
    )
    for r in rows:
        print(
            f"{r['design']:<16}{r['se']:.2f}/{r['sp']:.3f}{r['n_cal']:>6}{r['p']:>6.2f}"
            f"{r['coverage']:>8.3f}{r['naive_coverage']:>8.3f}{r['mean_width']:>8.3f}"
        )
    worst = min(rows, key=lambda r: r["coverage"])
    naive = min(rows, key=lambda r: r["naive_coverage"])
    print(
        f"lowest box coverage {worst['coverage']:.3f} ({worst['design']}, se/sp {worst['se']}/{worst['sp']}, "
        f"n_cal {worst['n_cal']}, p {worst['p']}); lowest naive {naive['naive_coverage']:.3f}; "
        f"{time.perf_counter() - start:.0f} s"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"draws": args.draws, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
