"""Detector registry: names and profiles to lazy factories.

Importing this module imports no backend: built-in factories import their detector module
on first use, and third-party detectors, declared in the entry-point group
``igmu_audit.detectors``, are discovered on the first lookup and loaded only when their
name is asked for. A third-party package declares one in its ``pyproject.toml``::

    [project.entry-points."igmu_audit.detectors"]
    my-detector = "my_package.detectors:MyDetector"   # any callable(**options) -> Detector

The toy world's detector (``toyworld``) registers the same way: the core names no
provider. ``docs/extending.md`` walks through a complete example.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any

from igmu_audit.detectors.base import Detector
from igmu_audit.detectors.options import (
    Options,
    check_options,
    options_from_callable,
    options_from_source,
)
from igmu_audit.detectors.profiles import PROFILES, DetectorProfile
from igmu_audit.errors import ConfigError
from igmu_audit.providers import (
    describe_entry_point,
    entry_points_of,
    load_entry_point,
)

#: The entry-point group third-party detectors register under.
ENTRY_POINT_GROUP = "igmu_audit.detectors"

DetectorFactory = Callable[..., Detector]


def _lazy(module: str, attribute: str) -> DetectorFactory:
    """A factory that imports ``module`` only when a detector is actually built."""

    def factory(**options: Any) -> Detector:
        cls: DetectorFactory = getattr(importlib.import_module(module), attribute)
        return cls(**options)

    factory.__qualname__ = f"{module}.{attribute}"
    factory.__doc__ = f"Build a `{attribute}` (imports `{module}` on first use)."
    factory.igmu_target = (module, attribute)  # type: ignore[attr-defined]
    return factory


def _options_of(factory: DetectorFactory) -> Options | None:
    """What ``factory`` accepts: a lazy built-in's class read from source, else its signature."""
    target = getattr(factory, "igmu_target", None)
    if target is not None:
        return options_from_source(*target)
    return options_from_callable(factory)


def detector_options(name: str) -> tuple[str, Options | None]:
    """The detector behind ``name`` (a registry or profile name) and the options it takes.

    Used when the configuration is read: built-in detectors are read from source (no
    torch import); a name not known yet (a third-party entry point, or one registered
    later) gives ``None`` and is checked when ``get_detector`` resolves it.

    Raises:
        KeyError: ``name`` is neither a detector nor a profile known now.
    """
    profile = PROFILES.get(name)
    detector = profile.detector if profile is not None else name
    factories = {**_builtins(), **_registered}
    if detector in factories:
        return detector, _options_of(factories[detector])
    ep = _discover_entry_points().get(detector)
    if ep is not None:
        # ``module:Class`` is read from source like a built-in; anything else is
        # checked when ``get_detector`` loads it.
        if ep.attr and "." not in ep.attr:
            try:
                return detector, options_from_source(ep.module, ep.attr)
            except Exception:  # a broken provider: get_detector names it when loading
                return detector, None
        return detector, None
    raise KeyError(name)


_BUILTINS: dict[str, tuple[str, str]] = {
    "clip-head": ("igmu_audit.detectors.clip_head", "CLIPHeadDetector"),
    "clip-zero-shot": ("igmu_audit.detectors.clip_zero_shot", "CLIPZeroShotDetector"),
    "custom": ("igmu_audit.detectors.custom", "CustomDetector"),
    "nudenet": ("igmu_audit.detectors.nudenet", "NudeNetDetector"),
}

_registered: dict[str, DetectorFactory] = {}
_entry_points: dict[str, metadata.EntryPoint] | None = None


def _builtins() -> dict[str, DetectorFactory]:
    """Built-in factories whose module exists, without importing it."""
    return {
        name: _lazy(module, attribute)
        for name, (module, attribute) in _BUILTINS.items()
        if importlib.util.find_spec(module) is not None
    }


def _discover_entry_points() -> dict[str, metadata.EntryPoint]:
    """Read the entry-point group once; clashing names lose to built-ins, with a warning."""
    global _entry_points
    if _entry_points is None:
        found: dict[str, metadata.EntryPoint] = {}
        for ep in entry_points_of(ENTRY_POINT_GROUP).values():
            if ep.name in _BUILTINS or ep.name in PROFILES:
                warnings.warn(
                    f"ignoring entry point {ep.name!r} = {ep.value!r} in group "
                    f"{ENTRY_POINT_GROUP!r}: the name is already taken",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            found[ep.name] = ep
        _entry_points = found
    return _entry_points


def _factories() -> dict[str, DetectorFactory | metadata.EntryPoint]:
    return {**_discover_entry_points(), **_builtins(), **_registered}


def available_detectors() -> tuple[str, ...]:
    """Registry names that ``get_detector`` accepts, sorted (profiles not included).

    Returns:
        Built-in, registered and entry-point detector names.
    """
    return tuple(sorted(_factories()))


def register_detector(
    name: str, factory: DetectorFactory, *, overwrite: bool = False
) -> None:
    """Register a detector factory under ``name``.

    Args:
        name: the registry name, e.g. ``"my-detector"``.
        factory: any callable ``(**options) -> Detector``, typically the detector class.
        overwrite: replace an existing registration instead of raising.

    Raises:
        ConfigError: ``name`` is empty, ``factory`` is not callable, or the name is taken
            (by a detector or a profile) and ``overwrite`` is false.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"`name` must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ConfigError(
            f"`factory` for detector {name!r} must be callable, got {factory!r}"
        )
    if not overwrite and (name in _factories() or name in PROFILES):
        raise ConfigError(
            f"a detector or profile named {name!r} already exists; "
            "pass overwrite=True to replace it"
        )
    _registered[name] = factory


def get_detector(name_or_profile: str | DetectorProfile, **options: Any) -> Detector:
    """Build a detector by registry name or profile.

    A profile (a ``DetectorProfile`` or the name of a shipped one) builds its detector with
    ``profile=<the profile>`` plus ``options``, which override the profile's settings.

    Args:
        name_or_profile: e.g. ``"nudenet"``, ``"nudenet-igmu"`` or a ``DetectorProfile``.
        **options: keyword options for the detector's constructor.

    Returns:
        A detector following the ``Detector`` protocol.

    Raises:
        ConfigError: unknown name (the message lists the known names and the closest
            one), an option the factory does not take or of the wrong type (checked
            before the factory runs), an entry point that fails to load, or a factory
            that returns something that is not a detector.
    """
    if isinstance(name_or_profile, DetectorProfile):
        profile: DetectorProfile | None = name_or_profile
        name = name_or_profile.detector
    elif isinstance(name_or_profile, str):
        profile = PROFILES.get(name_or_profile)
        name = profile.detector if profile is not None else name_or_profile
    else:
        raise ConfigError(
            "`name_or_profile` must be a detector name, a profile name or a DetectorProfile, "
            f"got {type(name_or_profile).__name__}"
        )
    factories = _factories()
    if name not in factories:
        raise ConfigError(_unknown_message(name, factories))
    factory = _resolved(factories[name])
    if profile is not None:
        options = {"profile": profile, **options}
    accepted = _options_of(factory)
    if accepted is not None:
        check_options(f"get_detector({name!r})", name, options, accepted, types=False)
    detector = factory(**options)
    if not isinstance(detector, Detector):
        raise ConfigError(
            f"the factory for detector {name!r} returned a {type(detector).__name__}, which "
            "does not follow the Detector protocol (needs name, threshold, profile, __call__)"
        )
    return detector


def _load_entry_point(ep: metadata.EntryPoint) -> DetectorFactory:
    factory = load_entry_point(ep)
    if not callable(factory):
        raise ConfigError(f"{describe_entry_point(ep)} is not callable")
    loaded: DetectorFactory = factory
    return loaded


def _unknown_message(name: str, factories: dict[str, Any]) -> str:
    known = sorted(factories)
    profiles = sorted(PROFILES)
    close = difflib.get_close_matches(name, known + profiles, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown detector {name!r}.{hint} Known detectors: {', '.join(known)}; "
        f"profiles: {', '.join(profiles)}. Third-party detectors register through the "
        f"entry-point group {ENTRY_POINT_GROUP!r}."
    )


def _resolved(factory: DetectorFactory | metadata.EntryPoint) -> DetectorFactory:
    return (
        _load_entry_point(factory)
        if isinstance(factory, metadata.EntryPoint)
        else factory
    )


def needs_concept(name_or_profile: str) -> bool:
    """Whether detector ``name_or_profile`` must be told the concept it scores.

    Why: a per-concept detector (the toy world's, a user's own) takes a required
    ``concept`` argument; an audit by name passes its concept so the configuration does
    not repeat it. A detector whose ``concept`` has a default (a label) is left alone,
    as is a profile that sets it. Loads a third-party entry point (it is built next).

    Raises:
        ConfigError: an unknown name, or an entry point that fails to load.
    """
    profile = PROFILES.get(name_or_profile)
    if profile is not None and "concept" in profile.options:
        return False
    name = profile.detector if profile is not None else name_or_profile
    factories = _factories()
    if name not in factories:
        raise ConfigError(_unknown_message(name, factories))
    factory = _resolved(factories[name])
    target = getattr(factory, "igmu_target", None)
    if target is not None:
        factory = getattr(importlib.import_module(target[0]), target[1])
    try:
        parameter = inspect.signature(factory).parameters.get("concept")
    except (TypeError, ValueError):
        return False
    return (
        parameter is not None
        and parameter.default is parameter.empty
        and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    )
