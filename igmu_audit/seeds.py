"""The seeds of one assertion: validated, de-duplicated, and grown for sequential looks.

Why de-duplicated: ``seeds=[0, 0, 1]`` draws two distinct images per prompt, not three;
an audit that counted the copy would claim evidence it never collected.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from igmu_audit.errors import ConfigError, DuplicatePromptsWarning


def resolve_seeds(
    given: Any, default: tuple[int, ...]
) -> tuple[tuple[int, ...], list[str]]:
    """(distinct seeds, one note per dropped repeat); ``default`` when ``given`` is None."""
    from igmu_audit.config.parsers import parse_seeds

    if given is None:
        return default, []
    if isinstance(given, (Mapping, bytes, bytearray, set)):
        raise ConfigError(
            f"`seeds` must be a list of seeds like [0, 1, 2] or range(4), got {type(given).__name__}"
        )
    if not isinstance(given, (int, str)):
        try:
            given = list(given)
        except TypeError:
            raise ConfigError(
                f"`seeds` must be a list of seeds like [0, 1, 2] or range(4), got {type(given).__name__}"
            ) from None
        except Exception as exc:
            raise ConfigError(
                f"`seeds` could not be read: iterating it raised {type(exc).__name__}: {exc}"
            ) from exc
    dropped: list[str] = []
    if isinstance(given, list):
        given, dropped = _first_of_each(given)
    return parse_seeds("argument", "seeds", given), dropped


def _first_of_each(values: list[Any]) -> tuple[list[Any], list[str]]:
    """Drop repeated integer seeds; anything else is left for parse_seeds to reject."""
    seen: dict[int, int] = {}
    kept, dropped = [], []
    for i, value in enumerate(values):
        if type(value) is int and value in seen:
            dropped.append(f"`seeds[{i}]` {value} repeats `seeds[{seen[value]}]`")
            continue
        if type(value) is int:
            seen[value] = i
        kept.append(value)
    return kept, dropped


def warn_dropped_seeds(assertion: str, dropped: Sequence[str], kept: int) -> None:
    """One ``DuplicatePromptsWarning`` for repeated seeds (they draw the same images)."""
    from igmu_audit.prompts.dedupe import SHOWN, user_stacklevel

    if not dropped:
        return
    more = f"; and {len(dropped) - SHOWN} more" if len(dropped) > SHOWN else ""
    warnings.warn(
        f"{assertion}: dropped {len(dropped)} duplicate seed(s) before generation, kept {kept} "
        f"distinct (n counts distinct images only): {'; '.join(dropped[:SHOWN])}{more}. "
        "fix: remove the repeats",
        DuplicatePromptsWarning,
        stacklevel=user_stacklevel(),
    )


def looks(seeds: tuple[int, ...], max_seeds: int | None) -> list[tuple[int, ...]]:
    """The seed lists of a group-sequential audit: the given seeds, then doubled up to ``max_seeds``.

    Added seeds are the next unused non-negative integers, so a re-run looks at the same
    images (and finds them in the cache).
    """
    if max_seeds is None:
        return [seeds]
    if (
        isinstance(max_seeds, bool)
        or not isinstance(max_seeds, int)
        or max_seeds < len(seeds)
    ):
        raise ConfigError(
            f"`max_seeds` must be an integer >= the {len(seeds)} seeds given, got {max_seeds!r}"
        )
    pool = list(seeds)
    candidate = max(seeds) + 1
    out = [seeds]
    while len(pool) < max_seeds:
        target = min(2 * len(pool), max_seeds)
        while len(pool) < target:
            if candidate not in pool:
                pool.append(candidate)
            candidate += 1
        out.append(tuple(pool))
    return out
