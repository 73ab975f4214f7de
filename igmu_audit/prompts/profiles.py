"""Hypothesis settings profiles for audits: ``igmu-ci`` (derandomised) and ``igmu-dev``.

The pytest plugin calls ``load_profile()``: ``igmu-ci`` whenever the ``CI`` environment
variable is set (or ``--igmu-profile ci``), so CI runs draw the same prompts every time and
never replay a stale example database. ``chosen_profile`` is the one rule for which.
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


def chosen_profile(
    igmu_profile: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The Hypothesis profile an audit runs under, or ``None`` to leave Hypothesis alone.

    The one rule (the pytest plugin and ``profile_for_environment`` both use it): the
    igmu settings profile ``ci`` / ``igmu-ci`` picks ``igmu-ci``, ``dev`` / ``igmu-dev``
    picks ``igmu-dev``; without a settings profile, a set ``CI`` variable picks
    ``igmu-ci``; any other settings profile leaves Hypothesis' own choice.
    """
    if igmu_profile in {"ci", CI_PROFILE}:
        return CI_PROFILE
    if igmu_profile in {"dev", DEV_PROFILE}:
        return DEV_PROFILE
    env = os.environ if environ is None else environ
    return CI_PROFILE if igmu_profile is None and env.get("CI") else None


def profile_for_environment(environ: Mapping[str, str] | None = None) -> str:
    """``"igmu-ci"`` when the ``CI`` variable is set (and not empty), else ``"igmu-dev"``."""
    return chosen_profile(None, environ) or DEV_PROFILE


def load_profile(
    igmu_profile: str | None,
    *,
    hypothesis_profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Register the profiles and load ``chosen_profile``'s; returns the one loaded.

    A profile the user chose for Hypothesis itself (``--hypothesis-profile``) wins:
    nothing is loaded then, and Hypothesis is not even imported when no profile applies.
    """
    wanted = chosen_profile(igmu_profile, environ)
    if wanted is None or hypothesis_profile:
        return None
    from hypothesis import settings

    register_profiles()
    settings.load_profile(wanted)
    return wanted
