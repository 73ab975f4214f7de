"""Time the metric math on this machine: ``python benchmarks/bench_metrics.py [--dim 2048]``.

Not a test. Compares the eigh-form Fréchet distance with the textbook ``scipy.linalg.sqrtm``
form (pytorch-fid, torchmetrics) and times KID and the bootstrap at audit sizes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import scipy.linalg
import torch

from igmu_audit.metrics.functional import (
    bootstrap_interval,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    kernel_distance,
)


def _time(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _sqrtm_fd(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(
        ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--dim", type=int, default=2048, help="feature dimension (2048 = FID)"
    )
    parser.add_argument("--n", type=int, default=2500, help="feature vectors per set")
    parser.add_argument(
        "--skip-sqrtm", action="store_true", help="skip the slow reference"
    )
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)
    real = torch.rand(args.n, args.dim, generator=gen)
    fake = torch.rand(args.n, args.dim, generator=gen) * 1.1
    mu1, s1 = feature_statistics(real)
    mu2, s2 = feature_statistics(fake)
    print(f"torch threads: {torch.get_num_threads()}, D = {args.dim}, n = {args.n}")

    t_eigh, fd = _time(lambda: frechet_distance_from_statistics(mu1, s1, mu2, s2), 3)
    print(f"Fréchet, factor form: {t_eigh:8.3f} s   value {fd:.6f}")
    if not args.skip_sqrtm:
        arrays = (mu1.numpy(), s1.numpy(), mu2.numpy(), s2.numpy())
        t_sqrtm, ref = _time(lambda: _sqrtm_fd(*arrays))
        print(
            f"Fréchet, scipy sqrtm: {t_sqrtm:8.3f} s   value {ref:.6f}   ({t_sqrtm / t_eigh:.0f}x slower)"
        )

    small = real[: args.dim // 4], fake[: args.dim // 4]
    t_thin, fd_small = _time(lambda: frechet_distance(*small), 3)
    print(
        f"Fréchet, n = {args.dim // 4} < D (thin factor): {t_thin:6.3f} s   value {fd_small:.6f}"
    )

    m = min(args.n, 1000)
    t_kid, kid = _time(lambda: kernel_distance(real[:m], fake[:m], subsets=100))
    print(f"KID, n = {m}, 100 subsets: {t_kid:6.3f} s   {kid}")

    values = torch.rand(1024, generator=gen)
    t_boot, iv = _time(lambda: bootstrap_interval(values, n_resamples=2000), 3)
    print(f"bootstrap, n = 1024, B = 2000: {t_boot:6.3f} s   {iv}")


if __name__ == "__main__":
    main()
