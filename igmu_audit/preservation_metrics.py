"""Every preservation metric, declared once: its name, threshold key, direction, what it
needs, how it is computed, its range and its built-in default.

Everything else derives from ``METRICS``: the ``preserved`` threshold keys the
configuration accepts (``config/thresholds.py``), their range checks and built-in
defaults (``config/profiles.py``), the "can this be measured at all" check that
``assert_preserved`` runs before any image is generated, the names and directions of
the measured values (``preservation.py``) and the metric table in the README
(``metrics_table``; ``tests/test_preservation_metrics.py`` keeps them equal).

No torch here: the configuration layer imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Needs = Literal["clip", "features", "detector"]

#: what each need means for a caller, as a fix in an error message
NEEDS_HOW: dict[str, str] = {
    "clip": "clip=<a CLIP model>",
    "features": "features=<a feature extractor> or clip=...",
    "detector": "detector=... and prompts as {category: [prompts]}",
}


@dataclass(frozen=True, slots=True)
class PreservationMetric:
    """One preservation metric.

    Attributes:
        name: how results name it (a feature-space metric adds ``[<space>]``).
        key: its threshold key and ``assert_preserved`` keyword argument.
        direction: ``"<="`` when lower is better, ``">="`` when higher is better.
        needs: what must be given to measure it (``clip``, ``features``, ``detector``).
        how: how it is computed and what its interval is (one sentence, for the docs).
        share: a share in [0, 1] (else a distance: finite and >= 0).
        default: the built-in threshold, or ``None`` (set it per project).
    """

    name: str
    key: str
    direction: Literal["<=", ">="]
    needs: Needs
    how: str
    share: bool
    default: float | None = None

    def label(self, space: str | None = None) -> str:
        """The measured value's name, e.g. ``KID[toy image features]``."""
        return self.name if space is None else f"{self.name}[{space}]"


METRICS: tuple[PreservationMetric, ...] = (
    PreservationMetric(
        "CSDR", "max_csdr", "<=", "clip",
        "CLIP Score Difference Rate: relative drop of the CLIP score against the reference "
        "prompt, per prompt or per image (`csdr_aggregation`); prompt-level paired bootstrap",
        share=True, default=0.10,
    ),
    PreservationMetric(
        "accuracy drop", "max_accuracy_drop", "<=", "detector",
        "original minus unlearned share of images the category's detector recognises; "
        "paired McNemar / Agresti-Min interval",
        share=True, default=0.10,
    ),
    PreservationMetric(
        "accuracy", "min_accuracy", ">=", "detector",
        "share of the unlearned model's images the category's detector recognises; "
        "Wilson interval",
        share=True,
    ),
    PreservationMetric(
        "KID", "max_kid", "<=", "features",
        "kernel inception distance between the two image sets in the feature space; "
        "mean ± z·std over 50 subsets",
        share=False,
    ),
    PreservationMetric(
        "FD", "max_fd", "<=", "features",
        "Fréchet distance between the two image sets in the feature space; prompt "
        "jackknife, bias-corrected, always containing its estimate",
        share=False,
    ),
    PreservationMetric(
        "perceptual", "max_perceptual", "<=", "features",
        "mean cosine distance between paired images' features; prompt-level paired "
        "bootstrap",
        share=False,
    ),
)  # fmt: skip

BY_KEY: dict[str, PreservationMetric] = {m.key: m for m in METRICS}
BY_NAME: dict[str, PreservationMetric] = {m.name: m for m in METRICS}
#: the threshold keys (and keyword arguments) of the preservation metrics, in order
KEYS: tuple[str, ...] = tuple(BY_KEY)
DEFAULTS: dict[str, float] = {
    m.key: m.default for m in METRICS if m.default is not None
}


def metrics_table() -> str:
    """The README's preservation metric table, generated from ``METRICS``."""
    rows = [
        "| metric | threshold | better | needs | default | how |",
        "|---|---|---|---|---|---|",
    ]
    for m in METRICS:
        better = "lower" if m.direction == "<=" else "higher"
        default = "none" if m.default is None else f"{m.default:g}"
        rows.append(
            f"| {m.name} | `{m.key}` | {better} | `{NEEDS_HOW[m.needs]}` | {default} | {m.how} |"
        )
    return "\n".join(rows)
