"""Pure metric math: batched torch functions, one file per metric (torchmetrics' layout)."""

from igmu_audit.metrics.functional.clip_score import clip_score, clip_scores
from igmu_audit.metrics.functional.clustered import (
    ClusterDesign,
    clustered_design,
    clustered_interval,
    rate_interval,
)
from igmu_audit.metrics.functional.csdr import (
    clip_score_difference_rate,
    csdr_per_pair,
    csdr_per_prompt,
)
from igmu_audit.metrics.functional.erasure_rate import (
    RateEstimate,
    attack_success_rate,
    erasure_rate,
    presence_from_scores,
    rate_from_counts,
)
from igmu_audit.metrics.functional.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    frechet_interval,
)
from igmu_audit.metrics.functional.intervals import (
    Interval,
    MeanEstimate,
    binomial_interval,
    bootstrap_interval,
    clopper_pearson_interval,
    cluster_bootstrap_interval,
    mean_estimate,
    samples_needed,
    t_interval,
    wilson_interval,
)
from igmu_audit.metrics.functional.kid import (
    KernelDistanceResult,
    kernel_distance,
    mmd2_unbiased,
    polynomial_kernel,
)
from igmu_audit.metrics.functional.paired import (
    McNemarResult,
    mcnemar_from_outcomes,
    mcnemar_test,
    paired_bootstrap_interval,
)
from igmu_audit.metrics.functional.perceptual import (
    cosine_distance,
    feature_distance,
    lpips_distance,
    perceptual_distances,
)
from igmu_audit.metrics.functional.sequential import (
    ErrorRates,
    clustered_error_rates,
    independent_error_rates,
)

__all__ = [
    "ClusterDesign",
    "ErrorRates",
    "Interval",
    "KernelDistanceResult",
    "McNemarResult",
    "MeanEstimate",
    "RateEstimate",
    "attack_success_rate",
    "binomial_interval",
    "bootstrap_interval",
    "clip_score",
    "clip_score_difference_rate",
    "clip_scores",
    "clopper_pearson_interval",
    "cluster_bootstrap_interval",
    "clustered_design",
    "clustered_error_rates",
    "clustered_interval",
    "cosine_distance",
    "csdr_per_pair",
    "csdr_per_prompt",
    "erasure_rate",
    "feature_distance",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "frechet_interval",
    "independent_error_rates",
    "kernel_distance",
    "lpips_distance",
    "mcnemar_from_outcomes",
    "mcnemar_test",
    "mean_estimate",
    "mmd2_unbiased",
    "paired_bootstrap_interval",
    "perceptual_distances",
    "polynomial_kernel",
    "presence_from_scores",
    "rate_from_counts",
    "rate_interval",
    "samples_needed",
    "t_interval",
    "wilson_interval",
]
