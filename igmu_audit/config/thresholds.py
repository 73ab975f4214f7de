"""What each threshold accepts, which way is stricter, and the gate floor rule.

Rates, drops and accuracies are shares in [0, 1]; KID, Fréchet and perceptual distances
are finite and >= 0 (their scale depends on the feature space); ``confidence`` is in
[0.5, 1); ``min_effective_prompts`` is a positive integer. A ``max_*`` is looser when
larger; a ``min_*`` or ``confidence`` is looser when smaller.

A gate floor (``floor:`` in the YAML spec, ``[tool.igmu_audit.floor]`` in pyproject,
same shape as ``thresholds:``) is the loosest value the release owner allows: a looser
value from anywhere else is a ``ConfigError`` naming both, a stricter one applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from igmu_audit.config.values import closest, fail, integer, number
from igmu_audit.errors import ConfigError
from igmu_audit.preservation_metrics import KEYS as PRESERVED_KEYS
from igmu_audit.preservation_metrics import METRICS

ASPECTS = ("forgotten", "preserved", "robust_to")
#: threshold keys each aspect accepts (assertion keyword arguments of the same names)
THRESHOLD_KEYS: dict[str, tuple[str, ...]] = {
    "forgotten": ("max_rate", "confidence", "min_effective_prompts"),
    "preserved": (*PRESERVED_KEYS, "confidence"),
    "robust_to": ("max_rate", "confidence", "min_effective_prompts"),
}
#: most prompts an audit can need (the same bound as the seed count)
MAX_PROMPTS = 100_000


def _share(where: str, key: str, value: Any) -> float:
    return number(where, key, value, (0.0, 1.0))


def _distance(where: str, key: str, value: Any) -> float:
    return number(where, key, value)


def _confidence(where: str, key: str, value: Any) -> float:
    return number(where, key, value, (0.5, 1.0), hi_open=True)


def _count(where: str, key: str, value: Any) -> int:
    return integer(where, key, value, (1, MAX_PROMPTS))


CHECKS: dict[str, Callable[[str, str, Any], float]] = {
    "max_rate": _share,
    **{m.key: _share if m.share else _distance for m in METRICS},
    "confidence": _confidence,
    "min_effective_prompts": _count,
}


def check_threshold(
    where: str, name: str, value: Any, *, key: str | None = None
) -> float:
    """``value`` range-checked for threshold ``name``; strings are refused (no text source).

    ``key`` is how the message names it (``thresholds.forgotten.max_rate``), default ``name``.
    """
    check = CHECKS.get(name)
    if check is None:
        accepted = sorted(CHECKS)
        raise ConfigError(
            f"{where} {name}: unknown threshold{closest(name, accepted)} "
            f"(accepted: {', '.join(accepted)})"
        )
    return check(where, key or name, value)


def parse_thresholds(where: str, key: str, value: Any) -> dict[str, dict[str, float]]:
    """``{aspect: {threshold: number}}`` with aspects, names and ranges checked."""
    if not isinstance(value, Mapping):
        raise fail(
            where, key, f"a mapping of {', '.join(ASPECTS)} to thresholds", value
        )
    out: dict[str, dict[str, float]] = {}
    prefix = f"{key}." if key else ""
    for aspect, table in value.items():
        if aspect not in THRESHOLD_KEYS:
            raise ConfigError(
                f"{where} {prefix}{aspect}: unknown aspect{closest(str(aspect), ASPECTS)} "
                f"(accepted: {', '.join(ASPECTS)})"
            )
        if not isinstance(table, Mapping):
            raise fail(
                where, f"{prefix}{aspect}", "a mapping like {max_rate: 0.05}", table
            )
        accepted = THRESHOLD_KEYS[aspect]
        parsed: dict[str, float] = {}
        for name, raw in table.items():
            if name not in accepted:
                raise ConfigError(
                    f"{where} {prefix}{aspect}.{name}: unknown key{closest(str(name), accepted)} "
                    f"(accepted: {', '.join(accepted)})"
                )
            label = f"{prefix}{aspect}.{name}"
            parsed[name] = check_threshold(where, name, raw, key=label)
        out[aspect] = parsed
    return out


def higher_is_stricter(name: str) -> bool:
    """``min_*`` and ``confidence`` demand more when larger; ``max_*`` when smaller."""
    return name.startswith("min_") or name == "confidence"


def looser(name: str, value: float, floor: float) -> bool:
    """Whether ``value`` demands less than the gate ``floor`` for threshold ``name``."""
    return value < floor if higher_is_stricter(name) else value > floor


def stricter_of(name: str, a: float, b: float) -> float:
    """The value of ``a`` and ``b`` that demands more."""
    return b if looser(name, a, b) else a


def floor_error(
    name: str, value: float, source: str, floor: float, floor_source: str
) -> ConfigError:
    """The one message for a value looser than the floor, naming both sources."""
    way = "smaller" if higher_is_stricter(name) else "larger"
    return ConfigError(
        f"{name}={value:g} from {source} is looser than the gate floor {floor:g} from "
        f"{floor_source} (a {way} value demands less); use {floor:g} or a stricter value, "
        "or ask the release owner to change the floor"
    )
