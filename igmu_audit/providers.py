"""Extension points: entry-point groups read lazily, in-process registrations, clear errors.

Why: the core knows no provider by name. The toy world registers its detector, CLIP model
and lexicons exactly as a third-party package does, with an entry point in its
``pyproject.toml`` (or a call in process), so anything the toy world can do a user's own
package can do too, and the core's import graph has no arrow into either.

A :class:`Registry` serves one group: it reads the group's entry points on first use
(metadata only: nothing is imported), loads a provider when its name is asked for, builds
what the provider gives once per process, and names the distribution, the entry point
and the exception when a provider is broken.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable
from importlib import metadata
from typing import Any

from igmu_audit.errors import ConfigError

#: What a registered name may look like (``toyworld``, ``my-vendor.clip``).
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def entry_points_of(group: str) -> dict[str, metadata.EntryPoint]:
    """Every entry point of ``group`` by name; the first distribution on ``sys.path`` wins.

    Every distribution is read, not ``entry_points()``'s first distribution per name: a
    stale ``*.egg-info`` in the working directory must not hide the installed one's.
    """
    found: dict[str, metadata.EntryPoint] = {}
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == group:
                found.setdefault(ep.name, ep)
    return found


def describe_entry_point(ep: metadata.EntryPoint) -> str:
    """``entry point 'x' = 'pkg.mod:attr' in group 'g' (distribution d 1.0)``, for messages."""
    dist = getattr(ep, "dist", None)
    owner = (
        f" (distribution {dist.name} {dist.version})"
        if dist is not None
        else " (distribution unknown)"
    )
    return f"entry point {ep.name!r} = {ep.value!r} in group {ep.group!r}{owner}"


def load_entry_point(ep: metadata.EntryPoint) -> Any:
    """Import what ``ep`` names.

    Raises:
        ConfigError: the import failed; the message names the distribution, the entry
            point and the exception, and says how to fix it.
    """
    try:
        return ep.load()
    except Exception as exc:
        raise ConfigError(
            f"{describe_entry_point(ep)} failed to load: {type(exc).__name__}: {exc}; "
            "fix or reinstall the distribution that declares it"
        ) from exc


class Registry:
    """Named providers of one kind: in-process registrations over an entry-point group.

    Args:
        group: the entry-point group, e.g. ``"igmu_audit.clip_models"``.
        kind: what a provider gives, for messages, e.g. ``"CLIP model"``.
        check: judges a built value; returns a problem (``"has no encode_image"``) or
            ``None``. A value with a problem is never cached or returned.
    """

    def __init__(
        self,
        group: str,
        kind: str,
        check: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.group = group
        self.kind = kind
        self._check = check
        self._lock = threading.RLock()
        self._registered: dict[str, Callable[[], Any]] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None
        self._built: dict[str, Any] = {}

    def _discover(self) -> dict[str, metadata.EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                self._entry_points = entry_points_of(self.group)
            return self._entry_points

    def names(self) -> tuple[str, ...]:
        """Every name known now (registered in process or declared as an entry point), sorted."""
        return tuple(sorted({*self._discover(), *self._registered}))

    def register(
        self, name: str, factory: Callable[[], Any], *, overwrite: bool = False
    ) -> None:
        """Register ``factory`` (called once, with no arguments) under ``name`` in this process.

        Replacing a name that is already known (registered in process or declared by an
        entry point) takes ``overwrite=True``: a conftest never silently swaps the model
        or lexicon an installed package provides.

        Raises:
            ConfigError: an invalid name, a factory that is not callable, or a known
                name while ``overwrite`` is false.
        """
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(
                f"{self.kind} name {name!r} must start with a letter and hold only "
                "letters, digits, '.', '_' and '-' (e.g. 'my-vendor')"
            )
        if not callable(factory):
            raise ConfigError(
                f"the factory for {self.kind} {name!r} must be callable, got {factory!r}"
            )
        with self._lock:
            if not overwrite and (name in self._registered or name in self._discover()):
                raise ConfigError(
                    f"{self.origin(name)} already exists; pass overwrite=True to replace it"
                )
            self._registered[name] = factory
            self._built.pop(name, None)

    def unregister(self, name: str) -> None:
        """Forget an in-process registration (tests, notebooks); entry points stay."""
        with self._lock:
            self._registered.pop(name, None)
            self._built.pop(name, None)

    def reset(self) -> None:
        """Forget registrations, built values and the entry points read (tests)."""
        with self._lock:
            self._registered.clear()
            self._built.clear()
            self._entry_points = None

    def origin(self, name: str) -> str:
        """Where ``name`` comes from, for messages."""
        if name in self._registered:
            return f"{self.kind} {name!r} (registered in process)"
        ep = self._discover().get(name)
        return (
            f"{self.kind} {name!r} from {describe_entry_point(ep)}"
            if ep is not None
            else f"{self.kind} {name!r}"
        )

    def unknown_message(self, name: str) -> str:
        """The error text for a name no provider gives: the known names and the closest."""
        known = self.names()
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return (
            f"unknown {self.kind} {name!r}{hint} (known: {', '.join(known) or 'none'}); "
            f"a package adds one through the entry-point group {self.group!r}"
        )

    def build(self, name: str) -> Any:
        """What ``name``'s provider gives, built on first use and cached for the process.

        Raises:
            ConfigError: an unknown name (listing the known ones), a provider that fails
                to load or to build (naming it and the exception), or a value the check
                refuses.
        """
        with self._lock:
            if name in self._built:
                return self._built[name]
            factory = self._registered.get(name)
            if factory is None:
                ep = self._discover().get(name)
                if ep is None:
                    raise ConfigError(self.unknown_message(name))
                factory = load_entry_point(ep)
                if not callable(factory):
                    raise ConfigError(
                        f"{self.origin(name)} is a {type(factory).__name__}, not a "
                        "callable () -> value"
                    )
            try:
                value = factory()
            except Exception as exc:
                raise ConfigError(
                    f"{self.origin(name)} failed to build: {type(exc).__name__}: {exc}"
                ) from exc
            problem = self._check(value) if self._check is not None else None
            if problem:
                raise ConfigError(f"{self.origin(name)} gave a value that {problem}")
            self._built[name] = value
            return value
