"""Range-checked scalar parsers shared by every setting and threshold.

Each parser turns a raw value into a typed one or raises a ``ConfigError`` in the one
format every message uses: ``<where> <key>: expected <range> but got <value>``. Booleans
are never numbers, NaN and infinities are never in range, and strings are parsed only
when ``text`` is true (the command line and ini keys, where everything is text).
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from typing import Any

from igmu_audit.errors import ConfigError

INF = float("inf")
_INT_TEXT = re.compile(r"\s*[+-]?[0-9]{1,30}\s*")


def closest(key: str, accepted: tuple[str, ...] | list[str]) -> str:
    """Return "; did you mean 'x'?" for the nearest accepted key, or ""."""
    match = difflib.get_close_matches(key, list(accepted), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def fail(where: str, key: str, expected: str, value: Any) -> ConfigError:
    """The error every parser raises: source, key, accepted range, given value."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ConfigError(f"{where} {key}: expected {expected} but got {shown}")


def _g(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def number_range(lo: float, hi: float, *, hi_open: bool = False) -> str:
    """``"a number in [0, 1]"``, ``"a number in [0.5, 1)"`` or ``"a finite number >= 0"``."""
    if hi == INF:
        return f"a finite number >= {_g(lo)}"
    return f"a number in [{_g(lo)}, {_g(hi)}{')' if hi_open else ']'}"


def number(
    where: str,
    key: str,
    value: Any,
    bounds: tuple[float, float] = (0.0, INF),
    *,
    hi_open: bool = False,
    text: bool = False,
) -> float:
    """A finite real number within ``bounds`` (upper end excluded when ``hi_open``)."""
    lo, hi = bounds
    expected = number_range(lo, hi, hi_open=hi_open)
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise fail(where, key, expected, value) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(where, key, expected, value)
    as_float = float(value)
    if (
        not math.isfinite(as_float)
        or as_float < lo
        or as_float > hi
        or (hi_open and as_float >= hi)
    ):
        raise fail(where, key, expected, value)
    return as_float


def integer(
    where: str,
    key: str,
    value: Any,
    bounds: tuple[int, int | None] = (1, None),
    *,
    why: str = "",
    text: bool = False,
) -> int:
    """An integer within ``bounds`` (``None`` = no upper bound); floats such as 3.0 are refused.

    Why refuse 3.0: a count written as a float is usually a rate or a typo in the wrong
    key, and YAML/TOML keep the distinction, so the error costs one character to fix.
    ``why`` explains an upper bound in the message.
    """
    lo, hi = bounds
    expected = (
        f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
    )
    expected += f" ({why})" if why else ""
    if text and isinstance(value, str) and _INT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(where, key, expected, value)
    checked = int(value)
    if checked < lo or (hi is not None and checked > hi):
        raise fail(where, key, expected, value)
    return checked


def boolean(where: str, key: str, value: Any) -> bool:
    """``true``/``false``; the strings true/1/yes and false/0/no also (command line, ini)."""
    if isinstance(value, str) and value.lower() in {
        "true",
        "1",
        "yes",
        "false",
        "0",
        "no",
    }:
        return value.lower() in {"true", "1", "yes"}
    if not isinstance(value, bool):
        raise fail(where, key, "true or false", value)
    return value


def string(where: str, key: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise fail(where, key, "a non-empty string", value)
    return value
