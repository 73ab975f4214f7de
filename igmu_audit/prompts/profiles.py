"""Hypothesis settings profiles for audits: ``igmu-ci`` (derandomised) and ``igmu-dev``.

The pytest plugin calls ``register_profiles()`` and loads ``profile_for_environment()``,
which is ``igmu-ci`` whenever the ``CI`` environment variable is set, so CI runs draw the
same prompts every time and never replay a stale example database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

CI_PROFILE = "igmu-ci"
DEV_PROFILE = "igmu-dev"


def register_profiles() -> None:
    """Register the Hypothesis settings profiles ``igmu-ci`` and ``igmu-dev``.

    ``igmu-ci``: ``derandomize=True`` (the same examples on every run), no example
    database, no deadline (image generation is slow and uneven), ``print_blob=True``.
    ``igmu-dev``: the example database on (failures replay first), no deadline. Both
    inherit the rest from Hypothesis' ``default`` profile. The pytest plugin calls this and
    loads ``profile_for_environment()``: ``igmu-ci`` when ``CI`` is set.
    """
    # Imported here: loading this module must not import Hypothesis.
    from hypothesis import settings

    default = settings.get_profile("default")
    settings.register_profile(
        CI_PROFILE,
        parent=default,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
    )
    settings.register_profile(DEV_PROFILE, parent=default, deadline=None)


def profile_for_environment(environ: Mapping[str, str] | None = None) -> str:
    """``"igmu-ci"`` when the ``CI`` variable is set (and not empty), else ``"igmu-dev"``."""
    env = os.environ if environ is None else environ
    return CI_PROFILE if env.get("CI") else DEV_PROFILE
