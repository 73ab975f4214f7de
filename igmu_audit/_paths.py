"""Where the shipped data lives, in a checkout and in an installed wheel.

The repository keeps shipped data in the top-level ``fixtures/`` folder; the wheel maps
that folder to ``igmu_audit/_fixtures`` (see ``[tool.setuptools.package-dir]``), so code
asks this one function instead of guessing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def fixtures_dir() -> Path:
    """Return the folder of shipped data (prompt splits, lexicons, toy-world weights)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_fixtures", here.parent / "fixtures"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"igmu-audit's shipped data folder is missing (looked in {here / '_fixtures'} and "
        f"{here.parent / 'fixtures'}); reinstall the package"
    )
