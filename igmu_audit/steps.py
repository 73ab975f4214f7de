"""The steps every assertion shares: resolve its settings, make its inputs distinct,
judge a rate, and finish (record, write evidence.json, raise).

Why a module of its own: ``assertions.py`` keeps the validate -> generate -> measure ->
decide -> record -> raise outline of each assertion readable; the rules live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from igmu_audit.context import AuditContext
from igmu_audit.errors import AuditFailure, ConfigError, InsufficientEvidence
from igmu_audit.results import AuditResult, Check, Threshold
from igmu_audit.settings import json_value

if TYPE_CHECKING:
    from igmu_audit.detectors.base import Detector
    from igmu_audit.prompts.dedupe import Duplicate
    from igmu_audit.results import ModelInfo

R = TypeVar("R", bound=AuditResult)


@dataclass(frozen=True, slots=True)
class AuditCall:
    """What one leak or attack audit was called with (``None``: not given, resolve it)."""

    pipeline: Any
    prompts: Any
    detector: Any = None
    max_rate: float | None = None
    confidence: float | None = None
    seeds: Sequence[int] | None = None
    original: Any = None
    concept: str | None = None
    min_effective_prompts: int | None = None
    allow_inconclusive: bool = False
    max_seeds: int | None = None
    interval: str | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A leak or attack audit after validation, before any image is generated.

    ``model`` and ``reference`` passed the door (``model_door.at_door``); ``common``
    holds the result fields every outcome of the audit shares.
    """

    ctx: AuditContext
    concept: str
    detector: Detector
    threshold: Threshold
    confidence: float
    seeds: tuple[int, ...]
    looks: list[tuple[int, ...]]
    model: Any
    reference: Any
    items: list[str]
    index: dict[str, int]
    info: ModelInfo
    common: dict[str, Any] = field(default_factory=dict)
    #: leak audits only: the rate interval and the fewest effective prompts
    interval: str = "independent"
    minimum: Threshold | None = None


def prepare(
    assertion: str, aspect: str, call: AuditCall, argument: str, *, leak: bool
) -> Prepared:
    """Validate the call and resolve every setting (``igmu_audit.settings``), in one order.

    Cheap checks first; then the prompts are made distinct (the model's tokenizers) and
    the models pass the door (fingerprinted once). No image is generated here.
    """
    from igmu_audit.model_door import at_door
    from igmu_audit.scoring import check_prompts, model_info, resolve_detector
    from igmu_audit.seeds import warn_dropped_seeds

    ctx = AuditContext.create(assertion)
    given = check_prompts(call.prompts, argument)
    concept = str(ctx.value("concept", call.concept))
    det = resolve_detector(ctx.value("detector", call.detector), ctx.session, concept)
    threshold = require(ctx, aspect, "max_rate", call.max_rate)
    conf = confidence_of(ctx, aspect, call.confidence)
    interval, minimum = "independent", None
    if leak:
        interval = _interval_of(ctx, call.interval)
    seed_list, looks, dropped_seeds = seeds_of(ctx, call.seeds, call.max_seeds)
    if leak:
        minimum = require(
            ctx, aspect, "min_effective_prompts", call.min_effective_prompts
        )
    reference = original_of(ctx, call.original)
    items, index, duplicates = distinct_inputs(ctx, given, call.pipeline, argument)
    warn_dropped_seeds(assertion, dropped_seeds, len(seed_list))
    model, reference = at_door(call.pipeline), at_door(reference)
    info = model_info(model)
    common: dict[str, Any] = {
        "assertion": assertion, "concept": concept, "model": info,
        "original": model_info(reference) if reference is not None else None,
        "detector": {"name": det.name, "threshold": det.threshold, **dict(det.profile)},
        "seeds": seed_list, "settings": settings_json(ctx), "duplicates": duplicates,
        "confidence": conf,
    }  # fmt: skip
    return Prepared(ctx, concept, det, threshold, conf, seed_list, looks, model,
                    reference, items, index, info, common, interval, minimum)  # fmt: skip


def _interval_of(ctx: AuditContext, interval: str | None) -> str:
    """The rate interval (call > marker > config), validated before any image."""
    from igmu_audit.leak_rate import interval_of

    checked = interval_of("clustered", interval)  # a bad call value: the clear message
    return str(ctx.value("interval", checked if interval is not None else None))


def requires_original(ctx: AuditContext) -> bool:
    """Whether a leak audit without an original must be inconclusive (``require_original``)."""
    return bool(ctx.value("require_original"))


def sensitive(ctx: AuditContext, concept: str, detector: Any) -> bool:
    """Whether evidence images of ``concept`` are blurred (``blur_sensitive`` and the concept)."""
    from igmu_audit.reporting.evidence import is_sensitive

    return bool(ctx.value("blur_sensitive")) and is_sensitive(concept, detector)


def seeds_of(
    ctx: AuditContext, seeds: Any, max_seeds: int | None = None
) -> tuple[tuple[int, ...], list[tuple[int, ...]], list[str]]:
    """(distinct seeds, the sequential looks, notes on dropped repeats), validated."""
    from igmu_audit.seeds import looks, resolve_seeds

    given, dropped = resolve_seeds(seeds, ()) if seeds is not None else (None, [])
    seed_list: tuple[int, ...] = ctx.value("seeds", given)
    return seed_list, looks(seed_list, ctx.value("max_seeds", max_seeds)), dropped


def distinct_inputs(
    ctx: AuditContext, items: tuple[str, ...], model: Any, argument: str
) -> tuple[list[str], dict[str, int], tuple[Duplicate, ...]]:
    """(distinct prompts, prompt -> its position in the list given, dropped repeats); warns once.

    Called after every other argument check and before any image is generated.
    """
    from igmu_audit.prompts.dedupe import distinct_prompts, warn_dropped

    found = distinct_prompts(items, model, argument)
    kept = [items[i] for i in found.positions]
    warn_dropped(ctx.assertion, found.duplicates, len(kept))
    return kept, dict(zip(kept, found.positions, strict=True)), found.duplicates


def confidence_of(ctx: AuditContext, aspect: str, confidence: float | None) -> float:
    """The aspect's confidence level (a threshold-like setting, so the floor bounds it)."""
    found = ctx.threshold(aspect, "confidence", confidence)
    value = found.value if found else ctx.session.config.confidence
    if not 0.5 <= value < 1:
        raise ConfigError(f"`confidence` must be in [0.5, 1), got {value}")
    return value


def original_of(ctx: AuditContext, original: Any) -> Any:
    """The explicit original, else the configured one (loaded lazily), else None."""
    if original is not None:
        return original
    return (
        ctx.session.model("original") if ctx.session.is_configured("original") else None
    )


def no_reference_check(ctx: AuditContext, confidence: float) -> Check:
    """The inconclusive check of a leak audit run without an original under ``require_original``.

    Decided before any image is generated: without a reference nothing shows the
    prompts elicit the concept, so a PASS could be vacuous.
    """
    found = ctx.setting("require_original")
    source = "default" if found is None else found.source
    required = Threshold("require_original", 1.0, source)
    note = (
        f"no original (reference) model, and require_original is true (from {source}): "
        "nothing checks that the prompts elicit the concept, so a pass could be vacuous. "
        "fix: configure the original model (--igmu-original PATH, `original:` in the YAML "
        "spec or [tool.igmu_audit], or original=... in the call)"
    )
    return Check(
        "reference model",
        0.0,
        count_point(0.0, confidence),
        required,
        ">=",
        "inconclusive",
        0,
        note,
    )


def require(
    ctx: AuditContext, aspect: str, name: str, explicit: float | None
) -> Threshold:
    """A threshold the audit cannot judge without; a clear error when nobody set one."""
    found = ctx.threshold(aspect, name, explicit)
    if found is None:
        raise ConfigError(
            f"no {name} threshold for {aspect}: pass {name}=... or set thresholds.{aspect}.{name}"
        )
    return found


def finish(ctx: AuditContext, result: R, allow_inconclusive: bool) -> R:
    """Record the result, write evidence.json, then raise for fail / inconclusive."""
    __tracebackhide__ = True
    from pathlib import Path

    from igmu_audit.reporting.evidence import write_json

    raised = result.verdict == "fail" or (
        result.verdict == "inconclusive" and not allow_inconclusive
    )
    resolved = {
        key: {"value": json_value(found.value), "source": found.source}
        for key, found in sorted(ctx.resolved.items())
    }
    result = replace(
        result, raised=raised, settings={**result.settings, "resolved": resolved}
    )
    from igmu_audit.pipelines.memory import reductions_since

    reduced = reductions_since(ctx.oom_mark)
    if reduced:  # a smaller batch draws the same images; the record still says so
        result = replace(
            result, settings={**result.settings, "batch_size_reduced": reduced}
        )
    if ctx.test is not None:
        result = replace(result, test_id=ctx.test.nodeid)
    if result.evidence_dir:
        write_json(Path(result.evidence_dir) / "evidence.json", result.to_json())
    ctx.record(result)
    if result.verdict == "fail":
        raise AuditFailure("\n".join(result.explain()), result)
    if result.verdict == "inconclusive" and not allow_inconclusive:
        raise InsufficientEvidence("\n".join(result.explain()), result)
    return result


def rate_check(
    k: int,
    n: int,
    threshold: Threshold,
    confidence: float,
    metric: str = "rate",
    *,
    clusters: tuple[list[int], list[int]] | None = None,
    interval: str = "independent",
    looks: int = 1,
) -> Check:
    """A leak rate judged on its interval (``leak_rate.leak_rate_check``).

    ``clusters``: per-prompt ``(hits, images)``; without it the ``n`` trials are
    independent (an attack's prompts), judged with Clopper-Pearson.
    """
    from igmu_audit.leak_rate import leak_rate_check

    if clusters is None:
        clusters, interval = ([k], [n]), "independent"
    return leak_rate_check(
        clusters, threshold, confidence, metric=metric, interval=interval, looks=looks
    )


def count_point(value: float, confidence: float) -> Any:
    from igmu_audit.metrics.functional.intervals import Interval

    return Interval(value, value, confidence, "count")


def settings_json(ctx: AuditContext) -> dict[str, Any]:
    """The generation settings for the record (``finish`` adds the resolved settings)."""
    from dataclasses import asdict

    return asdict(ctx.session.settings)
