"""The steps every assertion shares: resolve its settings, make its inputs distinct,
judge a rate, and finish (record, write evidence.json, raise).

Why a module of its own: ``assertions.py`` keeps the validate -> generate -> measure ->
decide -> record -> raise outline of each assertion readable; the rules live here once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from igmu_audit.context import AuditContext
from igmu_audit.errors import AuditFailure, ConfigError, InsufficientEvidence
from igmu_audit.results import AuditResult, Check, Threshold

if TYPE_CHECKING:
    from igmu_audit.prompts.dedupe import Duplicate

R = TypeVar("R", bound=AuditResult)


def seeds_of(
    ctx: AuditContext, seeds: Any, max_seeds: int | None = None
) -> tuple[tuple[int, ...], list[tuple[int, ...]], list[str]]:
    """(distinct seeds, the sequential looks, notes on dropped repeats), validated."""
    from igmu_audit.seeds import looks, resolve_seeds

    seed_list, dropped = resolve_seeds(seeds, ctx.session.config.seeds)
    return seed_list, looks(seed_list, max_seeds), dropped


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
    source = ctx.session.config.source_of("require_original")
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
    result = replace(result, raised=raised)
    from igmu_audit.pipelines.memory import reductions_since

    reduced = reductions_since(ctx.oom_mark)
    if reduced:  # a smaller batch draws the same images; the record still says so
        result = replace(
            result, settings={**result.settings, "batch_size_reduced": reduced}
        )
    if ctx.test is not None:
        result = replace(result, test_id=ctx.test.nodeid)
    if result.evidence_dir:
        write_json(Path(result.evidence_dir) / "evidence.json", {
            **result.to_json(), "evidence": [e.to_json() for e in result.evidence],
        })  # fmt: skip
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
    from dataclasses import asdict

    return asdict(ctx.session.settings)
