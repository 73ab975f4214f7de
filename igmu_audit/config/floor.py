"""The gate floor: the loosest thresholds a release owner lets any test or config use.

Set in the YAML spec (``floor: {forgotten: {max_rate: 0.05}}``) or pyproject
(``[tool.igmu_audit.floor] forgotten = { max_rate = 0.05 }``), same shape as
``thresholds:``. When both set one key the stricter floor holds: each is a demand, and
one owner must not be able to loosen the other's. A configured threshold looser than
the floor is refused when the configuration is read; a call argument or marker when the
assertion resolves it (``AuditContext.threshold``). Where nobody chose a value (built-in
defaults, the default confidence) a stricter floor simply replaces it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from igmu_audit.config.thresholds import (
    floor_error,
    looser,
    parse_thresholds,
    stricter_of,
)

Table = dict[str, dict[str, float]]


def merge_floor(
    floor: Table, sources: dict[str, str], where: str, raw: Any
) -> tuple[Table, dict[str, str]]:
    """``floor`` with the floor ``raw`` from source ``where`` added, keeping the stricter value."""
    parsed = parse_thresholds(where, "floor", raw)
    out = {aspect: dict(table) for aspect, table in floor.items()}
    out_sources = dict(sources)
    for aspect, table in parsed.items():
        for name, value in table.items():
            key = f"{aspect}.{name}"
            current = out.get(aspect, {}).get(name)
            if current is None or stricter_of(name, value, current) != current:
                out.setdefault(aspect, {})[name] = value
                out_sources[key] = f"{where} floor.{key}"
    return out, out_sources


def check_against_floor(
    floor: Table,
    floor_sources: Mapping[str, str],
    tables: Mapping[str, Table],
) -> None:
    """Raise ``ConfigError`` for the first configured threshold looser than the floor.

    Args:
        floor: aspect -> name -> the floor value.
        floor_sources: ``"aspect.name"`` -> where that floor value was set.
        tables: how a source names its keys -> the thresholds it configures, e.g.
            ``{"s.yaml thresholds.": {...}, "pyproject.toml [tool.igmu_audit.profiles.style] ": {...}}``.
    """
    for label, table in tables.items():
        for aspect, values in table.items():
            for name, value in values.items():
                bound = floor.get(aspect, {}).get(name)
                if bound is not None and looser(name, value, bound):
                    raise floor_error(
                        name,
                        value,
                        f"{label}{aspect}.{name}",
                        bound,
                        floor_sources[f"{aspect}.{name}"],
                    )


def check_confidence(
    floor: Table, floor_sources: Mapping[str, str], value: float, source: str
) -> None:
    """A configured top-level ``confidence`` must not be below any aspect's floor."""
    for aspect, values in floor.items():
        bound = values.get("confidence")
        if bound is not None and looser("confidence", value, bound):
            raise floor_error(
                "confidence",
                value,
                source,
                bound,
                floor_sources[f"{aspect}.confidence"],
            )
