"""Measure preservation: the unlearned model vs the original on retain prompts, same seeds.

Every comparison is paired by (prompt, seed): the CLIP Score Difference Rate (CSDR), the
detector-accuracy change (McNemar), the paired perceptual distance; the set distances
(Fréchet distance, KID) compare the two image sets in a named feature space.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from igmu_audit.errors import ConfigError
from igmu_audit.preservation_metrics import BY_KEY

if TYPE_CHECKING:
    import torch

    from igmu_audit.detectors.base import Detector
    from igmu_audit.metrics.functional.intervals import Interval
    from igmu_audit.prompts.dedupe import Distinct
    from igmu_audit.results import Direction


@dataclass(frozen=True, slots=True)
class Measured:
    """One preservation metric: value, interval, direction and sample size."""

    name: str
    value: float
    interval: Interval
    direction: Direction
    n: int
    extra: Mapping[str, Any]
    #: the threshold key of its declaration (``preservation_metrics.METRICS``)
    key: str | None = None

    def __post_init__(self) -> None:
        # A verdict judged on an interval that excludes its own estimate can FAIL with the
        # estimate under the threshold (the old FD bootstrap did): refuse to build one.
        if not self.interval.low <= self.value <= self.interval.high:
            raise ValueError(
                f"{self.name}: estimate {self.value!r} lies outside its interval "
                f"{self.interval} ({self.interval.method}); this is a bug in igmu-audit"
            )


class ClipImageFeatures:
    """A CLIP image tower as a named feature extractor (for FD / KID / perceptual)."""

    def __init__(self, clip: Any) -> None:
        self.clip = clip
        self.name = f"{getattr(clip, 'name', type(clip).__name__)} image features"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        encoded: torch.Tensor = self.clip.encode_image(images)
        return encoded


def flatten_prompts(
    prompts: Sequence[str] | Mapping[str, Sequence[str]], argument: str = "prompts"
) -> tuple[list[str], list[str | None], list[str]]:
    """Prompts, their category (``None`` for a flat list) and where each was given, validated."""
    from igmu_audit.scoring import check_prompts

    if isinstance(prompts, Mapping):
        if not prompts:
            raise ConfigError(
                f"`{argument}` is empty: an audit needs at least one category of prompts"
            )
        flat: list[str] = []
        cats: list[str | None] = []
        where: list[str] = []
        for category, items in prompts.items():
            if not isinstance(category, str) or not category.strip():
                raise ConfigError(
                    f"`{argument}` categories must be non-empty strings (the class each prompt should show), "
                    f"got {category!r}"
                )
            checked = check_prompts(items, f"{argument}[{category!r}]")
            flat += checked
            cats += [category] * len(checked)
            where += [f"`{argument}[{category!r}][{j}]`" for j in range(len(checked))]
        return flat, cats, where
    flat = list(check_prompts(prompts, argument))
    return flat, [None] * len(flat), [f"`{argument}[{i}]`" for i in range(len(flat))]


def check_pairing(
    categories: Sequence[str | None], ref_categories: Sequence[str | None]
) -> None:
    """``reference_prompts`` must pair with ``prompts`` one to one: same categories, same counts."""
    if list(categories) == list(ref_categories):
        return
    counts = {c: list(categories).count(c) for c in dict.fromkeys(categories)}
    ref_counts = {
        c: list(ref_categories).count(c) for c in dict.fromkeys(ref_categories)
    }
    if list(counts) != list(ref_counts):
        got = f"categories {list(ref_counts)} for {list(counts)}"
    else:
        c = next(c for c in counts if counts[c] != ref_counts[c])
        got = f"{ref_counts[c]} reference prompts for {counts[c]} prompts" + (
            f" in category {c!r}" if c is not None else ""
        )
    raise ConfigError(
        "`reference_prompts` must pair with `prompts` one to one (same categories, same lengths): "
        f"got {got}; reference_prompts[j] is what the original draws for prompts[j]"
    )


def distinct_pairs(
    prompts: tuple[Sequence[str], Sequence[str]],
    where: tuple[Sequence[str], Sequence[str]],
    categories: Sequence[str | None],
    models: tuple[Any, Any],
) -> Distinct:
    """The (category, prompt, reference) triples that give distinct image pairs.

    A triple repeats an earlier one when its category is the same, its prompt draws the
    same image on the unlearned model and its reference the same image on the original
    (``models``), so pairing by position survives the de-duplication. ``prompts`` and
    ``where`` are (unlearned's, original's) lists and their places in the arguments.
    """
    from igmu_audit.prompts.dedupe import first_of_each, prompt_keys

    keys_u, keys_o = prompt_keys(models[0]), prompt_keys(models[1])
    same_list = list(prompts[0]) == list(prompts[1])
    keys: list[list[tuple[str, Hashable]]] = []
    for p, r, c, wp, wr in zip(*prompts, categories, *where, strict=True):
        keys.append([
            (why_p if same_list else f"{why_p}, reference {why_r}", (c, vp, vr))
            for why_p, vp in keys_u(p, wp)
            for why_r, vr in keys_o(r, wr)
        ])  # fmt: skip
    return first_of_each(keys, where[0], prompts[0])


def category_detectors(
    detector: Any, categories: Sequence[str], settings: Mapping[str, Any]
) -> dict[str, Detector]:
    """One detector per retain category (the class each retain prompt should show)."""
    from igmu_audit.detectors import get_detector

    out = {}
    for category in categories:
        if isinstance(detector, str):
            out[category] = get_detector(
                detector, **{**settings.get(detector, {}), "concept": category}
            )
        elif callable(detector) and not hasattr(detector, "threshold"):
            out[category] = detector(category)
        else:
            raise ConfigError(
                "`detector` for assert_preserved must be a detector name (built per category with concept=<category>) "
                f"or a callable category -> Detector, got {type(detector).__name__}"
            )
    return out


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True, slots=True)
class MeasurePlan:
    """What preservation is measured with, and how.

    Attributes:
        clip: a CLIP model (CSDR), or ``None``.
        features: a named feature extractor (KID, FD, perceptual), or ``None``.
        detectors: one detector per retain category (accuracy), or ``None``.
        confidence: every interval's confidence level.
        wanted: whether a threshold key is judged (FD is only computed when wanted).
        groups: the prompt of each image pair; intervals then resample whole prompts
            (seeds of one prompt are not independent) and CSDR can be aggregated per prompt.
        csdr_aggregation: ``per-image`` or ``per-prompt``.
    """

    clip: Any
    features: Any
    detectors: Mapping[str, Detector] | None
    confidence: float
    wanted: Callable[[str], bool]
    groups: Sequence[int] | None = None
    csdr_aggregation: str = "per-image"


def measure(
    images_unlearned: torch.Tensor,
    images_original: torch.Tensor,
    prompts: Sequence[str],
    categories: Sequence[str | None],
    plan: MeasurePlan,
) -> list[Measured]:
    """Compute every preservation metric that can be computed with what ``plan`` gives."""
    clip, features, detectors = plan.clip, plan.features, plan.detectors
    confidence, wanted, groups = plan.confidence, plan.wanted, plan.groups
    csdr_aggregation = plan.csdr_aggregation
    import torch

    from igmu_audit.metrics.functional.intervals import Interval

    out: list[Measured] = []
    if clip is not None:
        from igmu_audit.metrics.functional.clip_score import clip_scores
        from igmu_audit.metrics.functional.csdr import clip_score_difference_rate

        texts = clip.encode_text(list(prompts))
        cs_u = clip_scores(clip.encode_image(images_unlearned), texts)
        cs_o = clip_scores(clip.encode_image(images_original), texts)
        # CSDR divides by the original's score; a pair where the original image does not
        # match its prompt at all (score clamped to 0) has no ratio, so it is left out and
        # counted, like a forget prompt the original never draws.
        ids = list(groups) if groups is not None else list(range(len(cs_o)))
        defined = _csdr_defined(cs_o, ids, csdr_aggregation)
        if bool(defined.any()):
            kept = [g for g, d in zip(ids, defined.tolist(), strict=True) if d]
            est = clip_score_difference_rate(
                cs_o[defined], cs_u[defined], confidence=confidence, prompts=kept,
                aggregation=csdr_aggregation,
            )  # fmt: skip
            csdr_by_class = _csdr_by_category(
                cs_o, cs_u, defined, ids, categories, plan
            )
            out.append(_measured("max_csdr", est.value, est.interval, est.n,
                                 {"clip": getattr(clip, "name", "clip"), "clip_score_original": float(cs_o.mean()),
                                  "clip_score_unlearned": float(cs_u.mean()), "aggregation": csdr_aggregation,
                                  "pairs_without_ratio": int((~defined).sum()), "by_category": csdr_by_class}))  # fmt: skip
    if detectors:
        from igmu_audit.metrics.functional.paired import mcnemar_from_outcomes

        correct_u, correct_o = [], []
        by_category: dict[str, dict[str, float | int]] = {}
        for category in dict.fromkeys(c for c in categories if c is not None):
            idx = [i for i, c in enumerate(categories) if c == category]
            det = detectors[category]
            correct_u.append(det(images_unlearned[idx]) >= det.threshold)
            correct_o.append(det(images_original[idx]) >= det.threshold)
            # Per class, so a pooled drop cannot hide that one retain class is untouched
            # while another is wrecked (or the reverse).
            acc_o, acc_u = (
                float(x.float().mean()) for x in (correct_o[-1], correct_u[-1])
            )
            by_category[category] = {"n": len(idx), "accuracy_original": acc_o,
                                     "accuracy_unlearned": acc_u, "drop": acc_o - acc_u}  # fmt: skip
        cu, co = torch.cat(correct_u), torch.cat(correct_o)
        test = mcnemar_from_outcomes(co, cu, confidence=confidence)
        out.append(_measured("max_accuracy_drop", test.difference, test.interval, test.n,
                             {"accuracy_original": float(co.float().mean()), "accuracy_unlearned": float(cu.float().mean()),
                              "mcnemar_p": test.p_value, "discordant": [test.b, test.c],
                              "by_category": by_category}))  # fmt: skip
        from igmu_audit.metrics.functional.erasure_rate import rate_from_counts

        acc = rate_from_counts(int(cu.sum()), cu.numel(), confidence)
        out.append(_measured("min_accuracy", acc.rate, acc.interval, acc.n, {}))
    if features is not None:
        from igmu_audit.metrics.functional.kid import kernel_distance
        from igmu_audit.metrics.functional.paired import paired_bootstrap_interval
        from igmu_audit.metrics.functional.perceptual import cosine_distance

        fu, fo = features(images_unlearned).double(), features(images_original).double()
        space = features.name
        if wanted("max_kid") or len(prompts) >= 4:
            kid = kernel_distance(fo, fu, subsets=50)
            half = _z(confidence) * kid.std
            out.append(_measured("max_kid", kid.mean, Interval(kid.mean - half, kid.mean + half, confidence, "kid-subsets ±z·std"),
                                 fu.shape[0], {"subsets": kid.subsets, "subset_size": kid.subset_size}, space))  # fmt: skip
        if wanted("max_fd"):
            fd, corrected, spread = _fd_interval(fo, fu, confidence, groups)
            out.append(_measured("max_fd", fd, spread, fu.shape[0],
                                 {"fd_bias_corrected": corrected}, space))  # fmt: skip
        dist = cosine_distance(fu, fo)
        est = paired_bootstrap_interval(
            dist, torch.zeros_like(dist), confidence=confidence,
            clusters=list(groups) if groups is not None else None,
        )  # fmt: skip
        out.append(
            _measured(
                "max_perceptual",
                est.value,
                est.interval,
                est.n,
                {},
                f"cosine distance in {space}",
            )
        )
    return out


def _measured(
    key: str,
    value: float,
    interval: Interval,
    n: int,
    extra: Mapping[str, Any],
    space: str | None = None,
) -> Measured:
    """A measured value named and directed by its declaration (``preservation_metrics``)."""
    metric = BY_KEY[key]
    return Measured(
        metric.label(space), value, interval, metric.direction, n, extra, key
    )


def _csdr_by_category(
    cs_o: torch.Tensor,
    cs_u: torch.Tensor,
    defined: torch.Tensor,
    ids: Sequence[int],
    categories: Sequence[str | None],
    plan: MeasurePlan,
) -> dict[str, dict[str, Any]]:
    """CSDR of each retain class alone: a pooled CSDR under its threshold can hide one damaged class."""
    import torch

    from igmu_audit.metrics.functional.csdr import clip_score_difference_rate

    out: dict[str, dict[str, Any]] = {}
    for category in dict.fromkeys(c for c in categories if c is not None):
        mask = torch.tensor([c == category for c in categories]) & defined
        if not bool(mask.any()):
            continue
        kept = [g for g, m in zip(ids, mask.tolist(), strict=True) if m]
        est = clip_score_difference_rate(
            cs_o[mask], cs_u[mask], confidence=plan.confidence, prompts=kept,
            aggregation=plan.csdr_aggregation,
        )  # fmt: skip
        out[category] = {"n": est.n, "csdr": est.value, "low": est.interval.low,
                         "high": est.interval.high}  # fmt: skip
    return out


def _csdr_defined(
    cs_o: torch.Tensor, groups: Sequence[int], aggregation: str
) -> torch.Tensor:
    """Pairs CSDR can use: the original's score (per prompt: its seed mean) must be > 0."""
    import torch

    if aggregation == "per-image":
        return cs_o > 0
    total: dict[int, float] = {}
    for g, x in zip(groups, cs_o.tolist(), strict=True):
        total[g] = total.get(g, 0.0) + x
    return torch.tensor([total[g] > 0 for g in groups], dtype=torch.bool)


def _fd_interval(
    fo: torch.Tensor,
    fu: torch.Tensor,
    confidence: float,
    groups: Sequence[int] | None,
) -> tuple[float, float, Interval]:
    """FD with its jackknife bias-corrected interval (``frechet_interval``), by prompt."""
    from igmu_audit.metrics.functional.frechet import frechet_interval

    if fo.shape[0] < 4:
        raise ConfigError(
            f"max_fd needs at least 4 image pairs for an interval, got {fo.shape[0]}; "
            "add prompts or seeds"
        )
    return frechet_interval(fo, fu, confidence, clusters=groups)
