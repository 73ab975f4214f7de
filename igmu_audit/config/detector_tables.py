"""``[tool.igmu_audit.detectors.<name>]``: per-detector options, checked when read.

Options for a detector are passed to its factory when an audit resolves it by name; a
misspelt option name or detector name would otherwise be found late or, worse, ignored
(the detector then runs with its default threshold and the gate judges with it).
"""

from __future__ import annotations

import difflib
from typing import Any

from igmu_audit.errors import ConfigError


def check_detector_tables(prefix: str, value: Any) -> None:
    """Raise ``ConfigError`` unless ``value`` is ``{detector: {option: value}}`` it accepts.

    Args:
        prefix: the table header up to ``igmu_audit``, e.g. ``pyproject.toml [tool.igmu_audit``.
        value: the ``detectors`` table as read.
    """
    from igmu_audit.detectors.options import check_options
    from igmu_audit.detectors.profiles import PROFILES
    from igmu_audit.detectors.registry import available_detectors, detector_options

    example = f"{prefix}.detectors.toyworld] threshold = 0.5"
    if not isinstance(value, dict):
        raise ConfigError(
            f"{prefix}] detectors: expected a table of detector tables like "
            f"`{example}` but got {value!r:.60}"
        )
    for name, options in value.items():
        where = f"{prefix}.detectors.{name}]"
        if not isinstance(options, dict):
            raise ConfigError(
                f"{where}: expected a table of options like `{example}` but got {options!r:.60}"
            )
        try:
            detector, accepted = detector_options(name)
        except KeyError:
            known = [*available_detectors(), *PROFILES]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
            if close:
                raise ConfigError(
                    f"{where}: unknown detector {name!r}; did you mean {close[0]!r}? "
                    f"(known: {', '.join(sorted(known))})"
                ) from None
            continue  # registered later (conftest, entry point): checked when resolved
        if accepted is not None:
            check_options(where, detector, options, accepted)
